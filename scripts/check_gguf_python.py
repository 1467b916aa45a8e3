#!/usr/bin/env python3
"""Open a GGUF file with llama.cpp's gguf-python reader, print and validate its keys and tensors.

Usage:
    python3 scripts/check_gguf_python.py FILE [--expect EXPECT.json] [--quiet]

Checks (exit status 1 on any failure, 2 when the `gguf` package is missing):
  * gguf.GGUFReader opens the file;
  * every tensor has a known type, its byte size equals elements / block_size * type_size (ggml layout),
    its data lies inside the file and is aligned to general.alignment;
  * with --expect, the keys, value types and values, and the tensors (name, type, shape, byte count,
    FNV-1a 64 checksum of the data) equal the JSON description (written by EdgeLM's GGUF tests).

EXPECT.json: {"kv": {key: {"type": "UINT32", "value": 7} | {"type": "ARRAY", "element_type": "STRING",
              "value": [...]}}, "tensors": [{"name", "type", "shape", "bytes", "fnv1a64"}]}
A "value" may be omitted (nested arrays, which gguf-python flattens) to check the type only.
"""

import argparse
import json
import math
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf.constants import GGML_QUANT_SIZES, GGUFValueType
except ImportError as exc:  # pragma: no cover
    print(f"error: cannot import gguf ({exc}); hint: pip install gguf", file=sys.stderr)
    sys.exit(2)

# gguf-python's table still lists Q8_1 with float scales (40 bytes); ggml's block_q8_1 is 36 bytes.
LAYOUT_OVERRIDES = {"Q8_1": (32, 36)}


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def field_value(field):
    """The decoded value of a ReaderField (arrays as flat lists)."""
    main = field.types[0]
    if main == GGUFValueType.ARRAY and len(field.types) > 1 and field.types[1] == GGUFValueType.ARRAY:
        return None  # nested: gguf-python flattens, not comparable
    value = field.contents()
    return value


def values_equal(expected, actual, vtype):
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            values_equal(e, a, vtype) for e, a in zip(expected, actual))
    if vtype in ("FLOAT32", "FLOAT64"):
        if isinstance(expected, float) and math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        return abs(float(expected) - float(actual)) <= 1e-6 * max(1.0, abs(float(expected)))
    if vtype == "BOOL":
        return bool(expected) == bool(actual)
    return expected == actual


def summarize(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--expect", help="JSON file describing the expected keys and tensors")
    parser.add_argument("--quiet", action="store_true", help="print failures and the summary only")
    args = parser.parse_args()

    failures = []
    try:
        reader = gguf.GGUFReader(args.file)
    except Exception as exc:  # any reader failure is a compatibility failure
        print(f"error: gguf-python cannot read {args.file}: {exc}", file=sys.stderr)
        return 1

    file_size = os.path.getsize(args.file)
    alignment = reader.alignment
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    if not args.quiet:
        print(f"{args.file}: {len(fields)} keys, {len(reader.tensors)} tensors, alignment {alignment},"
              f" data offset {reader.data_offset}")
        for key, field in fields.items():
            types = "/".join(t.name for t in field.types)
            print(f"  {key} [{types}] = {summarize(field_value(field))}")

    for t in reader.tensors:
        tname = t.tensor_type.name
        block, size = LAYOUT_OVERRIDES.get(tname, GGML_QUANT_SIZES.get(t.tensor_type, (0, 0)))
        n_elements = int(np.prod([int(x) for x in t.shape]))
        if block == 0 or n_elements % block:
            failures.append(f"tensor {t.name}: {n_elements} elements do not fit {tname} blocks of {block}")
            continue
        expected_bytes = n_elements // block * size
        if int(t.n_bytes) != expected_bytes:
            failures.append(f"tensor {t.name}: {t.n_bytes} bytes, ggml layout says {expected_bytes}")
        if t.data_offset + expected_bytes > file_size:
            failures.append(f"tensor {t.name}: data at {t.data_offset}+{expected_bytes} past end of file {file_size}")
        if (t.data_offset - reader.data_offset) % alignment:
            failures.append(f"tensor {t.name}: offset {t.data_offset} not aligned to {alignment}")
        if not args.quiet:
            print(f"  tensor {t.name} {tname} {[int(x) for x in t.shape]} @ {t.data_offset} ({t.n_bytes} bytes)")

    if args.expect:
        with open(args.expect, encoding="utf-8") as fh:
            expect = json.load(fh)
        for key, spec in expect.get("kv", {}).items():
            field = fields.get(key)
            if field is None:
                failures.append(f"key {key}: missing")
                continue
            if field.types[0].name != spec["type"]:
                failures.append(f"key {key}: type {field.types[0].name}, expected {spec['type']}")
                continue
            if "element_type" in spec and (len(field.types) < 2 or field.types[1].name != spec["element_type"]):
                got = field.types[1].name if len(field.types) > 1 else "none (empty array)"
                if not (spec.get("value") == [] and len(field.types) < 2):
                    failures.append(f"key {key}: element type {got}, expected {spec['element_type']}")
            if "value" in spec:
                vtype = spec.get("element_type", spec["type"])
                actual = field_value(field)
                if actual is None and spec["value"] == []:
                    actual = []
                if not values_equal(spec["value"], actual, vtype):
                    failures.append(f"key {key}: value {summarize(actual)}, expected {summarize(spec['value'])}")
        extra = set(fields) - set(expect.get("kv", {}))
        if extra:
            failures.append(f"unexpected keys: {summarize(sorted(extra), 200)}")
        tensors = {t.name: t for t in reader.tensors}
        if [t.name for t in reader.tensors] != [s["name"] for s in expect.get("tensors", [])]:
            failures.append(f"tensor names {summarize(list(tensors), 200)} differ from the expected list")
        for spec in expect.get("tensors", []):
            t = tensors.get(spec["name"])
            if t is None:
                continue
            if t.tensor_type.name != spec["type"]:
                failures.append(f"tensor {t.name}: type {t.tensor_type.name}, expected {spec['type']}")
            if [int(x) for x in t.shape] != spec["shape"]:
                failures.append(f"tensor {t.name}: shape {list(t.shape)}, expected {spec['shape']}")
            if int(t.n_bytes) != spec["bytes"]:
                failures.append(f"tensor {t.name}: {t.n_bytes} bytes, expected {spec['bytes']}")
            data = bytes(np.asarray(t.data).view(np.uint8).reshape(-1)[: int(t.n_bytes)])
            if "fnv1a64" in spec and fnv1a64(data) != spec["fnv1a64"]:
                failures.append(f"tensor {t.name}: data checksum differs")

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    status = "FAILED" if failures else "OK"
    print(f"{status}: {len(fields)} keys, {len(reader.tensors)} tensors checked with gguf-python"
          f" {getattr(gguf, '__version__', '')}".rstrip())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
