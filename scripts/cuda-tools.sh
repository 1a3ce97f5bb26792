#!/usr/bin/env bash
# Installs the two CUDA build tools the kernel build needs — NVRTC (libnvrtc.so.12 and its
# builtins) and ptxas — from NVIDIA's Python wheels into target/cuda-tools, so no CUDA toolkit
# and no GPU are needed to compile the kernels. Idempotent: a second run only checks and prints.
#
# Prints the environment build.rs reads (it also finds target/cuda-tools by itself):
#   PLATERESTORE_NVRTC=<path to libnvrtc.so.12>   PLATERESTORE_PTXAS=<path to ptxas>
# Use `eval "$(scripts/cuda-tools.sh --env)"` to export them into the current shell.
set -euo pipefail

# Pinned: the NVRTC and ptxas of one CUDA release, so PTX and cubins are reproducible.
CUDA_TOOLS_VERSION="12.9.86"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="${PLATERESTORE_CUDA_TOOLS:-$root/target/cuda-tools}"
stamp="$dest/.installed-$CUDA_TOOLS_VERSION"

nvrtc="$dest/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"
ptxas="$dest/nvidia/cuda_nvcc/bin/ptxas"

if [ ! -f "$stamp" ] || [ ! -f "$nvrtc" ] || [ ! -x "$ptxas" ]; then
    echo "cuda-tools: installing NVRTC and ptxas $CUDA_TOOLS_VERSION into $dest" >&2
    mkdir -p "$dest"
    python3 -m pip install --quiet --no-deps --upgrade --target "$dest" \
        "nvidia-cuda-nvrtc-cu12==$CUDA_TOOLS_VERSION" \
        "nvidia-cuda-nvcc-cu12==$CUDA_TOOLS_VERSION" >&2
    [ -f "$nvrtc" ] || { echo "cuda-tools: $nvrtc missing after install" >&2; exit 1; }
    [ -x "$ptxas" ] || chmod +x "$ptxas"
    touch "$stamp"
fi

case "${1:-}" in
    --env)
        echo "export PLATERESTORE_NVRTC='$nvrtc'"
        echo "export PLATERESTORE_PTXAS='$ptxas'"
        ;;
    *)
        echo "PLATERESTORE_NVRTC=$nvrtc"
        echo "PLATERESTORE_PTXAS=$ptxas"
        ;;
esac
