#!/usr/bin/env bash
# Aggregate decode and TTFT of N sequences batched together (edgelm bench --sequences N) for N = 1, 2, 4, 8,
# and batch extraction wall time with --parallel 1 vs 4 on the same inputs (outputs compared).
#
#   Benchmarks/sequences.sh [model.gguf …]      (default: both models in weights/)
#
# Each bench process measures its own single-sequence figure in the same run (the ratio column).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/edgelm
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(weights/smollm2-135m-instruct-q4_1.gguf weights/gemma-3-270m-q4_k_m.gguf)
THREADS="${THREADS:-2}"
echo "| model | sequences | aggregate decode tok/s | single-sequence decode tok/s (same run) | ratio | per-sequence tok/s | TTFT p50 ms | TTFT p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for m in "${MODELS[@]}"; do
  [ -f "$m" ] || continue
  for n in 1 2 4 8; do
    "$BIN" bench --model "$m" --threads "$THREADS" --prompt-tokens 64 --gen-tokens 64 --repetitions 2 --sequences "$n" --json \
      | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("| %s | %d | %.1f | %.1f | %.2f× | %.1f | %.0f | %.0f |" % (r["model"], r["sequences"], r["aggregate_decode_tok_s"], r["decode_tok_s"],
      r["aggregate_decode_tok_s"] / r["decode_tok_s"], r["per_sequence_decode_tok_s"], r["ttft_ms_p50"], r["ttft_ms_p99"]))'
  done
done

# Batch extraction: the same 16 contact lines with --parallel 1 and 4.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
names = ["Bob Lee", "Ana Silva", "Wei Chen", "Omar Haddad", "Julia Novak", "Ravi Patel", "Sara Kim", "Tom Berg"]
with open(d + "/in.jsonl", "w") as f:
    for i in range(16):
        n = names[i % len(names)]
        f.write(json.dumps({"text": f"Hi, I'm {n}, reach me at {n.split()[0].lower()}{i}@example.org or call 555-01{i:02d}."}) + "\n")
json.dump({"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
           "required": ["name", "email"]}, open(d + "/schema.json", "w"))
PY
for m in "${MODELS[@]}"; do
  [ -f "$m" ] || continue
  for p in 1 4; do
    s=$(date +%s.%N)
    "$BIN" extract --model "$m" --threads "$THREADS" --schema "$tmp/schema.json" --input "$tmp/in.jsonl" --parallel $p --no-telemetry > "$tmp/out$p.jsonl"
    e=$(date +%s.%N)
    echo "extract --parallel $p $(basename "$m"): $(python3 -c "print(round($e - $s, 2))") s"
  done
  if cmp -s "$tmp/out1.jsonl" "$tmp/out4.jsonl"; then echo "outputs identical"; else echo "OUTPUTS DIFFER"; fi
done
