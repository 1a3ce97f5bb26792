#!/usr/bin/env bash
# Regenerates the README's Grain pictures from the embedded default plate: the plate, the plate
# with grain, and the grain-only pass (centred on 0.5), each cropped to 480×270 around the
# horizon. Needs the bundle (cargo run -p platerestore-bundle -- build) and Pillow for the crop
# (installed into a temporary folder, not the project).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ofx-harness --bin ofxrun
export OFX_PLUGIN_PATH="$PWD/dist"
run=target/release/ofxrun
mkdir -p docs/images
$run render org.platerestore.Grain -o docs/images/plate_before.png -p amount=0 --overwrite
$run render org.platerestore.Grain -o docs/images/plate_grain.png -p amount=0.02 --overwrite
$run render org.platerestore.Grain -o docs/images/grain_only.png -p amount=0.02 -p outputMode=2 --overwrite
pil=$(mktemp -d)
python3 -m pip install -q --target "$pil" pillow
PYTHONPATH="$pil" python3 - <<'PY'
from PIL import Image
for name in ["plate_before", "plate_grain", "grain_only"]:
    path = f"docs/images/{name}.png"
    Image.open(path).crop((0, 200, 480, 470)).save(path, optimize=True)
PY
rm -rf "$pil"
