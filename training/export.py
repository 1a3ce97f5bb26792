"""Export a trained checkpoint: the PlateRestore model file, its test vector and ONNX.

    python3 training/export.py --name upscale-x2

reads target/training/<name>/ckpt.pt (+ validation.json if present) and writes
  bundle/models/<name>.safetensors          the shipped weights (F32) + `platerestore` metadata
  tests/data/nn/<name>.vector.safetensors   `input` (1,3,37,37) from a real image crop, `output`
  target/training/<name>/<name>.onnx        opset 17, dynamic H/W (not shipped: for comparisons)
and checks the reloaded file and ONNX Runtime against PyTorch.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from model import (export_onnx, export_safetensors, from_metadata, load_safetensors,  # noqa: E402
                   write_vector)

VECTOR_SIZE = 37   # odd on purpose: exercises edge handling and non-multiple-of-tile sizes

DEGRADATIONS = (
    "random area/bicubic/Lanczos downscale; 30 % clean (downscale only); otherwise: Gaussian blur "
    "sigma 0.3-0.8 HR px before the downscale (20 %), Gaussian noise sigma 0.5-3 code values (30 %), "
    "8-bit banding of smooth regions in steps of 3-8 (15 %), then one of JPEG q15-70 4:2:0 (30 %), "
    "double JPEG q30-90 then q15-70 shifted by 1-7 px (15 %), x264 CRF 23-38 (25 %) or x265 "
    "CRF 23-38 (20 %) of a 6-8 frame pan with B-frames taking an inter frame (yuv420p, "
    "accurate RGB/YUV rounding), none (10 %); always 8-bit")

DATA = ("Debian mate-backgrounds (nature/ photographs, GPL-2+), Debian "
        "plasma-workspace-wallpapers 5.27 (11 photographs, GPL-2+), PyPI sporco 0.2.2 data/ "
        "(test images stated public domain or freely redistributable), scikit-image 0.26 "
        "bundled samples (astronaut, coffee, chelsea, rocket, motorcycle_left), matplotlib "
        "grace_hopper, imgaug 0.4.0 quokka; 10 images held out for validation")


def vector_crop():
    """A 37 x 37 crop of skimage's astronaut (bundled with the package, face and edges)."""
    import skimage.data
    img = skimage.data.astronaut()
    return img[150:150 + VECTOR_SIZE, 200:200 + VECTOR_SIZE]


def load_ckpt(path):
    ck = torch.load(path, weights_only=False)
    c = ck["cfg"]
    m = from_metadata(c)
    m.load_state_dict(ck["model"])
    return m.eval(), ck


def export_all(model, name, task, training, model_path, vector_path, onnx_dir_ok, onnx_fallback):
    md = export_safetensors(model, model_path, name, task, training=training)
    back, md2 = load_safetensors(model_path)
    assert md2 == md
    crop = vector_crop()
    x, y = write_vector(model, vector_path, crop)
    with torch.no_grad():
        assert torch.equal(back(x), y), "reloaded model differs"
    for p in (model_path, vector_path):
        os.chmod(p, 0o644)   # safetensors writes 0600
    onnx_path = None
    try:
        onnx_path = onnx_dir_ok
        export_onnx(model, onnx_path)
        if os.path.getsize(onnx_path) >= 2 * 1024 * 1024:
            os.replace(onnx_path, onnx_fallback)
            onnx_path = onnx_fallback
        import onnxruntime as ort
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        yo = sess.run(None, {"input": x.numpy()})[0]
        err = float(np.abs(yo - y.numpy()).max())
        print(f"onnxruntime vs PyTorch max abs diff {err:.2e}")
        assert err < 1e-4
    except ImportError as e:
        print("ONNX export skipped:", e)
    return md, onnx_path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="upscale-x2")
    ap.add_argument("--command", default="", help="the reproduce command, for the metadata")
    a = ap.parse_args()
    work = common.WORK / a.name
    model, ck = load_ckpt(work / "ckpt.pt")
    args = ck["args"]
    val = {}
    vp = work / "validation.json"
    if vp.exists():
        v = json.loads(vp.read_text())
        val = {k: v["mean"][k]["psnr"] for k in v["mean"]}
    training = dict(
        data=DATA, degradations=DEGRADATIONS, steps=ck["step"],
        loss=f"{args['loss'].upper()} on sRGB code values 0..1, Adam lr {args['lr']} cosine to "
             f"{args['lr_min']}, batch {args['batch']} of {args['patch']}x{args['patch']} LR patches",
        command=a.command or f"training/reproduce.sh {a.name}",
        validation=dict(note="mean PSNR dB over held-out images (RGB 8-bit), see the model card",
                        **val),
        seed=args["seed"], wall_seconds=round(ck["elapsed"]))
    models = common.REPO / "bundle" / "models"
    vectors = common.REPO / "tests" / "data" / "nn"
    models.mkdir(parents=True, exist_ok=True)
    vectors.mkdir(parents=True, exist_ok=True)
    md, onnx_path = export_all(model, a.name, args["task"], training,
                               models / f"{a.name}.safetensors",
                               vectors / f"{a.name}.vector.safetensors",
                               # The bundle ships safetensors only; the ONNX file is for
                               # comparisons with other runtimes (training/bench_runtimes.py).
                               work / f"{a.name}.onnx", work / f"{a.name}.onnx")
    print("exported", models / f"{a.name}.safetensors",
          os.path.getsize(models / f"{a.name}.safetensors"), "bytes;", onnx_path)


if __name__ == "__main__":
    main()
