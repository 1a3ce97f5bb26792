#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, lints, every test of every crate
# (CUDA kernels are compiled with NVRTC and executed through the CPU emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Kernels must compile (and not spill) here: the tools were installed by setup.sh.
export PLATERESTORE_REQUIRE_KERNELS=1
# ffmpeg and openjd-cli (video input, farm templates) were installed by setup.sh: their tests
# must run, not skip.
export PLATERESTORE_REQUIRE_TOOLS=1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== training smoke test (a few steps, exported, then loaded by the engine's tests)"
smoke_reqs=$(grep -E '^(torch|numpy|safetensors)==' training/requirements.txt)
python3 -c "import torch, numpy, safetensors" 2>/dev/null || python3 -m pip install -q $smoke_reqs
python3 training/smoke.py --out target/smoke
export PLATERESTORE_SMOKE_DIR="$PWD/target/smoke" PLATERESTORE_REQUIRE_SMOKE=1
echo "== cargo test"
cargo test --workspace
