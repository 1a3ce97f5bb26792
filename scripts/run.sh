#!/usr/bin/env bash
# The main job: build the bundle and restore a plate through it with ofxrun.
#   scripts/run.sh                      Inverse Tone Map on the embedded default plate → out/
#   scripts/run.sh -i in.####.png -o out/hdr.####.exr --frames 1-48 --param peakLuminance=1000
# Extra arguments go to `ofxrun render` (see `ofxrun render --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -q -p platerestore-bundle -- build
export OFX_PLUGIN_PATH="$PWD/dist${OFX_PLUGIN_PATH:+:$OFX_PLUGIN_PATH}"
plugin="${PLUGIN:-org.platerestore.InverseToneMap}"
if [ $# -eq 0 ]; then
  set -- -o out/inverse_tone_map.exr --overwrite
fi
cargo run --release -q -p ofx-harness --bin ofxrun -- render "$plugin" "$@"
