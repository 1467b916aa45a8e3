#!/usr/bin/env python3
"""Builds the GGUF fuzz seed corpus from real model files without copying any weights.

For each model given: `<stem>-meta.gguf` (all metadata, every array cut to 64 elements, no tensors: parses
fully), `<stem>-table.gguf` (that metadata plus the whole tensor table, no data: exercises the table and the
bounds checks) and `<stem>-small.gguf` (the first 24 tensors re-shaped to one block each with zero data:
parses fully with real names and types). Each seed is a few KB to a few tens of KB.

    Fuzz/make-seeds.py weights/smollm2-135m-instruct-q4_1.gguf weights/gemma-3-270m-q4_k_m.gguf
"""
import os, struct, sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "gguf")
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
# ggml type id -> (block size, bytes per block)
BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}
KEEP = 64


class Reader:
    def __init__(self, f):
        self.f = f

    def take(self, fmt):
        n = struct.calcsize(fmt)
        return struct.unpack(fmt, self.f.read(n))[0]

    def string(self):
        return self.f.read(self.take("<Q"))


def enc_str(b):
    return struct.pack("<Q", len(b)) + b


def read_value(r, t):
    """Returns the re-encoded value (arrays cut to KEEP elements)."""
    if t == 8:
        return enc_str(r.string())
    if t == 9:
        et, n = r.take("<I"), r.take("<Q")
        items = [read_value(r, et) for _ in range(n)]
        return struct.pack("<IQ", et, min(n, KEEP)) + b"".join(items[:KEEP])
    fmt = SCALAR[t]
    return struct.pack(fmt, r.take(fmt))


def parse(path):
    with open(path, "rb") as f:
        r = Reader(f)
        assert f.read(4) == b"GGUF"
        version, n_tensors, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
        kvs = []
        for _ in range(n_kv):
            key = r.string()
            t = r.take("<I")
            kvs.append(enc_str(key) + struct.pack("<I", t) + read_value(r, t))
        tensors = []
        for _ in range(n_tensors):
            name = r.string()
            nd = r.take("<I")
            dims = [r.take("<q") for _ in range(nd)]
            t, off = r.take("<I"), r.take("<Q")
            tensors.append((name, dims, t, off))
    return version, kvs, tensors


def tensor_info(name, dims, t, off):
    return enc_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<q", d) for d in dims) + struct.pack("<IQ", t, off)


def write(path, version, kvs, infos, data=b""):
    body = b"GGUF" + struct.pack("<IQQ", version, len(infos), len(kvs)) + b"".join(kvs) + b"".join(infos)
    if data:
        body += b"\0" * (-len(body) % 32) + data
    with open(path, "wb") as f:
        f.write(body)
    return len(body)


def main(paths):
    os.makedirs(OUT, exist_ok=True)
    for p in paths:
        stem = os.path.basename(p).split(".gguf")[0]
        version, kvs, tensors = parse(p)
        sizes = [write(os.path.join(OUT, stem + "-meta.gguf"), version, kvs, [])]
        sizes.append(write(os.path.join(OUT, stem + "-table.gguf"), version, kvs, [tensor_info(*t) for t in tensors]))
        infos, data = [], b""
        for name, dims, t, _ in tensors[:24]:
            bs, bb = BLOCK.get(t, (1, 4))
            t = t if t in BLOCK else 0
            infos.append(tensor_info(name, [bs], t, len(data)))
            data += b"\0" * bb + b"\0" * (-bb % 32)
        sizes.append(write(os.path.join(OUT, stem + "-small.gguf"), version, kvs, infos, data))
        print(f"{stem}: seeds of {sizes} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
