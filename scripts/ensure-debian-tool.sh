#!/usr/bin/env bash
# Makes sure a Debian tool a test or bench drives is installed, e.g.
#   scripts/ensure-debian-tool.sh tshark tshark
#   scripts/ensure-debian-tool.sh haproxy haproxy
#   scripts/ensure-debian-tool.sh /usr/lib/nginx/modules/ngx_stream_module.so libnginx-mod-stream
# The first argument is a command name or an absolute path that must exist; the second the
# Debian package providing it. Installs it with apt-get when missing (root or sudo needed; CI
# runs as root), waiting up to 5 minutes for another apt-get to release the dpkg lock. Prints
# the path on success; exits non-zero with the reason otherwise, so a test can print why it
# skips. tshark is installed without its setuid dumpcap (no debconf question).
set -euo pipefail

WANT="$1"
PACKAGE="$2"

found() {
  if [[ "$WANT" == /* ]]; then [ -e "$WANT" ] && echo "$WANT"; else command -v "$WANT"; fi
}

if found; then exit 0; fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure-debian-tool: $WANT is missing and this user cannot install packages (not root, no sudo)" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
APT=(apt-get -o DPkg::Lock::Timeout=300)
# The package lists may be missing or stale on a fresh machine: install, and on failure update once and retry.
if ! $SUDO "${APT[@]}" install -y --no-install-recommends "$PACKAGE" >&2; then
  $SUDO "${APT[@]}" update >&2
  $SUDO "${APT[@]}" install -y --no-install-recommends "$PACKAGE" >&2
fi

if ! found; then
  echo "ensure-debian-tool: apt-get installed $PACKAGE but $WANT is not there" >&2
  exit 1
fi
