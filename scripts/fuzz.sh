#!/usr/bin/env bash
# Fuzzes the edge's payload decoders and handshake, and media-svc's file processing: every
# target of edge/fuzz (or the TARGETs named) for SECONDS each (default 600), one after the
# other, then one line per target with its executions and whether it crashed. Needs a nightly
# toolchain and cargo-fuzz; see edge/fuzz/README.md.
#
#     scripts/fuzz.sh [SECONDS [TARGET...]]
#
# FUZZ_BUILD_LOCK=<file>: build under `flock <file>`, then run the built fuzzers directly (with
# the arguments `cargo fuzz run` gives them), so that a lock which takes turns for builds on a
# shared machine is held for the build only, not for the runs.
set -uo pipefail

seconds="${1:-600}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS [TARGET...]]" >&2
    exit 2
    ;;
esac

edge="$(cd "$(dirname "${BASH_SOURCE[0]}")/../edge" && pwd)"
fuzz="$edge/fuzz"
targets=(chat_payloads status_payloads friends_payloads calls_payloads handshake forwarded_headers usernames
    media_sniff media_strip media_decode)
if [[ $# -gt 1 ]]; then
    targets=("${@:2}")
fi
logs="$fuzz/target/logs"
mkdir -p "$logs"
cd "$edge" || exit 1

if [[ -n "${FUZZ_BUILD_LOCK:-}" ]]; then
    flock "$FUZZ_BUILD_LOCK" cargo +nightly fuzz build || exit 1
    bin_dir="$fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
fi

crashed=0
printf '%-17s %8s %13s %9s  %s\n' target seconds executions execs/s result
for target in "${targets[@]}"; do
    dict="$fuzz/payloads.dict"
    [[ $target == handshake ]] && dict="$fuzz/handshake.dict"
    [[ $target == media_* ]] && dict="$fuzz/media.dict"
    # libFuzzer adds what it finds to the first corpus directory: the committed seeds stay as
    # they are, and the inputs found so far are reused by the next run.
    work="$fuzz/target/corpus/$target"
    mkdir -p "$work" "$fuzz/artifacts/$target"
    corpora=("$work" "$fuzz/corpus/$target")
    args=(-max_total_time="$seconds" -dict="$dict" -print_final_stats=1)
    log="$logs/$target.log"
    start=$SECONDS
    if [[ -n "${FUZZ_BUILD_LOCK:-}" ]]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0" \
            "$bin_dir/$target" -artifact_prefix="$fuzz/artifacts/$target/" "${args[@]}" \
            "${corpora[@]}" >"$log" 2>&1
    else
        cargo +nightly fuzz run "$target" "${corpora[@]}" -- "${args[@]}" >"$log" 2>&1
    fi
    status=$?
    elapsed=$((SECONDS - start))
    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    per_second="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    if [[ $status -eq 0 ]]; then
        result=ok
    else
        result="CRASHED (exit $status): $log, inputs in $fuzz/artifacts/$target/"
        crashed=1
    fi
    printf '%-17s %8s %13s %9s  %s\n' "$target" "$elapsed" "${executions:-?}" "${per_second:-?}" \
        "$result"
done
exit "$crashed"
