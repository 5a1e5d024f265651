#!/usr/bin/env bash
# Makes sure Debian's dnsmasq is installed, for the DNS discovery tests
# (test/integration/dns-discovery.test.ts and test/helpers/dnsmasq.ts), which start it on a
# loopback port with a config and hosts file each test writes. Installs it with apt-get when
# missing (root or sudo needed; CI runs as root) and never starts the system service.
# Prints the binary's path on success; exits non-zero with the reason otherwise, which the
# tests print when they skip.
set -euo pipefail

for candidate in /usr/sbin/dnsmasq /usr/bin/dnsmasq; do
  if [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-dnsmasq: dnsmasq is missing and this user cannot install packages (not root, no sudo)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-dnsmasq: dnsmasq is missing and apt-get is not available on this machine" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# dnsmasq-base is the binary alone: the `dnsmasq` package would also enable a system service
# on port 53, which tests neither need nor want. Install, and on failure update once and retry.
if ! $SUDO apt-get install -y --no-install-recommends dnsmasq-base >&2; then
  $SUDO apt-get update >&2
  $SUDO apt-get install -y --no-install-recommends dnsmasq-base >&2
fi

for candidate in /usr/sbin/dnsmasq /usr/bin/dnsmasq; do
  if [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done
echo "ensure-dnsmasq: apt-get finished but no dnsmasq binary is there" >&2
exit 1
