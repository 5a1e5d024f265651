#!/usr/bin/env bash
# Build Ferry's container image with podman and run it on this machine.
#
#   deploy/image.sh check    exit 0 if podman can build and run here, else print why and exit 3
#   deploy/image.sh base     make the local Node 24 base (localhost/ferry-base:24) unless it exists
#   deploy/image.sh build    base, then build deploy/Dockerfile as $FERRY_IMAGE
#   deploy/image.sh size     print the built image's size in bytes
#   deploy/image.sh run ARGS podman run the image with the flags that work here (read-only root, tmpfs /tmp)
#
# Why a local base: these machines reach Debian's packages and the npm registry but no
# container registry, so `FROM node:24-slim` cannot be pulled. The base is a debootstrap'ed
# Debian bookworm with the real Node 24 binary of node_modules/node (the project's own Node)
# and npm, imported into podman. Users build with the default `BASE=node:24-slim` instead.
# Environment:
#   FERRY_IMAGE  image to build and run (default localhost/ferry:dev)
#   FERRY_BASE   base image for the build (default localhost/ferry-base:24, made by `base`);
#                any other value is passed as is (e.g. docker.io/library/node:24.11-bookworm-slim)
#   FERRY_ROOTFS_DIR where `base` keeps its root filesystem (default /var/tmp/ferry-base-rootfs)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${FERRY_IMAGE:-localhost/ferry:dev}"
LOCAL_BASE="localhost/ferry-base:24"
BASE="${FERRY_BASE:-$LOCAL_BASE}"
ROOTFS="${FERRY_ROOTFS_DIR:-/var/tmp/ferry-base-rootfs}"
CONF_DIR="${TMPDIR:-/tmp}/ferry-podman"
mkdir -p "$CONF_DIR"
# podman's default ulimits set RLIMIT_NPROC, which these machines refuse.
printf '[containers]\ndefault_ulimits = []\n' >"$CONF_DIR/containers.conf"
export CONTAINERS_CONF="$CONF_DIR/containers.conf"
# crun refuses the hybrid cgroup mode here; runc with cgroupfs works.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)

check() {
  if ! command -v podman >/dev/null 2>&1; then
    echo "no container engine: podman is not installed (apt-get install -y podman runc debootstrap)"
    return 3
  fi
  if ! command -v runc >/dev/null 2>&1; then
    echo "no container engine: runc is not installed (apt-get install -y runc)"
    return 3
  fi
  if ! out="$("${PODMAN[@]}" info 2>&1)"; then
    echo "no container engine: podman info failed: $(printf '%s' "$out" | tail -n 1)"
    return 3
  fi
  if [ "$BASE" = "$LOCAL_BASE" ] && ! "${PODMAN[@]}" image exists "$LOCAL_BASE" &&
    ! command -v debootstrap >/dev/null 2>&1; then
    echo "no base image: $LOCAL_BASE is missing and debootstrap is not installed to make it"
    return 3
  fi
  return 0
}

debian_mirror() {
  # The Debian URI apt itself uses here (deb822 or one-line sources).
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)"
  if [ -z "$uri" ]; then
    uri="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)"
  fi
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

base() {
  if [ "$BASE" != "$LOCAL_BASE" ]; then
    echo "base: using $BASE as given"
    return 0
  fi
  if "${PODMAN[@]}" image exists "$LOCAL_BASE"; then
    echo "base: $LOCAL_BASE exists"
    return 0
  fi
  local node_bin npm_dir
  node_bin="$(readlink -f "$REPO/node_modules/.bin/node")"
  "$node_bin" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' ||
    { echo "base: $node_bin is not Node 24 (run npm ci first)"; return 1; }
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  [ -f "$npm_dir/bin/npm-cli.js" ] || { echo "base: cannot find npm's folder (got $npm_dir)"; return 1; }
  if [ ! -x "$ROOTFS/bin/sh" ]; then
    rm -rf "$ROOTFS"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$ROOTFS" "$(debian_mirror)"
  fi
  install -D -m 0755 "$node_bin" "$ROOTFS/usr/local/bin/node"
  rm -rf "$ROOTFS/usr/local/lib/node_modules/npm"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$ROOTFS/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb "$ROOTFS/var/lib/apt/lists/"*
  tar -C "$ROOTFS" -cf "$CONF_DIR/base.tar" .
  "${PODMAN[@]}" import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$CONF_DIR/base.tar" "$LOCAL_BASE"
  rm -f "$CONF_DIR/base.tar"
  "${PODMAN[@]}" run --rm --ulimit host --network=host "$LOCAL_BASE" /usr/local/bin/node -v
}

build() {
  base
  # npm in the build stage trusts this machine's CA bundle (it may sit behind a TLS-inspecting proxy).
  local ca_mount=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    ca_mount=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
  "${PODMAN[@]}" build --isolation chroot --network=host "${ca_mount[@]}" \
    --build-arg "BASE=$BASE" -f "$REPO/deploy/Dockerfile" -t "$IMAGE" "$REPO"
}

size() {
  "${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE"
}

run() {
  # The Kubernetes example's constraints: read-only root, writable /tmp only, no capabilities.
  exec "${PODMAN[@]}" run --rm --ulimit host --network=host --read-only --tmpfs /tmp \
    --cap-drop=ALL --security-opt=no-new-privileges "$@"
}

command="${1:-}"
shift || true
case "$command" in
check) check ;;
base) check && base ;;
build) check && build ;;
size) size ;;
run) run "$@" ;;
podman) exec "${PODMAN[@]}" "$@" ;;
*)
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
