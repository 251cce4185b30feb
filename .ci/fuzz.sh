#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target of ws-core for a fixed time each
# (about 25 s to build from clean, then 4 × FUZZ_SECONDS).
#
#   bash .ci/fuzz.sh                       # 60 s per target
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh      # longer
#   FUZZ_TARGETS="connection" bash .ci/fuzz.sh
#
# Each target starts from its committed seeds (fuzz/seeds/<target>/) and
# grows fuzz/corpus/<target>/ (gitignored, kept between runs on the same
# machine). A crash, a leak, an out-of-memory or a hang stops that target,
# leaves the input in fuzz/artifacts/<target>/, and makes this script exit
# non-zero after the remaining targets ran; the artifact paths and the
# command to reproduce each are printed at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-frame_header connection handshake deflate}"
# AddressSanitizer builds and runs on the pinned stable toolchain: its
# runtime (librustc-stable_rt.asan.a) ships with the x86_64 Linux standard
# library, and RUSTC_BOOTSTRAP=1 lets stable rustc take -Zsanitizer=address.
# ws-core itself forbids unsafe code, so ASan guards the unsafe code of its
# dependencies (bytes, simdutf8, httparse, base64) and costs about 3-4x in
# executions per second; FUZZ_SANITIZER=none trades that for speed.
sanitizer="${FUZZ_SANITIZER:-address}"

# cargo-fuzz passes nightly-only -Z flags (sanitizer coverage, the
# sanitizer itself); the pinned stable compiler accepts them with this
# variable. It is set here only, never for the normal build or tests.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

start=$SECONDS
echo "fuzz.sh: building targets (release, debug assertions, sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"
echo "fuzz.sh: built in $((SECONDS - start)) s"

logs="$root/fuzz/artifacts/logs"
mkdir -p "$logs"
failed=()
summary=()
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="$logs/$target.log"
    echo "fuzz.sh: fuzzing $target for $seconds s (log: $log)"
    # The first directory receives new inputs; the seeds are only read.
    status=0
    cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?

    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    corpus="$(find "corpus/$target" -type f | wc -l)"
    line="$target: ${runs:-?} runs, ${speed:-?} exec/s, corpus $corpus inputs"
    if [[ $status -ne 0 ]]; then
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        artifact="${artifact:-unknown (see $log)}"
        line="$line, FAILED (exit $status): $artifact"
        failed+=("$target|$artifact")
        echo "fuzz.sh: $target FAILED:"
        # The panic message or sanitizer report (not the stack), and
        # libFuzzer's one-line summary; the whole story is in the log.
        grep -E -A 8 'panicked at|^==[0-9]+==ERROR|^ERROR: libFuzzer' "$log" | cut -c 1-400 | head -n 40 || true
        grep -E '^SUMMARY:' "$log" || true
    fi
    summary+=("$line")
    echo "fuzz.sh: $line"
done

echo
echo "fuzz.sh: summary ($((SECONDS - start)) s in all)"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: ${#failed[@]} target(s) failed. Reproduce with:"
    for entry in "${failed[@]}"; do
        target="${entry%%|*}"
        artifact="${entry#*|}"
        echo "  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $target $artifact)"
        if [[ -f "$artifact" ]]; then
            echo "  input ($(wc -c <"$artifact") bytes): $(od -An -tx1 -v "$artifact" | tr -d ' \n' | head -c 512)"
        fi
    done
    exit 1
fi
