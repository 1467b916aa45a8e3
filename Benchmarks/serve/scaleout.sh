#!/usr/bin/env bash
# Scale-out demo: two server instances behind nginx (Debian's package) on loopback, load through nginx, one
# instance killed mid-run; reports what the clients saw (ok / failed by kind / retried, latency before, across
# and after the kill) and what nginx did (which upstream served each request, which requests it re-sent).
#
#   Benchmarks/serve/scaleout.sh [--backend edgelm|llama] [--model PATH] [--clients 8] [--duration 40]
#       [--kill-after 15] [--signal KILL|TERM] [--max-tokens 64] [--sessions 4] [--retries 0]
#       [--lb-port 18090] [--ports 18091,18092] [--out FILE.md] [--keep]
#
# --backend edgelm runs `edgelm serve` ($EDGELM_BIN, default .build/release/edgelm; each instance --threads 1 --max-sessions SESSIONS); --backend llama runs
# llama.cpp's llama-server the same way (-t 1 -np SESSIONS -cb), to check the mechanics without EdgeLM's server.
# --signal KILL is a crash (in-flight streams are cut); TERM asks for a graceful drain. --retries N lets each
# client resend a request that failed before any response byte. Installs nginx with apt-get when missing (root).
# Everything listens on 127.0.0.1 and is stopped at the end; the nginx config and logs stay in the run folder
# (.peers/results/scaleout-*/), printed at the end.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"   # cleanup, port_free, wait_health
backend=edgelm; model="$root/weights/smollm2-135m-instruct-q4_1.gguf"; clients=8; duration=40; kill_after=15
sig=KILL; max_tokens=64; sessions=4; retries=0; lbport=18090; ports="18091,18092"; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --kill-after) kill_after="$2"; shift 2 ;;
    --signal) sig="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --sessions) sessions="$2"; shift 2 ;;
    --retries) retries="$2"; shift 2 ;;
    --lb-port) lbport="$2"; shift 2 ;;
    --ports) ports="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "Error: unknown option $1; hint: --help" >&2; exit 2 ;;
  esac
done
case "$backend" in edgelm|llama) ;; *) echo "Error: --backend must be edgelm or llama" >&2; exit 2 ;; esac
case "$sig" in KILL|TERM) ;; *) echo "Error: --signal must be KILL or TERM" >&2; exit 2 ;; esac
[ -f "$model" ] || { echo "Error: $model not found; hint: weights/fetch.sh" >&2; exit 1; }
IFS=, read -r p1 p2 <<<"$ports"
[ -n "${p1:-}" ] && [ -n "${p2:-}" ] || { echo "Error: --ports needs two ports, e.g. 18091,18092" >&2; exit 2; }
model_id="$(basename "$model" .gguf)"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# installing nginx (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    echo "Error: nginx is not installed; hint: apt-get install nginx" >&2; exit 1
  fi
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

case "$backend" in
  edgelm)
    bin="${EDGELM_BIN:-$root/.build/release/edgelm}"
    if [ ! -x "$bin" ] && [ -d "$root/Sources/EdgeLMServer" ]; then
      (cd "$root" && nice -n 10 swift build -c release --product edgelm >&2)
    fi
    [ -x "$bin" ] && "$bin" serve --help >/dev/null 2>&1 || {
      echo "Error: $bin has no \`serve\` command; hint: build a checkout with issue 14's server, or --backend llama" >&2
      exit 1; } ;;
  llama) bin="$("$here/build-llama-server.sh" | tail -1)" ;;
esac

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
run="$root/.peers/results/scaleout-$stamp"
mkdir -p "$run"/{body,proxy,fastcgi,uwsgi,scgi}
[ -n "$out" ] || out="$run/scaleout.md"

for p in "$lbport" "$p1" "$p2"; do port_free "$p" || { echo "Error: port $p is busy; hint: --lb-port / --ports" >&2; exit 1; }; done

trap cleanup EXIT
trap 'exit 130' INT TERM

start_instance() {  # port log -> pid in $inst_pid
  case "$backend" in
    edgelm) "$bin" serve --model "$model" --threads 1 --max-sessions "$sessions" --host 127.0.0.1 --port "$1" >"$2" 2>&1 & ;;
    llama) "$bin" -m "$model" -a "$model_id" -t 1 -tb 1 -np "$sessions" -cb -c $((sessions * 1024)) \
             --host 127.0.0.1 --port "$1" >"$2" 2>&1 & ;;
  esac
  inst_pid=$!
}

start_instance "$p1" "$run/instance-a.log"; pid_a=$inst_pid; pids+=("$pid_a")
start_instance "$p2" "$run/instance-b.log"; pid_b=$inst_pid; pids+=("$pid_b")
wait_health "instance A (:$p1)" "$p1" "$pid_a" "$run/instance-a.log"
wait_health "instance B (:$p2)" "$p2" "$pid_b" "$run/instance-b.log"

cat >"$run/nginx.conf" <<EOF
# Two model servers behind one loopback endpoint (written by Benchmarks/serve/scaleout.sh).
worker_processes 1;
daemon off;
pid $run/nginx.pid;
error_log $run/nginx-error.log warn;
events { worker_connections 1024; }
http {
    log_format lb '\$msec \$status \$request_time "\$request" ups=\$upstream_addr ustat=\$upstream_status '
                  'utime=\$upstream_response_time';
    access_log $run/nginx-access.log lb;
    client_body_temp_path $run/body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;
    client_max_body_size 1m;

    upstream edgelm {
        # Passive health: one failed attempt takes a server out of rotation for 10 s, then it is tried again.
        server 127.0.0.1:$p1 max_fails=1 fail_timeout=10s;
        server 127.0.0.1:$p2 max_fails=1 fail_timeout=10s;
        # No upstream keepalive pool: a server closing an idle pooled connection just as nginx reuses it fails
        # that request and, with max_fails=1, takes a healthy server out for 10 s. A new loopback connection
        # per request costs far less than one generated token.
    }
    server {
        listen 127.0.0.1:$lbport;           # loopback only
        location / {
            proxy_pass http://edgelm;
            proxy_http_version 1.1;
            proxy_buffering off;            # SSE: pass each data: chunk on as soon as it arrives
            proxy_cache off;
            proxy_read_timeout 300s;        # a long generation is not an upstream timeout
            proxy_connect_timeout 2s;
            # Passive failover: a refused/reset connection, a connect timeout, a 502 or 503 (draining, loading)
            # sends the request to the other server. non_idempotent lets nginx re-send a POST that already
            # reached a server that then answered 503: a completion that was refused has no side effect.
            # Once response bytes have gone to the client nothing can be retried: a stream cut by a crash stays cut.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 10s;
        }
    }
}
EOF
"$nginx_bin" -t -c "$run/nginx.conf" -p "$run" >/dev/null 2>"$run/nginx-t.log" || { cat "$run/nginx-t.log" >&2; exit 1; }
"$nginx_bin" -c "$run/nginx.conf" -p "$run" >"$run/nginx.out" 2>&1 &
nginx_pid=$!; pids+=("$nginx_pid")
for _ in $(seq 50); do port_free "$lbport" || break; sleep 0.1; done
port_free "$lbport" && { echo "Error: nginx did not start; see $run/nginx-error.log" >&2; exit 1; }

echo "# load: $clients clients for ${duration} s through nginx :$lbport; instance A (:$p1) gets SIG$sig after ${kill_after} s" >&2
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$run/trace.jsonl"
python3 "$here/load.py" --base-url "http://127.0.0.1:$lbport" --model "$model_id" --concurrency "$clients" \
  --duration "$duration" --max-tokens "$max_tokens" --warmup 2 --retries "$retries" --label nginx \
  --trace "$run/trace.jsonl" --json >"$run/load.json" &
load_pid=$!; pids+=("$load_pid")
# load.py writes a level_start line to the trace when the measured run starts (after its warm-up)
for _ in $(seq 600); do [ -s "$run/trace.jsonl" ] && break; kill -0 "$load_pid" 2>/dev/null || break; sleep 0.1; done
t_load="$(date +%s.%N)"
sleep "$kill_after"
t_kill="$(date +%s.%N)"
kill "-$sig" "$pid_a" 2>/dev/null || true
echo "# SIG$sig sent to instance A (pid $pid_a) at +$(python3 -c "print(round($t_kill-$t_load,1))") s" >&2
set +e
wait "$load_pid"; load_rc=$?
set -e
t_a_exit=""
if [ "$sig" = TERM ]; then
  for _ in $(seq 300); do kill -0 "$pid_a" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid_a" 2>/dev/null && t_a_exit="still running" || t_a_exit="exited"
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
set +e; wait "$pid_a" 2>/dev/null; a_rc=$?; set -e
cleanup

python3 - "$run" "$t_kill" "$p1" "$p2" "$sig" "$backend" "$clients" "$duration" "$kill_after" "$max_tokens" \
  "$sessions" "$retries" "$load_before" "$load_after" "$a_rc" "$load_rc" <<'PY' | tee "$out"
import json, sys, time
(run, t_kill, p1, p2, sig, backend, clients, duration, kill_after, max_tokens, sessions, retries,
 load_before, load_after, a_rc, load_rc) = sys.argv[1:]
t_kill = float(t_kill)
lines = [json.loads(l) for l in open(f"{run}/trace.jsonl") if l.strip()]
recs = [r for r in lines if "event" not in r]
t0 = next((r["wall"] for r in lines if r.get("event") == "level_start"), t_kill)

def pct(v, p):
    if not v: return None
    s = sorted(v); k = max(1, -(-p * len(s) // 100)); return s[min(k, len(s)) - 1]
ms = lambda v: "–" if v is None else f"{v * 1000:.0f}"

groups = {
    "finished before the kill": [r for r in recs if r["wall_end"] <= t_kill],
    "in flight at the kill": [r for r in recs if r["wall_start"] < t_kill < r["wall_end"]],
    "started after the kill": [r for r in recs if r["wall_start"] >= t_kill],
}
print(f"| requests | sent | ok | failed | failures by kind | client-retried | latency p50 / p99 ms | TTFT p50 / p99 ms |")
print("|---|---|---|---|---|---|---|---|")
for name, rs in list(groups.items()) + [("all", recs)]:
    ok = [r for r in rs if r["outcome"] == "ok"]
    kinds = {}
    for r in rs:
        if r["outcome"] != "ok": kinds[r["outcome"]] = kinds.get(r["outcome"], 0) + 1
    k = ", ".join(f"{a} {b}" for a, b in sorted(kinds.items())) or "–"
    lat = [r["latency"] for r in ok]; tt = [r["ttft"] for r in ok if r["ttft"] is not None]
    print(f"| {name} | {len(rs)} | {len(ok)} | {len(rs) - len(ok)} | {k} | {sum(1 for r in rs if r.get('retries'))} | "
          f"{ms(pct(lat, 50))} / {ms(pct(lat, 99))} | {ms(pct(tt, 50))} / {ms(pct(tt, 99))} |")

# nginx's view: which upstream answered, which requests it re-sent to the other server
rows = []
for line in open(f"{run}/nginx-access.log"):
    parts = line.split()
    try:
        t_end, st, rt = float(parts[0]), int(parts[1]), float(parts[2])
    except (ValueError, IndexError):
        continue
    if '"POST' not in line: continue
    ups = line.split("ups=")[1].split(" ustat=")[0] if "ups=" in line else ""
    ust = line.split("ustat=")[1].split(" utime=")[0] if "ustat=" in line else ""
    rows.append((t_end - rt, st, ups, ust, t_end))
post = [r for r in rows if r[0] >= t0 - 0.05]  # the measured run, not the warm-up
a, b = f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"
resent = [r for r in post if "," in r[2]]
last = lambda r: r[2].split(",")[-1].strip()
cut = sum(1 for l in open(f"{run}/nginx-error.log") if "prematurely closed" in l or "reset by peer" in l and "reading upstream" in l)
before = [r for r in post if r[0] < t_kill]; after = [r for r in post if r[0] >= t_kill]
print()
print(f"nginx's view (access log, {len(post)} chat requests, by start time): started before the kill: "
      f"{sum(1 for r in before if last(r) == a)} went to A, {sum(1 for r in before if last(r) == b)} to B; "
      f"started after it: {sum(1 for r in after if last(r) == a)} to A, {sum(1 for r in after if last(r) == b)} to B. "
      f"Re-sent by nginx to the other instance: {len(resent)}"
      + (f" (upstream statuses {'; '.join(sorted({r[3] for r in resent}))})" if resent else "") + ". "
      f"Streams cut by the upstream (error log): {cut}. Statuses nginx returned: "
      f"{', '.join(f'{s} ×{sum(1 for r in post if r[1] == s)}' for s in sorted({r[1] for r in post}))}"
      f" (a stream cut after its 200 header is logged as 200).")
print()
print(f"Backend {backend}, 2 instances × 1 thread, {sessions} sessions each, behind nginx; {clients} streaming clients "
      f"for {duration} s, max_tokens {max_tokens}, client retries {retries}; instance A got SIG{sig} "
      f"{t_kill - t0:.1f} s into the run (its exit status {a_rc}). "
      f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load_before} before / {load_after} after. "
      f"Run folder: {run}")
PY
echo "report: $out" >&2
