#!/usr/bin/env python3
"""Generates the quantization fixtures of FormatFixtureTests ONCE, with llama.cpp's `gguf` Python package
(`gguf.quants.quantize` / `gguf.quants.dequantize`) as the source of truth.

Run from anywhere:  python3 Tests/KernelsTests/Fixtures/make_fixtures.py
Output (next to this script, all little-endian, no headers):
  <type>.input.f32     float32 inputs (quantizable types only: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)
  <type>.quant.bin     gguf.quants.quantize(input) bytes, or random-but-valid blocks for the types gguf cannot
                       quantize (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) and for F16/BF16
  <type>.dequant.f32   gguf.quants.dequantize(quant) as float32
  manifest.json        per type: elements, blocks, file names, whether quantization is checked
The generator is deterministic (fixed seed); re-running it must reproduce the committed files byte for byte.
Note on Q8_0: the committed quant bytes are ggml's *reference* rounding (roundf, id = 1/d). llama.cpp's AVX2
activation quantizer rounds differently (see Sources/Kernels/Quantize+Activations.swift), so the Swift tests
check only Q8_0 dequantization against these files.
"""
import json
import os

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
import gguf.quants as gq

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20250601
LEGACY_BLOCKS = 37   # odd, > 32, so Swift-side splitting exercises tails
K_BLOCKS = 9


def legacy_input(rng: np.random.Generator, blocks: int) -> np.ndarray:
    """Block-wise varied float32 data plus hand-picked edge blocks (zeros, constants, ties, outliers)."""
    x = np.empty((blocks, 32), dtype=np.float32)
    for b in range(blocks):
        scale = np.float32(10.0 ** rng.uniform(-4, 2))
        kind = b % 4
        if kind == 0:
            x[b] = rng.standard_normal(32) * scale
        elif kind == 1:
            x[b] = rng.uniform(-1, 1, 32) * scale
        elif kind == 2:
            x[b] = rng.standard_normal(32) * scale + scale  # shifted: min far from 0 (Q4_1/Q5_1)
        else:
            x[b] = np.abs(rng.standard_normal(32)) * -scale  # all negative
    x[0] = 0.0                                                          # all zeros: d = -0, id = 0
    x[1] = 0.75                                                         # constant block
    x[2] = np.linspace(-1, 1, 32, dtype=np.float32)                     # ties of |max| at both ends
    x[3, :] = rng.standard_normal(32).astype(np.float32) * 0.01
    x[3, 17] = 50.0                                                     # one outlier
    x[4] = (np.arange(32, dtype=np.float32) - 16) / 16                  # exact grid values, .5 boundaries
    x[5] = -x[4]
    x[6] = rng.standard_normal(32).astype(np.float32) * 1e-6            # fp16-subnormal scales
    x[7] = rng.standard_normal(32).astype(np.float32) * 8e3             # large values (still finite in fp16)
    return x.reshape(-1)


def random_blocks(rng: np.random.Generator, qtype: T, blocks: int, f16_fields: list[int]) -> np.ndarray:
    """Random bytes with sane fp16 scale fields (some negative, some subnormal)."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    data = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for b in range(blocks):
        for off in f16_fields:
            if b == blocks - 1:
                v = np.float16(rng.uniform(1e-7, 5e-6))         # subnormal fp16
            else:
                v = np.float16(rng.uniform(1e-4, 0.2) * (1 if rng.random() < 0.8 else -1))
            data[b, off:off + 2] = np.frombuffer(v.tobytes(), dtype=np.uint8)
    return data.reshape(-1)


def write(name: str, array: np.ndarray) -> None:
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(array.tobytes())


def main() -> None:
    rng = np.random.default_rng(SEED)
    manifest = {"generator": "make_fixtures.py", "seed": SEED, "types": {}}

    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        name = qtype.name.lower()
        x = legacy_input(rng, LEGACY_BLOCKS)
        q = gq.quantize(x.reshape(1, -1), qtype).reshape(-1)
        dq = gq.dequantize(q.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        write(f"{name}.input.f32", x)
        write(f"{name}.quant.bin", q)
        write(f"{name}.dequant.f32", dq)
        manifest["types"][qtype.name] = {"elements": int(x.size), "blocks": LEGACY_BLOCKS, "quantize": True,
                                         "input": f"{name}.input.f32", "quant": f"{name}.quant.bin",
                                         "dequant": f"{name}.dequant.f32"}

    k_fields = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
    for qtype, fields in k_fields.items():
        name = qtype.name.lower()
        q = random_blocks(rng, qtype, K_BLOCKS, fields)
        dq = gq.dequantize(q.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        write(f"{name}.quant.bin", q)
        write(f"{name}.dequant.f32", dq)
        manifest["types"][qtype.name] = {"elements": int(dq.size), "blocks": K_BLOCKS, "quantize": False,
                                         "quant": f"{name}.quant.bin", "dequant": f"{name}.dequant.f32"}

    # F16: finite random values plus specials (±0, subnormals, ±max, ±inf).
    f16 = np.concatenate([
        rng.standard_normal(1000).astype(np.float16) * np.float16(100),
        np.array([0.0, -0.0, 6e-8, -6e-8, 6.1e-5, 65504.0, -65504.0, np.inf, -np.inf], dtype=np.float16),
    ])
    write("f16.quant.bin", f16.view(np.uint8))
    write("f16.dequant.f32", gq.dequantize(f16.view(np.uint8), T.F16).astype(np.float32))
    manifest["types"]["F16"] = {"elements": int(f16.size), "blocks": int(f16.size), "quantize": False,
                                "quant": "f16.quant.bin", "dequant": "f16.dequant.f32"}

    # BF16: the top halves of random float32 (gguf's own BF16 quantizer, round to nearest even).
    bf_src = (rng.standard_normal(1001) * 1e3).astype(np.float32)
    bf16 = gq.quantize(bf_src, T.BF16).reshape(-1)
    write("bf16.quant.bin", bf16)
    write("bf16.dequant.f32", gq.dequantize(bf16, T.BF16).reshape(-1).astype(np.float32))
    manifest["types"]["BF16"] = {"elements": int(bf_src.size), "blocks": int(bf_src.size), "quantize": False,
                                 "quant": "bf16.quant.bin", "dequant": "bf16.dequant.f32"}

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
