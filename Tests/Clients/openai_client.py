#!/usr/bin/env python3
"""The first test our users would run: the official `openai` Python package against an OpenAI-compatible server.

  pip install openai
  python3 Tests/Clients/openai_client.py --base-url http://127.0.0.1:8080 [--model ID] [--api-key-env VAR]
      [--skip CHECK[,CHECK...]] [--max-tokens 32]

Checks (each prints PASS/FAIL/SKIP with what it saw; the last line is "N passed, N failed"):
  models        models.list() answers at least one model; --model, when given, is among them
  chat          greedy chat completion (temperature 0, seed 0): non-empty text, finish_reason stop|length,
                usage with prompt/completion/total tokens that add up
  stream        the same request with stream=True: the chunks' delta.content concatenate to exactly the
                non-streamed text, and a finish_reason arrives
  json_schema   response_format json_schema (object with a string and an integer, both required): the content
                parses as JSON and has the required keys with the right types
  json_object   response_format json_object: the content parses as a JSON object
  unknown_model a model id that does not exist answers 404 (openai.NotFoundError)

Exit code 0 when every check that ran passed, 1 otherwise, 2 for bad arguments or a missing `openai` package.
"""
import argparse
import json
import os
import sys

try:
    import openai
except ImportError:
    print("Error: the `openai` package is not installed; hint: pip install openai", file=sys.stderr)
    sys.exit(2)

CHECKS = ["models", "chat", "stream", "json_schema", "json_object", "unknown_model"]

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


class CheckFailed(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def main():
    ap = argparse.ArgumentParser(description="OpenAI-client conformance checks for edgelm serve")
    ap.add_argument("--base-url", default=os.environ.get("EDGELM_BASE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--model", default=None, help="model id (default: the first of models.list())")
    ap.add_argument("--api-key-env", default=None, help="environment variable holding the bearer key")
    ap.add_argument("--skip", default="", help="comma-separated checks to skip: " + ",".join(CHECKS))
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()

    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    unknown = skip - set(CHECKS)
    if unknown:
        print(f"Error: unknown check(s) {sorted(unknown)}; hint: one of {','.join(CHECKS)}", file=sys.stderr)
        sys.exit(2)
    base = a.base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    key = "unused"
    if a.api_key_env:
        key = os.environ.get(a.api_key_env)
        if not key:
            print(f"Error: ${a.api_key_env} is empty; hint: export it or drop --api-key-env", file=sys.stderr)
            sys.exit(2)
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=a.timeout)
    print(f"openai {openai.__version__} against {base}")

    state = {"model": a.model, "text": None}
    results = []

    def model():
        if state["model"] is None:
            ids = [m.id for m in client.models.list().data]
            expect(ids, "models.list() returned no model")
            state["model"] = ids[0]
        return state["model"]

    def greedy(**extra):
        return dict(model=model(), messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Name three colors of the rainbow and say one thing about each."}],
            max_tokens=a.max_tokens, temperature=0, seed=0, **extra)

    def check_models():
        ms = client.models.list().data
        ids = [m.id for m in ms]
        expect(ids, "models.list() returned no model")
        if a.model is not None:
            expect(a.model in ids, f"--model {a.model!r} not in models.list() ids {ids}")
        else:
            state["model"] = ids[0]
        return f"ids {ids}"

    def check_chat():
        r = client.chat.completions.create(**greedy())
        expect(r.choices, "no choices")
        c = r.choices[0]
        text = c.message.content
        expect(isinstance(text, str) and text.strip(), f"empty content {text!r}")
        expect(c.finish_reason in ("stop", "length"), f"finish_reason {c.finish_reason!r}")
        u = r.usage
        expect(u is not None, "no usage")
        expect(u.prompt_tokens > 0 and u.completion_tokens > 0, f"usage {u}")
        expect(u.total_tokens == u.prompt_tokens + u.completion_tokens, f"usage does not add up: {u}")
        expect(u.completion_tokens <= a.max_tokens, f"{u.completion_tokens} completion tokens > max_tokens")
        state["text"] = text
        return (f"{u.completion_tokens} tokens, finish_reason {c.finish_reason}, "
                f"text {text[:60]!r}{'…' if len(text) > 60 else ''}")

    def check_stream():
        if state["text"] is None:
            check_chat()
        parts, finish, chunks = [], None, 0
        with client.chat.completions.create(**greedy(stream=True)) as stream:
            for ch in stream:
                chunks += 1
                for choice in ch.choices:
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        text = "".join(parts)
        expect(chunks > 0, "no chunk")
        expect(finish in ("stop", "length"), f"finish_reason {finish!r}")
        expect(text == state["text"], f"streamed text differs from the non-streamed one:\n"
                                      f"  stream: {text!r}\n  plain:  {state['text']!r}")
        return f"{chunks} chunks, {len(parts)} with content, equal to the non-streamed text"

    def check_json_schema():
        r = client.chat.completions.create(
            model=model(), temperature=0, seed=0, max_tokens=64,
            messages=[{"role": "user", "content": "Extract the person as JSON: Alice Smith is 31 years old."}],
            response_format={"type": "json_schema",
                             "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True}})
        text = r.choices[0].message.content or ""
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise CheckFailed(f"content is not JSON ({e}; finish_reason {r.choices[0].finish_reason}): {text!r}")
        expect(isinstance(obj, dict), f"not an object: {obj!r}")
        expect(isinstance(obj.get("name"), str), f"name missing or not a string: {obj!r}")
        expect(isinstance(obj.get("age"), int) and not isinstance(obj.get("age"), bool),
               f"age missing or not an integer: {obj!r}")
        return f"{text}"

    def check_json_object():
        r = client.chat.completions.create(
            model=model(), temperature=0, seed=0, max_tokens=64,
            messages=[{"role": "user", "content": 'Answer with a JSON object that has one key, "capital": '
                                                  'what is the capital of France?'}],
            response_format={"type": "json_object"})
        text = r.choices[0].message.content or ""
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise CheckFailed(f"content is not JSON ({e}; finish_reason {r.choices[0].finish_reason}): {text!r}")
        expect(isinstance(obj, dict), f"not an object: {obj!r}")
        return f"{text[:80]}"

    def check_unknown_model():
        try:
            r = client.chat.completions.create(model="no-such-model-edgelm-test", max_tokens=4, temperature=0,
                                               messages=[{"role": "user", "content": "hi"}])
        except openai.NotFoundError as e:
            return f"404: {str(e)[:100]}"
        except openai.APIStatusError as e:
            raise CheckFailed(f"expected 404 NotFoundError, got {e.status_code} {type(e).__name__}")
        raise CheckFailed(f"expected 404 NotFoundError, the request succeeded (model {r.model!r})")

    funcs = {"models": check_models, "chat": check_chat, "stream": check_stream,
             "json_schema": check_json_schema, "json_object": check_json_object,
             "unknown_model": check_unknown_model}
    for name in CHECKS:
        if name in skip:
            print(f"SKIP {name}")
            results.append((name, None))
            continue
        try:
            detail = funcs[name]()
            print(f"PASS {name}: {detail}")
            results.append((name, True))
        except CheckFailed as e:
            print(f"FAIL {name}: {e}")
            results.append((name, False))
        except openai.APIConnectionError as e:
            print(f"FAIL {name}: cannot connect to {base} ({e.__cause__ or e}); hint: is the server running?")
            results.append((name, False))
        except openai.APIStatusError as e:
            print(f"FAIL {name}: HTTP {e.status_code} {type(e).__name__}: {str(e)[:300]}")
            results.append((name, False))
        except Exception as e:  # a malformed answer the SDK could not parse, etc.
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:300]}")
            results.append((name, False))
    passed = sum(1 for _, ok in results if ok is True)
    failed = sum(1 for _, ok in results if ok is False)
    skipped = sum(1 for _, ok in results if ok is None)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
