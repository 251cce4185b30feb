#!/usr/bin/env bash
# The benchmark of issue 9: every scenario against every echo server, the
# server pinned to core 0 and the load generator to core 1, servers
# alternating round by round (A B C A B C ...), medians printed as a
# Markdown table and written to target/bench/results.md.
#
#   bench/run.sh
#   SCENARIOS=a,b SERVERS=lariat,sockudo ROUNDS=3 SECS=5 bench/run.sh
#
# Environment:
#   SCENARIOS  comma-separated subset of a,b,c,d,e,f,g       (default: all)
#   SERVERS    comma-separated subset of lariat,sockudo,tungstenite,
#              fastwebsockets,node,raw_tcp                  (default: all)
#   ROUNDS     rounds per scenario; the table shows medians   (default: 3)
#   SECS       measured seconds per round                     (default: 5)
#   WARMUP     unmeasured seconds before each measurement     (default: 1)
#   SERVER_CPU / LOADGEN_CPU  the cores to pin to              (default: 0 / 1)
#
# Servers that do not support a scenario are left out of it: raw TCP runs a
# and b only; tokio-tungstenite and fastwebsockets have no
# permessage-deflate, so no g.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SCENARIOS=${SCENARIOS:-a,b,c,d,e,f,g}
SERVERS=${SERVERS:-lariat,sockudo,tungstenite,fastwebsockets,node,raw_tcp}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}

OUT=$ROOT/target/bench
BIN=$ROOT/target/release
mkdir -p "$OUT"
RAW=$OUT/raw.txt
: >"$RAW"

# 10,000 idle connections need 10,000 descriptors in each process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 10100 ]; then
    echo "warning: ulimit -n is $(ulimit -n); scenario f needs more than 10,000" >&2
fi

if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_LOADGEN=(taskset -c "$LOADGEN_CPU")
else
    echo "warning: taskset or a second core missing: running unpinned" >&2
    PIN_SERVER=()
    PIN_LOADGEN=()
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

echo "== building (release)" >&2
cargo build --release -p bench --bins >&2

IFS=, read -r -a scenario_list <<<"$SCENARIOS"
IFS=, read -r -a server_list <<<"$SERVERS"

have_node=0
for s in "${server_list[@]}"; do
    if [ "$s" = node ]; then
        if command -v node >/dev/null && command -v npm >/dev/null; then
            echo "== npm ci (bench/node)" >&2
            if (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >&2); then
                have_node=1
            else
                echo "npm ci failed: skipping Node ws" >&2
            fi
        else
            echo "node or npm not found: skipping Node ws" >&2
        fi
    fi
done

# shellcheck source=bench/servers.sh
source "$ROOT/bench/servers.sh"

SERVER_PID=
SERVER_ADDR=
start_server() { # name -> sets SERVER_PID and SERVER_ADDR
    local name=$1 log=$OUT/server_$1.out
    : >"$log"
    if [ "$name" = node ]; then
        (cd bench/node && exec "${PIN_SERVER[@]}" node server_ws.mjs 127.0.0.1:0) \
            >"$log" 2>>"$OUT/server_$name.err" &
    else
        "${PIN_SERVER[@]}" "$BIN/server_$name" 127.0.0.1:0 >"$log" 2>>"$OUT/server_$name.err" &
    fi
    SERVER_PID=$!
    SERVER_ADDR=
    for _ in $(seq 1 200); do
        SERVER_ADDR=$(awk '/^listening /{print $2; exit}' "$log")
        [ -n "$SERVER_ADDR" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "server $name did not start; see $OUT/server_$name.err" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

for scenario in "${scenario_list[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
        for server in "${server_list[@]}"; do
            supports "$server" "$scenario" || continue
            tag="server=$server round=$round"
            if ! start_server "$server"; then
                echo "$tag scenario=$scenario failed=1 reason=server_did_not_start" >>"$RAW"
                continue
            fi
            args=(--scenario "$scenario" --addr "$SERVER_ADDR" --secs "$SECS" --warmup "$WARMUP"
                --server-pid "$SERVER_PID" --clk-tck "$CLK_TCK")
            [ "$server" = raw_tcp ] && args+=(--raw-tcp)
            echo "== $scenario round $round: $server ($SERVER_ADDR)" >&2
            if line=$(timeout $((${SECS%.*} + ${WARMUP%.*} + 180)) \
                "${PIN_LOADGEN[@]}" "$BIN/loadgen" "${args[@]}" 2>"$OUT/loadgen.err"); then
                hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || true)
                echo "$tag $line server_hwm_kib=${hwm:-0}" | tee -a "$RAW" >&2
            else
                reason=$(tail -n 1 "$OUT/loadgen.err" | tr -c 'A-Za-z0-9.:,\n-' '_')
                echo "$tag scenario=$scenario failed=1 reason=${reason:-timeout}" | tee -a "$RAW" >&2
            fi
            stop_server
        done
    done
done

{
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores" \
        "($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown CPU))," \
        "Linux $(uname -r); server on core $SERVER_CPU, load generator on core $LOADGEN_CPU;" \
        "median of $ROUNDS round(s) of $SECS s after $WARMUP s warmup:" \
        "\`SCENARIOS=$SCENARIOS SERVERS=$SERVERS ROUNDS=$ROUNDS SECS=$SECS bench/run.sh\`"
    echo
    "$BIN/report" "$RAW"
} >"$OUT/results.md"
cp "$RAW" "$OUT/raw-$(date -u +%Y%m%dT%H%M%S).txt"
cat "$OUT/results.md"
