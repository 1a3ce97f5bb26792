#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, lints, every test of every crate
# (CUDA kernels are compiled with NVRTC and executed through the CPU emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Kernels must compile (and not spill) here: the tools were installed by setup.sh.
export PLATERESTORE_REQUIRE_KERNELS=1
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
