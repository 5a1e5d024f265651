#!/usr/bin/env bash
# Takes docs/status-page.png (the README's and docs/observability.md's screenshot) from the real
# demo: `ferry` with no --config (the embedded default: listener 127.0.0.1:8080, admin
# 127.0.0.1:9901, control 127.0.0.1:9900, three demo targets), ~20 s of traffic, one target
# deregistered through ferryctl so the timeline shows it, then Debian's Chromium headless.
# Run it from the repo root: bash scripts/status-page-screenshot.sh [out.png]
# Needs the ports above free; installs Chromium with scripts/ensure-chromium.sh when missing.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT="${1:-docs/status-page.png}"
TRAFFIC_S="${TRAFFIC_S:-20}"
NODE="${NODE:-node_modules/.bin/node}"
[ -x "$NODE" ] || NODE=node
CHROMIUM="$(bash scripts/ensure-chromium.sh | tail -n 1)"

for port in 8080 9900 9901 18081 18082 18083; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "status-page-screenshot: port $port is in use; the demo needs it" >&2
    exit 1
  fi
done

LOG="$(mktemp)"
"$NODE" src/cli/ferry.ts >"$LOG" 2>&1 &
FERRY_PID=$!
trap 'kill "$FERRY_PID" 2>/dev/null || true; wait "$FERRY_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT

for _ in $(seq 1 100); do
  grep -q '"ferry is ready"' "$LOG" && break
  sleep 0.2
done
grep -q '"ferry is ready"' "$LOG" || { echo "status-page-screenshot: ferry did not start:" >&2; cat "$LOG" >&2; exit 1; }

# Traffic for the charts: a few requests per second, bounded in count and time.
end=$((SECONDS + TRAFFIC_S))
i=0
while [ "$SECONDS" -lt "$end" ]; do
  curl -s -o /dev/null "http://127.0.0.1:8080/demo/$i" || true
  i=$((i + 1))
  [ $((i % 8)) -eq 0 ] && sleep 0.3
  if [ "$i" -eq 60 ]; then
    # A deregistration for the timeline (the demo target drains, then leaves the group).
    "$NODE" src/cli/ferryctl.ts deregister demo 127.0.0.1:18083 --no-wait >/dev/null
  fi
done

"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --virtual-time-budget=3000 --window-size=1280,1000 \
  --screenshot="$OUT" "http://127.0.0.1:9901/" 2>/dev/null
echo "status-page-screenshot: wrote $OUT"
