#!/usr/bin/env bash
# User-space instructions per message of each echo server, counted by
# valgrind's callgrind: a figure that moves much less than CPU time on a
# shared or virtual machine (though the connections ready per event-loop
# turn still vary with timing; see bench/README.md).
#
#   bench/instructions.sh
#   SCENARIOS=b SERVERS=lariat,fastwebsockets bench/instructions.sh
#
# Each server runs under callgrind twice, for SHORT and LONG seconds of load
# (the load generator is not slowed, the server is, about 50 times): the
# difference of the two instruction totals over the difference of the two
# message counts is the cost of one more message, free of start-up and
# handshakes. The kernel's share (the system calls themselves) is not
# counted; `bench/run.sh` measures the whole.
#
# Environment:
#   SCENARIOS  comma-separated subset of a,b,c,d,e,g    (default: a,b;
#              in e a message is a whole handshake)
#   SERVERS    comma-separated subset of lariat,sockudo,tungstenite,
#              fastwebsockets,raw_tcp (not node)         (default: all five)
#   SHORT, LONG  seconds of load of the two runs         (default: 3, 8)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SCENARIOS=${SCENARIOS:-a,b}
SERVERS=${SERVERS:-lariat,sockudo,tungstenite,fastwebsockets,raw_tcp}
SHORT=${SHORT:-3}
LONG=${LONG:-8}

if ! command -v valgrind >/dev/null; then
    echo "valgrind is missing (apt-get install valgrind)" >&2
    exit 1
fi

OUT=$ROOT/target/bench/instructions
BIN=$ROOT/target/release
mkdir -p "$OUT"

echo "== building (release)" >&2
cargo build --release -p bench --bins >&2

if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0)
    PIN_LOADGEN=(taskset -c 1)
else
    PIN_SERVER=()
    PIN_LOADGEN=()
fi

# One run: prints "MESSAGES INSTRUCTIONS".
measure() {
    local server=$1 scenario=$2 secs=$3
    local tag=$OUT/$server.$scenario.$secs
    rm -f "$tag".callgrind "$tag".out
    "${PIN_SERVER[@]}" valgrind --tool=callgrind --callgrind-out-file="$tag.callgrind" \
        "$BIN/server_$server" 127.0.0.1:0 >"$tag.out" 2>"$tag.err" &
    local pid=$!
    local addr=
    for _ in $(seq 600); do
        addr=$(grep -o 'listening [0-9.:]*' "$tag.out" 2>/dev/null | cut -d' ' -f2 || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "server_$server did not start under valgrind; see $tag.err" >&2
        kill "$pid" 2>/dev/null || true
        return 1
    fi
    local args=(--scenario "$scenario" --addr "$addr" --secs "$secs" --warmup 0)
    [ "$server" = raw_tcp ] && args+=(--raw-tcp)
    local line
    line=$("${PIN_LOADGEN[@]}" "$BIN/loadgen" "${args[@]}" 2>>"$tag.err" | tail -1)
    # Valgrind writes its totals when the server ends on SIGTERM. (Not
    # SIGINT: a background job of a script ignores it.)
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local messages instructions
    messages=$(grep -o 'messages=[0-9]*' <<<"$line" | cut -d= -f2)
    instructions=$(grep -h '^summary:\|^totals:' "$tag.callgrind" | head -1 | awk '{print $2}')
    echo "$messages $instructions"
}

# Node is not measured here: its instructions are V8's, not a library's.
# shellcheck source=bench/servers.sh
source "$ROOT/bench/servers.sh"

echo
echo "| scenario | server | instructions per message | messages in the two runs |"
echo "|---|---|---|---|"
IFS=, read -r -a scenario_list <<<"$SCENARIOS"
IFS=, read -r -a server_list <<<"$SERVERS"
for scenario in "${scenario_list[@]}"; do
    for server in "${server_list[@]}"; do
        supports "$server" "$scenario" || continue
        read -r m1 i1 < <(measure "$server" "$scenario" "$SHORT")
        read -r m2 i2 < <(measure "$server" "$scenario" "$LONG")
        if [ -z "${m1:-}" ] || [ -z "${m2:-}" ] || [ "$m2" -le "$m1" ]; then
            echo "| $scenario | $server | no result | ${m1:-none}, ${m2:-none} |"
            continue
        fi
        # Too few more messages in the long run (a server slowed so much
        # that it spends the run on handshakes): the difference is noise.
        if [ $((m2 - m1)) -lt 10000 ]; then
            echo "| $scenario | $server | too few messages to tell | $m1, $m2 |"
            continue
        fi
        echo "| $scenario | $server | $(((i2 - i1) / (m2 - m1))) | $m1, $m2 |"
    done
done
