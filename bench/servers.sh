# Sourced by bench/run.sh and bench/instructions.sh: which scenarios each
# echo server takes part in.
#
# supports SERVER SCENARIO: true when SERVER runs SCENARIO. Raw TCP has no
# WebSocket, so it runs the echo scenarios a and b only; tokio-tungstenite
# and fastwebsockets have no permessage-deflate, so no g. Node runs only
# when the caller set `have_node=1` (its packages installed).
supports() {
    case "$1:$2" in
        raw_tcp:a | raw_tcp:b) return 0 ;;
        raw_tcp:*) return 1 ;;
        tungstenite:g | fastwebsockets:g) return 1 ;;
        node:*) [ "${have_node:-0}" = 1 ] ;;
        lariat:* | sockudo:* | tungstenite:* | fastwebsockets:*) return 0 ;;
        *)
            echo "unknown server $1" >&2
            return 1
            ;;
    esac
}
