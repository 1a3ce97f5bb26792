#!/usr/bin/env bash
# Regenerates the README's Grain and Upscale pictures from the embedded default plate: the plate, the plate
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

# Upscale: the built-in plate halved (area) and saved as JPEG quality 40, 4:2:0 — a small,
# compressed plate as generators deliver — then ×2 by Lanczos 3 and by the network, both
# through ofxrun; crops of the colour patches and the resolution wedge.
up=$(mktemp -d)
$run render org.platerestore.Upscale -p method=2 -p factor=1 -o "$up/plate.png" --out-depth byte --overwrite
python3 -m pip install -q --target "$pil" pillow 2>/dev/null || true
PYTHONPATH="$pil" python3 - "$up" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
im = Image.open(f"{d}/plate.png").convert("RGB")
small = im.resize((im.width // 2, im.height // 2), Image.BOX)
small.save(f"{d}/small.jpg", quality=40, subsampling=2)
Image.open(f"{d}/small.jpg").save(f"{d}/small.png")
PY
$run render org.platerestore.Upscale -i "$up/small.png" -p method=2 -o "$up/lanczos.png" --out-depth byte --overwrite
$run render org.platerestore.Upscale -i "$up/small.png" -p method=0 -o "$up/neural.png" --out-depth byte --overwrite
PYTHONPATH="$pil" python3 - "$up" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
box = (20, 330, 420, 520)
Image.open(f"{d}/small.png").resize((960, 540), Image.NEAREST).crop(box).save(
    "docs/images/upscale_input.png", optimize=True)
for name in ["lanczos", "neural"]:
    Image.open(f"{d}/{name}.png").crop(box).save(f"docs/images/upscale_{name}.png", optimize=True)
PY
rm -rf "$up"

# Restore: frame 6 of the sample clip (the built-in plate, H.264 CRF 30, 8-bit: banding in the
# sky, blocks on the ground) before and after Denoise / Restore with its defaults, through
# ofxrun; crops at 1:1 and the sky crop with its contrast stretched ×4 so the bands show.
rs=$(mktemp -d)
$run sample-clip "$rs/clip.mp4" --frames 6
ffmpeg -loglevel error -i "$rs/clip.mp4" -vf "select=eq(n\,5)" -vframes 1 "$rs/plate.png"
$run render org.platerestore.Restore -i "$rs/plate.png" -o "$rs/restored.png" --out-depth byte --overwrite
PYTHONPATH="$pil" python3 - "$rs" <<'PY'
import sys
from PIL import Image
d = sys.argv[1]
sky, ground = (1180, 40, 1660, 310), (40, 560, 520, 830)
for name in ["plate", "restored"]:
    im = Image.open(f"{d}/{name}.png").convert("RGB")
    im.crop(ground).save(f"docs/images/restore_{name}_ground.png", optimize=True)
    s = im.crop(sky)
    s.save(f"docs/images/restore_{name}_sky.png", optimize=True)
    # Contrast ×4 around each channel's crop mean, the same mapping for both.
    base = Image.open(f"{d}/plate.png").convert("RGB").crop(sky)
    means = [sum(c.getdata()) / (c.width * c.height) for c in base.split()]
    chans = [c.point(lambda v, m=m: max(0, min(255, int(round(m + 4 * (v - m))))))
             for c, m in zip(s.split(), means)]
    Image.merge("RGB", chans).save(f"docs/images/restore_{name}_sky_x4.png", optimize=True)
PY
rm -rf "$rs"

# Pipeline: the QC report of the main job (scripts/run.sh must have run: out/genai-plate/report),
# drawn as one picture: the report's before/after crops of the first frame and its summary.
report=out/genai-plate/report
if [ -f "$report/measures.csv" ]; then
PYTHONPATH="$pil" python3 - "$report" <<'PY'
import csv, glob, os, sys
from PIL import Image, ImageDraw, ImageFont
d = sys.argv[1]
first = sorted(glob.glob(f"{d}/crop_*_before.png"), key=lambda p: int(p.split("_")[-2]))[0]
frame = first.split("_")[-2]
before = Image.open(first).convert("RGB")
after = Image.open(f"{d}/crop_{frame}_after.png").convert("RGB")
rows = list(csv.DictReader(open(f"{d}/measures.csv")))
def mean(k):
    v = [float(r[k]) for r in rows if r[k]]
    return sum(v) / len(v) if v else float("nan")
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 15)
bold = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 16)
w, h = before.width, before.height
img = Image.new("RGB", (2 * w + 30, h + 150), (250, 250, 250))
img.paste(before, (10, 40)); img.paste(after, (w + 20, 40))
dr = ImageDraw.Draw(img)
dr.text((10, 12), f"frame {frame}: sample clip, H.264 CRF 30", font=bold, fill=(20, 20, 20))
dr.text((w + 20, 12), "after genai-plate, 4K half EXR", font=bold, fill=(20, 20, 20))
y = h + 52
for name, key, scale in [("blockiness", "blockiness", 1), ("banding %", "banding", 100),
                         ("noise σ (codes)", "noise", 1), ("flicker (codes)", "flicker", 1)]:
    b, a = mean(f"{key}_before") * scale, mean(f"{key}_after") * scale
    dr.text((10, y), f"{name:<18} before {b:7.3f}   after {a:7.3f}", font=font, fill=(40, 40, 40))
    y += 22
img.save("docs/images/pipeline_report.png", optimize=True)
PY
else
  echo "readme-images: run scripts/run.sh first for docs/images/pipeline_report.png" >&2
fi
rm -rf "$pil"
