#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed at /usr/bin/chromium, for the status-page
# browser test (test/integration/status-page.test.ts) and for anyone who wants to look at
# the page headless. Installs it with apt-get when missing (root or sudo needed; CI runs as
# root). Prints the path on success; exits non-zero with the reason otherwise, so the test
# fails loudly instead of skipping.
set -euo pipefail

CHROMIUM_PATH=/usr/bin/chromium

if [ -x "$CHROMIUM_PATH" ]; then
  echo "$CHROMIUM_PATH"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure-chromium: $CHROMIUM_PATH is missing and this user cannot install packages (not root, no sudo)" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: install, and on failure update once and retry.
if ! $SUDO apt-get install -y --no-install-recommends chromium >&2; then
  $SUDO apt-get update >&2
  $SUDO apt-get install -y --no-install-recommends chromium >&2
fi

if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "ensure-chromium: apt-get finished but $CHROMIUM_PATH is not there" >&2
  exit 1
fi
echo "$CHROMIUM_PATH"
