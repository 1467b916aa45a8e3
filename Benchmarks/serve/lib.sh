# Shared by compare.sh and scaleout.sh (sourced): the servers they start, their ports and readiness.

pids=()   # processes to stop on exit

# Stops every process in `pids` (TERM, up to 10 s each to drain, then KILL) and forgets them.
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}

# True when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits (up to 300 s) until the server NAME on PORT answers GET /health with 200; fails with the tail of its
# LOG if its process PID exits first.
wait_health() {  # name port pid log
  local deadline=$((SECONDS + 300))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$3" 2>/dev/null || { echo "Error: $1 exited while loading; its log:" >&2; tail -20 "$4" >&2; return 1; }
    if python3 - "$2" <<'PY' 2>/dev/null; then return 0; fi
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", "/health"); sys.exit(0 if c.getresponse().status == 200 else 1)
PY
    sleep 0.5
  done
  echo "Error: $1 not healthy after 300 s; its log: $4" >&2; return 1
}
