#!/usr/bin/env bash
# The main job: build the bundle, then run the gen-AI plate pipeline (Restore → Upscale ×2 →
# Grain → half-float PIZ EXR) through ofxrun, with a QC report.
#   scripts/run.sh                          the sample clip (written by ofxrun sample-clip:
#                                           12 frames of a compressed, banded 1080p 8-bit
#                                           H.264 clip) → out/genai-plate/ 4K EXR + report
#   scripts/run.sh -i shot.mp4 -o out/shot/plate.####.exr --frames 1-48
#   PIPELINE=pipelines/genai-plate-hdr.toml scripts/run.sh     the PQ Rec.2020 variant
# Extra arguments go to `ofxrun pipeline` (see `ofxrun pipeline --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -q -p platerestore-bundle -- build
cargo build --release -q -p ofx-harness --bin ofxrun
export OFX_PLUGIN_PATH="$PWD/dist${OFX_PLUGIN_PATH:+:$OFX_PLUGIN_PATH}"
ofxrun=target/release/ofxrun
pipeline="${PIPELINE:-pipelines/genai-plate.toml}"
name=$(basename "$pipeline" .toml)
if [ $# -eq 0 ]; then
  clip=out/sample-clip.mp4
  [ -f "$clip" ] || "$ofxrun" sample-clip "$clip"
  set -- -i "$clip" -o "out/$name/plate.####.exr" --report "out/$name/report" --overwrite
fi
"$ofxrun" pipeline "$pipeline" "$@"
if [ -f "out/$name/report/index.html" ]; then
  echo "plates: $PWD/out/$name/  report: $PWD/out/$name/report/index.html"
fi
