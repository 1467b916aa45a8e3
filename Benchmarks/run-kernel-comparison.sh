#!/usr/bin/env bash
# Builds the Swift kernel benchmark (release) and the C AVX2 harness, runs both single-threaded on the same
# shapes and prints Swift-vs-C ratios (C time / Swift time: 1.0 = parity, higher = Swift faster).
#
#   Benchmarks/run-kernel-comparison.sh [runs] [wall|cpu]
#   KERNEL_BENCH=/path/to/kernel-bench Benchmarks/run-kernel-comparison.sh   # skip the Swift build
#
# `cpu` (default) times with each thread's CPU clock, which stays meaningful on a shared, busy machine;
# `wall` uses the monotonic clock. Keep runs small on shared machines.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${1:-9}"
CLOCK="${2:-cpu}"
SCRATCH="${SCRATCH:-.build-bench}"

make -s -C c-harness
if [ -n "${KERNEL_BENCH:-}" ]; then
    BIN="$KERNEL_BENCH"  # an already built kernel-bench (same flags: -Ounchecked -march=x86-64-v3, WMO)
else
    swift build -c release --scratch-path "$SCRATCH" --product kernel-bench >/dev/null
    BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/kernel-bench"
fi

SWIFT_ARGS=(--runs "$RUNS" --threads 1 --quick)
C_ARGS=("$RUNS")
if [ "$CLOCK" = "cpu" ]; then SWIFT_ARGS+=(--cpu-time); C_ARGS+=(cpu); fi

swift_out="$("$BIN" "${SWIFT_ARGS[@]}")"
c_out="$(./c-harness/c-dots "${C_ARGS[@]}")"

echo "$swift_out"
echo
echo "$c_out"
echo
python3 - "$swift_out" "$c_out" <<'PY'
import sys
swift, c = sys.argv[1], sys.argv[2]
def rows(text):
    out = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| kernel") and not line.startswith("| model") and not line.startswith("| threads"):
            out.append([f.strip() for f in line.strip("|").split("|")])
    return out
sd = {r[0]: float(r[2]) for r in rows(swift) if len(r) == 4}
cd = {r[0]: float(r[2]) for r in rows(c) if len(r) == 4}
print("## Swift vs C: dot products (n = 4096)")
print("| kernel | Swift ns | C ns | C/Swift |")
print("|---|---|---|---|")
for k, v in sd.items():
    if k in cd:
        print(f"| {k} | {v:.1f} | {cd[k]:.1f} | {cd[k] / v:.2f} |")
# matvec: Swift rows (model, matrix, type, rows×cols, tokens, threads, µs, GB/s, GFLOP/s); C (model, matrix, kernel, rows×cols, µs, GB/s)
sm = {(r[0], r[1], r[2], r[3]): float(r[6]) for r in rows(swift) if len(r) == 9 and r[4] == "1" and r[5] == "1"}
cm = {(r[0], r[1], r[2].split("·")[0], r[3]): float(r[4]) for r in rows(c) if len(r) == 6}
print()
print("## Swift vs C: matrix-vector, 1 thread")
print("| model | matrix | type | rows×cols | Swift µs | C µs | C/Swift |")
print("|---|---|---|---|---|---|---|")
for k, v in sm.items():
    if k in cm:
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {v:.1f} | {cm[k]:.1f} | {cm[k] / v:.2f} |")
PY
