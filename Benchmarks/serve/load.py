#!/usr/bin/env python3
"""Load benchmark for an OpenAI-compatible server (edgelm serve, llama-server, or anything behind a proxy).

Standard library only. For each concurrency level C, C client threads loop sending streaming chat completions
(a fixed set of varied short prompts, each request's user message starting with a unique tag unless
--repeat-prompts, fixed max_tokens, temperature 0) until the level's time budget
(--duration) or request budget (--requests) is spent; requests already sent are then finished. Each request is
timed from just before the connection is opened:

  TTFT      until the first SSE chunk whose choices[0].delta.content is non-empty
  latency   until `data: [DONE]` (end to end)
  tokens    usage.completion_tokens when the server sends usage in the stream, else the number of content chunks

Aggregates per level: completion tokens/s and requests/s (over the wall time from the level's first request to
its last response), p50/p99 TTFT and latency (nearest rank, successful requests only), outcomes by kind.

Outcomes: ok (stream closed with [DONE]), http_<status>, truncated (a 200 stream that ended without [DONE]),
conn_error (refused/reset before a response), timeout (no [DONE] within --timeout seconds of the start). With --retries N a client resends a request that failed
before any response byte (conn_error, 502, 503, 429 honouring Retry-After up to 5 s) and counts it as retried.

Traffic goes only to --base-url, which must be a loopback address (127.0.0.0/8, localhost, ::1).

  python3 Benchmarks/serve/load.py --base-url http://127.0.0.1:8080 [--concurrency 1,4,8,16] [--duration 30]
      [--requests N] [--max-tokens 64] [--model ID] [--api-key KEY] [--warmup 2] [--label NAME]
      [--trace FILE.jsonl] [--json]
"""
import argparse
import http.client
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how a refrigerator keeps food cold, step by step.",
    "List five tips for a first-time visitor to a large city, with one sentence each.",
    "Describe the water cycle to a ten-year-old.",
    "What are the main differences between a cat and a dog as pets?",
    "Write a friendly email inviting a colleague to a team lunch on Friday.",
    "Give me a simple recipe for vegetable soup.",
    "Why is the sky blue? Answer in a short paragraph.",
    "Summarize the plot of a typical detective novel in a few sentences.",
    "Write a poem about autumn leaves.",
    "How do I start learning to play the guitar?",
    "Explain what a computer program is to someone who has never used a computer.",
    "Describe a busy morning at a train station.",
    "What should I pack for a weekend camping trip?",
    "Write a product description for a reusable water bottle.",
    "Tell me about the planets of the solar system.",
]


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, int(-(-p * len(s) // 100)))  # ceil(p/100 * n), at least 1
    return s[min(k, len(s)) - 1]


def check_loopback(host):
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    sys.exit(f"Error: --base-url host {host!r} is not a loopback address; hint: use 127.0.0.1 or localhost")


class Target:
    def __init__(self, base_url, api_key, timeout):
        u = urllib.parse.urlsplit(base_url)
        if u.scheme != "http":
            sys.exit("Error: --base-url must be http://HOST:PORT[/prefix]; hint: http://127.0.0.1:8080")
        self.host = u.hostname
        check_loopback(self.host)
        self.port = u.port or 80
        self.prefix = u.path.rstrip("/")
        if self.prefix.endswith("/v1"):
            self.prefix = self.prefix[:-3]
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "Connection": "close"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def get_json(self, path):
        c = self.conn()
        try:
            c.request("GET", self.prefix + path, headers=self.headers)
            r = c.getresponse()
            body = r.read()
            return r.status, (json.loads(body) if body else None)
        finally:
            c.close()


def one_request(target, body):
    """Sends one streaming chat completion; returns a dict describing what the client saw."""
    rec = {"start": time.monotonic(), "outcome": None, "status": None, "ttft": None, "latency": None,
           "tokens": 0, "chunks": 0, "usage_tokens": None, "finish_reason": None, "retry_after": None}
    c = target.conn()
    try:
        try:
            c.request("POST", target.prefix + "/v1/chat/completions", body=body, headers=target.headers)
            r = c.getresponse()
        except socket.timeout:
            rec["outcome"] = "timeout"
            return rec
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            rec["outcome"] = "conn_error"
            rec["error"] = type(e).__name__
            return rec
        rec["status"] = r.status
        if r.status != 200:
            rec["outcome"] = f"http_{r.status}"
            ra = r.getheader("Retry-After")
            if ra:
                try:
                    rec["retry_after"] = float(ra)
                except ValueError:
                    pass
            try:
                r.read()
            except Exception:
                pass
            return rec
        done = False
        try:
            while True:
                if time.monotonic() - rec["start"] > target.timeout:
                    rec["outcome"] = "timeout"  # whole-request deadline: a trickling stream is cut too
                    return rec
                line = r.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    done = True
                    try:
                        r.read()  # the rest of the body (chunked terminator), so the close is clean
                    except Exception:
                        pass
                    break
                try:
                    obj = json.loads(data)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("error"):
                    rec["error"] = str(obj["error"])[:200]
                    continue
                usage = obj.get("usage") if isinstance(obj, dict) else None
                if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                    rec["usage_tokens"] = int(usage["completion_tokens"])
                for ch in obj.get("choices") or []:
                    delta = ch.get("delta") or {}
                    if delta.get("content"):
                        rec["chunks"] += 1
                        if rec["ttft"] is None:
                            rec["ttft"] = time.monotonic() - rec["start"]
                    if ch.get("finish_reason"):
                        rec["finish_reason"] = ch["finish_reason"]
        except socket.timeout:
            rec["outcome"] = "timeout"
            return rec
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            rec["error"] = type(e).__name__
        rec["latency"] = time.monotonic() - rec["start"]
        rec["tokens"] = rec["usage_tokens"] if rec["usage_tokens"] is not None else rec["chunks"]
        rec["outcome"] = "ok" if done else "truncated"
        return rec
    finally:
        c.close()


RETRYABLE = {"conn_error", "http_502", "http_503", "http_429"}


def run_level(target, model, concurrency, duration, max_requests, max_tokens, retries, trace, trace_lock, label,
              error_pause=0.2, unique=True):
    label_tag = format(int(time.time() * 1000) % 100000, "05d")
    stop_at = time.monotonic() + duration
    counter = {"sent": 0}
    lock = threading.Lock()
    records = []

    def take_ticket():
        with lock:
            if time.monotonic() >= stop_at:
                return None
            if max_requests and counter["sent"] >= max_requests:
                return None
            counter["sent"] += 1
            return counter["sent"] - 1

    def client(idx):
        n = 0
        while True:
            ticket = take_ticket()
            if ticket is None:
                return
            prompt = PROMPTS[(idx + n * concurrency) % len(PROMPTS)]
            if unique:  # a distinct start, so no server can answer from a cached copy of the whole prompt
                prompt = f"[{label_tag}-{concurrency}-{ticket}] {prompt}"
            n += 1
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                               "max_tokens": max_tokens, "temperature": 0, "stream": True}).encode()
            attempts = 0
            t0 = time.monotonic()
            while True:
                rec = one_request(target, body)
                if rec["outcome"] in RETRYABLE and attempts < retries:
                    attempts += 1
                    wait = min(rec.get("retry_after") or 0.2, 5.0)
                    time.sleep(wait)
                    continue
                break
            rec["retries"] = attempts
            if attempts:  # end-to-end as the user saw it, from the first attempt
                if rec["latency"] is not None:
                    rec["latency"] = rec["start"] + rec["latency"] - t0
                if rec["ttft"] is not None:
                    rec["ttft"] = rec["start"] + rec["ttft"] - t0
                rec["start"] = t0
            rec["end"] = time.monotonic()
            rec["client"] = idx
            rec["concurrency"] = concurrency
            with lock:
                records.append(rec)
            if rec["outcome"] != "ok" and error_pause > 0:
                time.sleep(error_pause)  # as a client surfacing an error would: no hot loop against a dead server
            if trace is not None:
                with trace_lock:
                    t = dict(rec)
                    t["label"] = label
                    now_m, now_w = time.monotonic(), time.time()
                    t["wall_start"] = now_w - (now_m - rec["start"])
                    t["wall_end"] = now_w - (now_m - rec["end"])
                    trace.write(json.dumps(t) + "\n")
                    trace.flush()

    t_begin = time.monotonic()
    if trace is not None:  # a marker other tools can wait for (scaleout.sh times its kill from it)
        with trace_lock:
            trace.write(json.dumps({"event": "level_start", "label": label, "concurrency": concurrency,
                                    "wall": time.time()}) + "\n")
            trace.flush()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_end = max([r["end"] for r in records], default=time.monotonic())
    wall = max(t_end - t_begin, 1e-9)

    ok = [r for r in records if r["outcome"] == "ok"]
    outcomes = {}
    for r in records:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    tokens = sum(r["tokens"] for r in ok)
    ttft = [r["ttft"] for r in ok if r["ttft"] is not None]
    lat = [r["latency"] for r in ok]
    ms = lambda v: None if v is None else round(v * 1000, 1)
    return {
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "requests": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "outcomes": outcomes,
        "retried": sum(1 for r in records if r.get("retries")),
        "retries": sum(r.get("retries", 0) for r in records),
        "completion_tokens": tokens,
        "tokens_source": ("usage" if ok and all(r["usage_tokens"] is not None for r in ok)
                          else "content_chunks" if ok and all(r["usage_tokens"] is None for r in ok)
                          else "mixed" if ok else None),
        "mean_completion_tokens": round(tokens / len(ok), 1) if ok else None,
        "tokens_per_s": round(tokens / wall, 2),
        "requests_per_s": round(len(ok) / wall, 3),
        "ttft_p50_ms": ms(percentile(ttft, 50)),
        "ttft_p99_ms": ms(percentile(ttft, 99)),
        "latency_p50_ms": ms(percentile(lat, 50)),
        "latency_p99_ms": ms(percentile(lat, 99)),
        "finish_reasons": {k: sum(1 for r in ok if r["finish_reason"] == k)
                           for k in sorted({str(r["finish_reason"]) for r in ok})},
    }


def fmt(v, width, prec=1):
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:{width}.{prec}f}"
    return str(v).rjust(width)


def print_table(label, levels, out=sys.stdout):
    print(f"{label}", file=out)
    print(f"{'clients':>7} {'reqs':>5} {'ok':>5} {'err':>4} {'tok/s':>8} {'req/s':>7} {'TTFT p50':>9} {'TTFT p99':>9}"
          f" {'lat p50':>8} {'lat p99':>8} {'tok/req':>7}  outcomes", file=out)
    for L in levels:
        oc = ",".join(f"{k}={v}" for k, v in sorted(L["outcomes"].items()) if k != "ok") or "-"
        print(f"{L['concurrency']:>7} {L['requests']:>5} {L['ok']:>5} {L['errors']:>4} {fmt(L['tokens_per_s'], 8)}"
              f" {fmt(L['requests_per_s'], 7, 2)} {fmt(L['ttft_p50_ms'], 9)} {fmt(L['ttft_p99_ms'], 9)}"
              f" {fmt(L['latency_p50_ms'], 8, 0)} {fmt(L['latency_p99_ms'], 8, 0)} {fmt(L['mean_completion_tokens'], 7)}"
              f"  {oc}", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default="http://127.0.0.1:8080")
    ap.add_argument("--concurrency", default="1,4,8,16", help="comma-separated client counts")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per level during which requests start")
    ap.add_argument("--requests", type=int, default=0, help="at most this many requests per level (0: no limit)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--model", default=None, help="model id (default: the first of GET /v1/models)")
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"))
    ap.add_argument("--timeout", type=float, default=120.0, help="deadline per request (connect to [DONE]), seconds")
    ap.add_argument("--warmup", type=int, default=2, help="requests sent (one at a time) before measuring")
    ap.add_argument("--retries", type=int, default=0, help="client-side retries of requests failed before a response")
    ap.add_argument("--error-pause", type=float, default=0.2, help="seconds a client waits after a failed request")
    ap.add_argument("--repeat-prompts", action="store_true",
                    help="send the 16 prompts verbatim (default: each request's user message starts with a unique tag,"
                         " so a server's prompt cache cannot skip the whole prefill)")
    ap.add_argument("--label", default=None)
    ap.add_argument("--trace", default=None, help="write one JSON line per request to this file")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    a = ap.parse_args()

    try:
        levels = [int(x) for x in a.concurrency.split(",") if x.strip()]
    except ValueError:
        sys.exit("Error: --concurrency must be comma-separated integers; hint: 1,4,8,16")
    if not levels or min(levels) < 1 or max(levels) > 256:
        sys.exit("Error: --concurrency values must be 1..256")
    if a.duration <= 0 or a.duration > 3600:
        sys.exit("Error: --duration must be in (0, 3600] seconds")
    if a.max_tokens < 1:
        sys.exit("Error: --max-tokens must be >= 1")

    target = Target(a.base_url, a.api_key, a.timeout)
    model = a.model
    if model is None:
        try:
            st, js = target.get_json("/v1/models")
        except (OSError, http.client.HTTPException) as e:
            sys.exit(f"Error: GET /v1/models failed ({e}); hint: is the server up at {a.base_url}?")
        if st != 200 or not js or not js.get("data"):
            sys.exit(f"Error: GET /v1/models answered {st}; hint: pass --model ID")
        model = js["data"][0]["id"]
    label = a.label or a.base_url

    for _ in range(max(0, a.warmup)):
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPTS[0]}],
                           "max_tokens": a.max_tokens, "temperature": 0, "stream": True}).encode()
        rec = one_request(target, body)
        if rec["outcome"] != "ok":
            sys.exit(f"Error: warm-up request failed ({rec['outcome']}, {rec.get('error', '')}); hint: check the server")

    trace = open(a.trace, "a") if a.trace else None
    trace_lock = threading.Lock()
    results = []
    try:
        for c in levels:
            results.append(run_level(target, model, c, a.duration, a.requests, a.max_tokens, a.retries,
                                     trace, trace_lock, label, a.error_pause, not a.repeat_prompts))
            if not a.json:
                print(f"# {label}: {c} clients done", file=sys.stderr)
    finally:
        if trace:
            trace.close()

    doc = {"label": label, "base_url": a.base_url, "model": model, "max_tokens": a.max_tokens,
           "unique_prompts": not a.repeat_prompts,
           "duration_s": a.duration, "max_requests": a.requests, "warmup": a.warmup, "retries": a.retries,
           "prompts": len(PROMPTS), "load_average_at_end": list(os.getloadavg()),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "levels": results}
    if a.json:
        print(json.dumps(doc, indent=1))
    else:
        print_table(f"{label} — model {model}, max_tokens {a.max_tokens}, {a.duration:g} s per level", results)
    bad = sum(L["ok"] == 0 for L in results)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
