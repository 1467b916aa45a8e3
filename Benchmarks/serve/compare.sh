#!/usr/bin/env bash
# Side-by-side load benchmark: `edgelm serve` and llama.cpp's `llama-server`, same model, same threads, same
# number of parallel sequences (llama-server: -np SLOTS with continuous batching; edgelm: --max-sessions SLOTS),
# both on loopback ports, both up for the whole run. For each client count the two servers are measured one
# after the other (ABBA order: the server that goes first alternates level to level) with Benchmarks/serve/load.py
# (streaming chat completions, temperature 0, fixed max_tokens). Writes a markdown table (stdout and --out) and
# the raw load.py JSON next to it. "server CPU ms/token": the server process's user + system CPU time (all its
# threads, /proc/PID/stat) over the level, per completion token — less sensitive to other jobs on the machine
# than tokens/s, though a thread pool that spin-waits is charged for its spinning.
#
#   Benchmarks/serve/compare.sh [--model PATH] [--threads 2] [--slots 8] [--ctx 8192] [--concurrency 1,4,8,16]
#       [--duration 20] [--max-tokens 64] [--only llama|edgelm] [--out FILE.md] [--edgelm-args "..."] [--llama-args "..."]
#       [--repeat-prompts]
#       [--llama-port 18081] [--edgelm-port 18082] [--edgelm BIN]
#
# llama-server comes from Benchmarks/serve/build-llama-server.sh (built on first use, 15-25 min). edgelm from
# --edgelm or .build/release/edgelm (built when missing, if this checkout has Sources/EdgeLMServer); when that
# binary is missing or has no `serve` command the edgelm half is skipped with a note. Bounded: each level runs
# --duration seconds per server (after one warm-up request), then the servers are stopped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"   # cleanup, port_free, wait_health
model="$root/weights/smollm2-135m-instruct-q4_1.gguf"
threads=2; slots=8; ctx=8192; conc="1,4,8,16"; duration=20; max_tokens=64; only=""; out=""; edgelm_args=""; llama_args=""; load_args=""
lport=18081; eport=18082; edgelm=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --concurrency) conc="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --edgelm-args) edgelm_args="$2"; shift 2 ;;
    --llama-args) llama_args="$2"; shift 2 ;;
    --repeat-prompts) load_args="--repeat-prompts"; shift ;;
    --edgelm) edgelm="$2"; shift 2 ;;
    --llama-port) lport="$2"; shift 2 ;;
    --edgelm-port) eport="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "Error: unknown option $1; hint: --help" >&2; exit 2 ;;
  esac
done
[ -f "$model" ] || { echo "Error: $model not found; hint: weights/fetch.sh" >&2; exit 1; }
case "$only" in ""|llama|edgelm) ;; *) echo "Error: --only must be llama or edgelm" >&2; exit 2 ;; esac
model_id="$(basename "$model" .gguf)"
slot_ctx=$((ctx / slots))   # llama-server splits -c across its slots; edgelm's --ctx is per request
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
workdir="$root/.peers/results/compare-$stamp"
mkdir -p "$workdir"
[ -n "$out" ] || out="$workdir/compare.md"

trap cleanup EXIT
trap 'exit 130' INT TERM


servers=()
notes=()
declare -A server_pid
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime of the whole process, clock ticks
if [ "$only" != edgelm ]; then
  llama_bin="$("$here/build-llama-server.sh" | tail -1)"
  port_free "$lport" || { echo "Error: port $lport is busy; hint: --llama-port" >&2; exit 1; }
  "$llama_bin" -m "$model" -a "$model_id" -t "$threads" -tb "$threads" -np "$slots" -cb -c "$ctx" \
    --host 127.0.0.1 --port "$lport" $llama_args >"$workdir/llama-server.log" 2>&1 &
  pids+=($!); lpid=$!; server_pid[llama-server]=$lpid
  wait_health llama-server "$lport" "$lpid" "$workdir/llama-server.log"
  servers+=("llama-server:$lport")
fi
if [ "$only" != llama ]; then
  if [ -z "$edgelm" ]; then
    edgelm="$root/.build/release/edgelm"
    # build only a checkout that has the server (a release build takes many minutes on 2 cores)
    if [ ! -x "$edgelm" ] && [ -d "$root/Sources/EdgeLMServer" ]; then
      (cd "$root" && nice -n 10 swift build -c release --product edgelm >&2)
    fi
  fi
  if [ -x "$edgelm" ] && "$edgelm" serve --help >/dev/null 2>&1; then
    port_free "$eport" || { echo "Error: port $eport is busy; hint: --edgelm-port" >&2; exit 1; }
    # shellcheck disable=SC2086
    "$edgelm" serve --model "$model" --threads "$threads" --max-sessions "$slots" --ctx "$slot_ctx" \
      --host 127.0.0.1 --port "$eport" $edgelm_args >"$workdir/edgelm-serve.log" 2>&1 &
    pids+=($!); epid=$!; server_pid[edgelm]=$epid
    wait_health "edgelm serve" "$eport" "$epid" "$workdir/edgelm-serve.log"
    servers+=("edgelm:$eport")
  else
    notes+=("edgelm serve was not measured: ${edgelm} is missing or has no \`serve\` command (a checkout before issue 14's server).")
  fi
fi
[ ${#servers[@]} -gt 0 ] || { echo "Error: no server to measure" >&2; exit 1; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -r -a levels <<<"$conc"
i=0
for c in "${levels[@]}"; do
  order=("${servers[@]}")
  if [ $((i % 2)) -eq 1 ] && [ ${#servers[@]} -eq 2 ]; then order=("${servers[1]}" "${servers[0]}"); fi
  for s in "${order[@]}"; do
    name="${s%%:*}"; port="${s##*:}"
    echo "# $name, $c clients, ${duration} s" >&2
    spid="${server_pid[$name]}"
    # one warm-up request, then the measured level with the server's CPU time (user + system, all threads) around it
    python3 "$here/load.py" --base-url "http://127.0.0.1:$port" --model "$model_id" --concurrency 1 --requests 1 \
      --duration 60 --max-tokens "$max_tokens" --warmup 0 --json >/dev/null || true
    t0="$(cpu_ticks "$spid")"
    python3 "$here/load.py" --base-url "http://127.0.0.1:$port" --model "$model_id" --concurrency "$c" \
      --duration "$duration" --max-tokens "$max_tokens" --warmup 0 --label "$name" --json $load_args \
      >"$workdir/$name-c$c.json" || echo "# $name at $c clients: load.py exited non-zero" >&2
    echo "$(( $(cpu_ticks "$spid") - t0 )) $(getconf CLK_TCK)" >"$workdir/$name-c$c.cpu"
  done
  i=$((i + 1))
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
cleanup

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
{
  python3 - "$workdir" "$conc" <<'PY'
import json, os, sys
wd, levels = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
def load(name, c):
    p = os.path.join(wd, f"{name}-c{c}.json")
    try:
        L = json.load(open(p))["levels"][0]
    except Exception:
        return None
    try:
        ticks, hz = open(os.path.join(wd, f"{name}-c{c}.cpu")).read().split()
        L["server_cpu_ms_per_token"] = (int(ticks) * 1000 / int(hz) / L["completion_tokens"]
                                        if L["completion_tokens"] else None)
    except Exception:
        L["server_cpu_ms_per_token"] = None
    return L
f = lambda v, p=1: "–" if v is None else f"{v:.{p}f}"
print("| clients | server | completion tok/s | req/s | TTFT p50 ms | TTFT p99 ms | latency p50 ms | latency p99 ms | ok | errors | tokens/request | server CPU ms/token |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
ratios = []
for c in levels:
    row = {}
    for name in ("llama-server", "edgelm"):
        L = load(name, c)
        if L is None:
            continue
        row[name] = L
        errs = ", ".join(f"{k} {v}" for k, v in sorted(L["outcomes"].items()) if k != "ok") or "0"
        print(f"| {c} | {name} | {f(L['tokens_per_s'])} | {f(L['requests_per_s'], 2)} | {f(L['ttft_p50_ms'], 0)} | "
              f"{f(L['ttft_p99_ms'], 0)} | {f(L['latency_p50_ms'], 0)} | {f(L['latency_p99_ms'], 0)} | {L['ok']} | {errs} | "
              f"{f(L['mean_completion_tokens'])} | {f(L['server_cpu_ms_per_token'])} |")
    if len(row) == 2 and row["llama-server"]["tokens_per_s"]:
        a, b = row["llama-server"], row["edgelm"]
        tp = b["tokens_per_s"] / a["tokens_per_s"]
        t99 = (b["ttft_p99_ms"] / a["ttft_p99_ms"]) if a["ttft_p99_ms"] and b["ttft_p99_ms"] else None
        ratios.append(f"| {c} | {tp:.2f}× | {'–' if t99 is None else f'{t99:.2f}×'} |")
if ratios:
    print()
    print("| clients | EdgeLM / llama-server tok/s | EdgeLM / llama-server TTFT p99 |")
    print("|---|---|---|")
    print("\n".join(ratios))
PY
  echo
  echo "Model \`$model_id\`, $threads threads each, $slots parallel sequences (llama-server \`-np $slots -cb -c $ctx${llama_args:+ $llama_args}\`;" \
       "edgelm \`--max-sessions $slots --ctx $slot_ctx${edgelm_args:+ $edgelm_args}\`), streaming chat completions, temperature 0, $([ -n "$load_args" ] && echo "the 16 prompts repeated verbatim" || echo "each prompt made unique by a leading tag")," \
       "max_tokens $max_tokens, $duration s per level per server, ABBA order. $(date -u '+%Y-%m-%d %H:%M UTC')," \
       "commit $commit, $cpu, load average ${load_before} before / ${load_after} after."
  for n in "${notes[@]}"; do echo; echo "$n"; done
} | tee "$out"
echo "raw results: $workdir" >&2
