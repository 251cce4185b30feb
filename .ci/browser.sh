#!/usr/bin/env bash
# End-to-end browser test: examples/chat in headless Chromium (Debian's
# package), driven over the DevTools protocol by playwright-core
# (tests/browser/chat.test.mjs). Installs Chromium and the Node package when
# missing; without Chromium it says the test was SKIPPED and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=tests/browser
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac

find_chromium() {
    local candidate
    for candidate in "${CHROMIUM_BIN:-}" /usr/lib/chromium/chromium /usr/bin/chromium; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

skip() {
    echo
    echo "=================================================================="
    echo "browser test SKIPPED: $*"
    echo "=================================================================="
    exit 0
}

if ! find_chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing Debian's chromium"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } ||
            echo "apt-get could not install chromium"
    fi
fi
chromium=$(find_chromium) || skip "Chromium is not available (apt-get install chromium, as root)"
command -v node >/dev/null || skip "Node.js is not available (apt-get install nodejs npm)"
echo "chromium: $chromium"

if [ ! -d "$browser/node_modules/playwright-core" ]; then
    (cd "$browser" && npm ci --silent --no-audit --no-fund)
fi

cargo build --release --example chat --example echo

export CHROMIUM_BIN="$chromium"
export CHAT_BIN="$target_dir/release/examples/chat"
export ECHO_BIN="$target_dir/release/examples/echo"
export SCREENSHOT_DIR="$target_dir/browser"
(cd "$browser" && node --test --test-reporter=spec chat.test.mjs)
echo "screenshots: $SCREENSHOT_DIR/chat.png, $SCREENSHOT_DIR/chat-bob.png"
