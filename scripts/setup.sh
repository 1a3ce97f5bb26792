#!/usr/bin/env bash
# Installs what building and testing PlateRestore needs on a Debian machine that has Rust:
# a C/C++ compiler (the harness's C shim, the kernel emulator), libclang (bindgen, used by
# ofx_sys and for kernels/params.h), Python's pip, and the NVRTC/ptxas wheels that compile the
# CUDA kernels. Everything is skipped when already present, so it is cheap to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v c++ >/dev/null 2>&1 || need+=(g++)
# bindgen looks for libclang.so; the -dev package provides the unversioned name.
if ! ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 && ! ls /usr/lib/x86_64-linux-gnu/libclang*.so >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v python3 >/dev/null 2>&1 || need+=(python3)
# ffmpeg: video input and the sample clip of `ofxrun pipeline`.
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || need+=(ffmpeg)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -x scripts/cuda-tools.sh ]; then
  scripts/cuda-tools.sh
fi

# Open Job Description's CLI (`openjd`), pinned, into target/openjd: the farm-template test runs
# job templates with it locally.
OPENJD_CLI_VERSION="0.8.0"
openjd_dir=target/openjd
if [ ! -f "$openjd_dir/.installed-$OPENJD_CLI_VERSION" ]; then
  echo "setup: installing openjd-cli $OPENJD_CLI_VERSION into $openjd_dir" >&2
  python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$openjd_dir" \
    "openjd-cli==$OPENJD_CLI_VERSION" >&2
  touch "$openjd_dir/.installed-$OPENJD_CLI_VERSION"
fi
