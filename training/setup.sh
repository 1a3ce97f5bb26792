#!/usr/bin/env bash
# Install the training requirements and fetch + unpack the training images into
# target/training-data/ (ignored by git). Idempotent: skips whatever is already present.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=target/training-data
mkdir -p "$DATA/deb" "$DATA/pip" "$DATA/unpacked" "$DATA/sporco" "$DATA/imgaug"

if ! python3 -c "import torch, numpy, PIL, safetensors, skimage, matplotlib, onnx, onnxruntime" 2>/dev/null; then
  python3 -m pip install -r training/requirements.txt
fi

if ! command -v ffmpeg >/dev/null; then
  apt-get update
  apt-get install -y ffmpeg
fi

# Debian wallpaper packages: downloaded and unpacked, not installed.
for pkg in mate-backgrounds plasma-workspace-wallpapers; do
  if [ ! -d "$DATA/unpacked/usr/share/doc/$pkg" ]; then
    if ! ls "$DATA/deb/${pkg}"_*.deb >/dev/null 2>&1; then
      (cd "$DATA/deb" && apt-get download "$pkg" || { apt-get update && apt-get download "$pkg"; })
    fi
    dpkg -x "$(ls "$DATA/deb/${pkg}"_*.deb | head -1)" "$DATA/unpacked"
  fi
done

# sporco's test images and imgaug's quokka come out of their wheels (no install).
if [ ! -f "$DATA/sporco/sporco/data/kodim23.png" ]; then
  ls "$DATA"/pip/sporco-*.whl >/dev/null 2>&1 || python3 -m pip download --no-deps -d "$DATA/pip" sporco==0.2.2.post1
  python3 -m zipfile -e "$(ls "$DATA"/pip/sporco-*.whl | head -1)" "$DATA/sporco"
fi
if [ ! -f "$DATA/imgaug/quokka.jpg" ]; then
  ls "$DATA"/pip/imgaug-0.4.0-*.whl >/dev/null 2>&1 || python3 -m pip download --no-deps -d "$DATA/pip" imgaug==0.4.0
  python3 - "$DATA" <<'PY'
import glob, sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(glob.glob(f"{d}/pip/imgaug-0.4.0-*.whl")[0]) as z:
    open(f"{d}/imgaug/quokka.jpg", "wb").write(z.read("imgaug/quokka.jpg"))
PY
fi

# Every listed image must load offline (skimage and matplotlib samples come with the packages).
python3 - <<'PY'
import sys
sys.path.insert(0, "training")
import common
missing = [str(p) for _, _, p in common.image_list() if not p.exists()]
if missing:
    sys.exit("missing training images: " + ", ".join(missing))
tr, va = common.split()
print(f"setup: {len(tr)} training and {len(va)} validation images present")
PY
