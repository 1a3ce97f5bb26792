#!/usr/bin/env bash
# Runs the Open Job Description CLI that scripts/setup.sh installed into target/openjd, e.g.
#   scripts/openjd.sh check out/genai-plate.openjd.json
#   scripts/openjd.sh run out/genai-plate.openjd.json --step Render
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="${PLATERESTORE_OPENJD:-$root/target/openjd}"
[ -x "$dir/bin/openjd" ] || { echo "openjd: not installed in $dir; run scripts/setup.sh" >&2; exit 127; }
PYTHONPATH="$dir${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$dir/bin/openjd" "$@"
