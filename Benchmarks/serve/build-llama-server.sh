#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the sources inside the PyPI sdist of llama-cpp-python==0.3.36
# (vendor/llama.cpp), natively for this CPU, into .peers/ (git-ignored). Nothing of llama.cpp is committed.
#
#   Benchmarks/serve/build-llama-server.sh [--jobs N]     # prints the binary's path on its last line
#
# Takes 15-25 min on 2 cores; runs under `nice -n 15`. Reuses an sdist already in .peers/sdist or
# $EDGELM_SDIST_DIR (default /work/scratch/sdist); otherwise `pip download` fetches it from PyPI.
# Needs cmake and a C/C++ compiler (installed with apt-get when missing and running as root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version=0.3.36
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "Error: unknown option $1; hint: --jobs N" >&2; exit 2 ;;
  esac
done
peers="$root/.peers"
bin="$peers/llama.cpp-build/bin/llama-server"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$peers/sdist"

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v c++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Error: missing ${need_apt[*]}; hint: apt-get install ${need_apt[*]}" >&2; exit 1
  fi
fi

sdist=""
for d in "$peers/sdist" "${EDGELM_SDIST_DIR:-/work/scratch/sdist}"; do
  f="$d/llama_cpp_python-$version.tar.gz"
  if [ -f "$f" ] && tar -tzf "$f" >/dev/null 2>&1; then sdist="$f"; break; fi
done
if [ -z "$sdist" ]; then
  python3 -m pip download --quiet --no-binary :all: --no-deps "llama-cpp-python==$version" -d "$peers/sdist"
  sdist="$peers/sdist/llama_cpp_python-$version.tar.gz"
fi
echo "sdist: $sdist" >&2

src="$peers/llama-cpp-python-$version"
if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
  rm -rf "$src"
  tar -xzf "$sdist" -C "$peers"
  [ -d "$peers/llama_cpp_python-$version" ] && mv "$peers/llama_cpp_python-$version" "$src"
fi
lsrc="$src/vendor/llama.cpp"
[ -f "$lsrc/CMakeLists.txt" ] || { echo "Error: no vendor/llama.cpp in $sdist; hint: delete it and rerun" >&2; exit 1; }

build="$peers/llama.cpp-build"
nice -n 15 cmake -S "$lsrc" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DBUILD_SHARED_LIBS=OFF >&2
nice -n 15 cmake --build "$build" --target llama-server -j "$jobs" >&2
[ -x "$bin" ] || { echo "Error: the build finished without $bin" >&2; exit 1; }
echo "$bin"
