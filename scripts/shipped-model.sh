#!/usr/bin/env bash
# Prints the file of the network that Upscale ships by default for x2 or x4, read from the one
# place that decides it (SHIPPED_X2 / SHIPPED_X4 in src/effects/upscale.rs), so the bench
# scripts time what users run:
#   scripts/shipped-model.sh x2     ->  bundle/models/<SHIPPED_X2>.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-x2}" in
  x2) key=SHIPPED_X2 ;;
  x4) key=SHIPPED_X4 ;;
  *) echo "usage: scripts/shipped-model.sh x2|x4" >&2; exit 2 ;;
esac
name=$(sed -n "s/^pub const $key: &str = \"\([^\"]*\)\";.*/\1/p" src/effects/upscale.rs)
[ -n "$name" ] || { echo "shipped-model.sh: $key not found in src/effects/upscale.rs" >&2; exit 1; }
echo "bundle/models/$name.safetensors"
