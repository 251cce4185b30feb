#!/usr/bin/env bash
# Interop: independent WebSocket clients (Python `websockets`, the `autobahn`
# asyncio client, Node `ws`) against `examples/echo`, with and without
# permessage-deflate: text and binary from 0 B to 16 MiB, whole and
# fragmented, closes in both directions (echoed client codes, 1009 from the
# server over the 16 MiB limit).
set -euo pipefail
cd "$(dirname "$0")/.."

interop=tests/interop
python3 -m pip install --quiet --disable-pip-version-check -r "$interop/requirements.txt"
if [ ! -d "$interop/node_modules/ws" ]; then
    (cd "$interop" && npm install --silent --no-audit --no-fund)
fi

cargo build --release --example echo
target_dir="${CARGO_TARGET_DIR:-target}"
log=$(mktemp)
"$target_dir/release/examples/echo" 127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT

# The echo prints its address once bound.
url=""
for _ in $(seq 1 100); do
    url=$(grep -o 'ws://[0-9.:]*/' "$log" || true)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "echo server did not start:"; cat "$log"; exit 1; }
echo "echo server at $url"

status=0
python3 "$interop/python_client.py" "$url" || status=1
python3 "$interop/autobahn_client.py" "$url" || status=1
node "$interop/node_client.mjs" "$url" || status=1
exit $status
