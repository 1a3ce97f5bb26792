#!/usr/bin/env bash
# The neural engine on the CPU beside ONNX Runtime and PyTorch, in one run, on the same model,
# input sizes and thread count: PlateRestore's Rust engine (`cargo bench --bench nn`), then
# training/bench_runtimes.py. Results go in BENCHMARKS.md with the machine.
#
#   scripts/bench-nn.sh [MODEL.safetensors] [SIZES]      (default: the shipped ×2 model,
#                                                         960x540,1920x1080)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-$(scripts/shipped-model.sh x2)}
sizes=${2:-960x540,1920x1080}
threads=${THREADS:-$(nproc)}
python3 -c "import torch, onnxruntime, onnx" 2>/dev/null || python3 -m pip install -q -r training/requirements.txt
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads $threads"
RAYON_NUM_THREADS=$threads cargo bench --bench nn -- "$model" --sizes "$sizes" --runs 3
python3 training/bench_runtimes.py "$model" --threads "$threads" --sizes "$sizes" --runs 3
