#!/usr/bin/env bash
# Coverage-guided fuzzing of the GGUF reader with libFuzzer (swiftc -sanitize=fuzzer,address).
#
#   Fuzz/run-gguf-fuzzer.sh [SECONDS]      default 60; CI runs 45
#
# Builds .build/fuzz/gguf-fuzzer from Sources/GGUF/*.swift + Fuzz/GGUFFuzzer/main.swift (one module, ~1 min),
# copies the committed seed corpus (Fuzz/corpus/gguf, built from the real models' headers by
# Fuzz/make-seeds.py) to a scratch corpus, and runs for SECONDS with a 5 s per-input timeout and a 2 GB RSS
# limit. Exit status ≠ 0 on any crash, timeout, leak of the invariants (see main.swift) or OOM; the last
# line states the executions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_TO_RUN="${1:-60}"
OUT=.build/fuzz
mkdir -p "$OUT/corpus" "$OUT/artifacts"
if [[ ! -x "$OUT/gguf-fuzzer" || -n "$(find Sources/GGUF Fuzz/GGUFFuzzer -newer "$OUT/gguf-fuzzer" -name '*.swift' | head -1)" ]]; then
  echo "== building the GGUF fuzzer"
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name GGUF \
    Sources/GGUF/*.swift Fuzz/GGUFFuzzer/main.swift -o "$OUT/gguf-fuzzer" 2>"$OUT/build.log" || {
    grep -v "Cannot export local symbol" "$OUT/build.log"; exit 1; }
fi
cp -n Fuzz/corpus/gguf/* "$OUT/corpus/" 2>/dev/null || true
echo "== fuzzing the GGUF reader for ${SECONDS_TO_RUN}s"
"$OUT/gguf-fuzzer" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 \
  -max_len=65536 -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 2>"$OUT/log" || {
  tail -40 "$OUT/log"; echo "fuzzer found a failure; inputs in $OUT/artifacts"; exit 1; }
grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)" "$OUT/log" || tail -5 "$OUT/log"
