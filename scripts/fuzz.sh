#!/usr/bin/env bash
# Builds the libFuzzer targets (scripts/sanitize.sh --build-only: clang-22,
# ASan + UBSan, in ./build-asan) and runs each for SECONDS (default 60) from
# its seed corpus in fuzz/corpus/<target>. New inputs go to
# build-asan/fuzz-corpus/<target> (the committed seeds stay as they are);
# crashes, leaks, timeouts and sanitizer reports to build-asan/fuzz-artifacts/
# and fail the script. Prints each target's executions and corpus size.
#
#   scripts/fuzz.sh [SECONDS]          every target
#   FUZZ_TARGETS="bundle spec_parse"   a subset
#   FUZZ_RUNS=N                        stop each target after N executions instead
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! command -v clang++-22 >/dev/null; then
  echo "fuzz: clang-22 is not installed (apt-get install clang-22 libclang-rt-22-dev)" >&2
  exit 1
fi
scripts/sanitize.sh --build-only
targets=${FUZZ_TARGETS:-"spec_parse cache_entry bundle opt_lower"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:allow_user_poisoning=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-asan/fuzz-artifacts
status=0
for t in $targets; do
  bin=build-asan/fuzz/attnjit-fuzz-$t
  [ -x "$bin" ] || { echo "fuzz: $bin was not built" >&2; exit 1; }
  work=build-asan/fuzz-corpus/$t
  mkdir -p "$work"
  limit=(-max_total_time="$secs")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  log=build-asan/fuzz-artifacts/$t.log
  if "$bin" "${limit[@]}" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix=build-asan/fuzz-artifacts/$t- "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    execs=$(grep -a -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz: $t: ${execs:-?} executions, corpus $(ls "$work" | wc -l) files, no crash"
  else
    status=1
    echo "fuzz: $t FAILED; the report and input are in build-asan/fuzz-artifacts ($log):" >&2
    grep -a -m20 -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit $status
