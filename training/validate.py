"""Validate a trained network on the held-out images against ffmpeg's classical scalers.

    python3 training/validate.py --name upscale-x2 [--model FILE.safetensors | --ckpt FILE]

Per held-out image: HR = the image (wallpapers area-downscaled by 2 as in training), centre crop
up to 768 x 768, sides divisible by 2 x scale. LR = PIL bicubic (antialiased) downscale of HR,
then one of three conditions:
  clean   LR stored as PNG
  jpeg40  PIL JPEG quality 40, 4:2:0
  x264    libx264 CRF 28, preset medium, yuv420p (accurate RGB/YUV rounding), one frame,
          so an I frame
Each method upsamples the SAME 8-bit LR: the network (PyTorch, output rounded to 8-bit),
`ffmpeg -vf scale=iw*S:ih*S:flags=lanczos` and `flags=bicubic` run on the LR PNG, and for the
compressed conditions ffmpeg hqdn3d and nlmeans (defaults) followed by the same Lanczos scale.
With --ofxrun, also the Upscale effect rendered through ofxrun on the same 8-bit LR PNG (default
parameters, the model given by --model; "effect-nolock" with Colour lock off;
"effect-adaptive" with Adaptive detail on; "effect-ens4", "effect-ens8",
"effect-adaptive-ens8" with Self-ensemble over 4 or 8 orientations (and Adaptive detail); at ×4 with --twice, "effect-x2-twice": Neural ×4
from a ×2 model applied twice), written 8-bit.
PSNR (RGB, 8-bit, whole image, no border shave) and SSIM (skimage, channel_axis, data_range 255)
against the clean HR. Writes target/training/<name>/validation.{json,md}.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from skimage.metrics import structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from degrade import ffmpeg_intra, jpeg  # noqa: E402
from model import from_metadata, load_safetensors  # noqa: E402

CONDITIONS = ["clean", "jpeg40", "x264crf28"]
MAX_HR = 768


def hr_crop(img, scale):
    h, w = img.shape[:2]
    q = 2 * scale
    ch, cw = min(h, MAX_HR) // q * q, min(w, MAX_HR) // q * q
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def make_lr(hr, scale, cond):
    h, w = hr.shape[:2]
    lr = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC)) \
        if scale > 1 else hr
    if cond == "jpeg40":
        lr = jpeg(lr, 40)
    elif cond == "x264crf28":
        lr = ffmpeg_intra(lr, 28)
    return lr


def ffmpeg_png(lr, vf, tmp):
    src, dst = os.path.join(tmp, "lr.png"), os.path.join(tmp, "out.png")
    Image.fromarray(lr).save(src)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src, "-vf", vf,
                    "-pix_fmt", "rgb24", dst], check=True)
    return np.asarray(Image.open(dst).convert("RGB"))


def effect_up(lr, tmp, ofxrun, params, plugin="org.platerestore.Upscale"):
    """A PlateRestore effect itself, rendered through ofxrun (8-bit PNG in, 8-bit PNG out)."""
    src, dst = os.path.join(tmp, "lr.png"), os.path.join(tmp, "effect.png")
    Image.fromarray(lr).save(src)
    cmd = [ofxrun, "render", plugin, "-i", src, "-o", dst, "--out-depth",
           "byte", "--overwrite"]
    for p in params:
        cmd += ["-p", p]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return np.asarray(Image.open(dst).convert("RGB"))


def net_up(model, lr):
    x = torch.from_numpy(np.array(lr)).float().div(255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model(x)[0].permute(1, 2, 0).numpy()
    return np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def ssim(a, b):
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def load_model(a):
    if a.model:
        return load_safetensors(a.model)[0]
    ck = torch.load(a.ckpt or common.WORK / a.name / "ckpt.pt", weights_only=False)
    c = ck["cfg"]
    m = from_metadata(c)
    m.load_state_dict(ck["model"])
    return m.eval()


# The methods whose gain over Lanczos is summarised per condition.
GAIN_METHODS = ("net", "effect", "effect-nolock", "effect-adaptive", "effect-x2-twice",
                "effect-ens4", "effect-ens8", "effect-adaptive-ens8")


def evaluate(model, scale, out_dir, say=print, effect=None, twice=None, only=None):
    """`effect`: (ofxrun path, model file) to also measure the Upscale effect as shipped
    (Colour lock and flat-area gate on), with Colour lock off, and with Adaptive detail on. `twice`: at ×4, a ×2 model file the effect also applies twice ("effect-x2-twice":
    Neural ×4 without a ×4 model). `only`: the methods to run (default: all)."""
    _, val = common.split()
    S = scale
    methods = {
        "net": None,
        "lanczos": f"scale=iw*{S}:ih*{S}:flags=lanczos",
        "bicubic": f"scale=iw*{S}:ih*{S}:flags=bicubic",
        "hqdn3d+lanczos": f"hqdn3d,scale=iw*{S}:ih*{S}:flags=lanczos",
        "nlmeans+lanczos": f"nlmeans,scale=iw*{S}:ih*{S}:flags=lanczos",
    }
    if effect:
        ofxrun, model_file = effect
        base = [f"modelFile={model_file}", "device=CPU", f"method={'1' if S == 4 else '0'}"]
        methods["effect"] = ("effect", base)
        methods["effect-nolock"] = ("effect", base + ["colourLock=false"])
        methods["effect-adaptive"] = ("effect", base + ["adaptiveDetail=true"])
        # Self-ensemble: the network's mean over 4 or 8 flips and transpositions.
        ens = {n: f"selfEnsemble={n} orientations ({n}× the time)" for n in (4, 8)}
        methods["effect-ens4"] = ("effect", base + [ens[4]])
        methods["effect-ens8"] = ("effect", base + [ens[8]])
        methods["effect-adaptive-ens8"] = ("effect", base + ["adaptiveDetail=true", ens[8]])
        if twice and S == 4:
            methods["effect-x2-twice"] = ("effect", [f"modelFile={twice}", "device=CPU", "method=1"])
    if only:
        unknown = set(only) - set(methods)
        if unknown:
            raise SystemExit(f"--methods: unknown {sorted(unknown)}; these run: {list(methods)}")
        methods = {m: v for m, v in methods.items() if m in only}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for src, name, path in val:
            hr = hr_crop(common.hr_levels(common.load_rgb(path))[-1], S)
            for cond in CONDITIONS:
                lr = make_lr(hr, S, cond)
                for meth, vf in methods.items():
                    if meth.startswith(("hqdn3d", "nlmeans")) and cond == "clean":
                        continue
                    if vf is None:
                        up = net_up(model, lr)
                    elif isinstance(vf, tuple):
                        up = effect_up(lr, tmp, effect[0], vf[1])
                    else:
                        up = ffmpeg_png(lr, vf, tmp)
                    assert up.shape == hr.shape, (up.shape, hr.shape)
                    rows.append(dict(image=f"{src}/{name}", size=f"{hr.shape[1]}x{hr.shape[0]}",
                                     condition=cond, method=meth, psnr=round(psnr(up, hr), 3),
                                     ssim=round(ssim(up, hr), 4)))
            say(f"{src}/{name}: " + ", ".join(
                f"{r['condition']} {r['method']} {r['psnr']:.2f}" for r in rows
                if r["image"] == f"{src}/{name}" and r["method"] in ("net", "lanczos")))
    return rows


def summarise(rows):
    conds = [c for c in CONDITIONS if any(r["condition"] == c for r in rows)]
    meths = list(dict.fromkeys(r["method"] for r in rows))
    images = list(dict.fromkeys(r["image"] for r in rows))
    mean = {}
    for c in conds:
        for m in meths:
            rs = [r for r in rows if r["condition"] == c and r["method"] == m]
            if rs:
                mean[f"{c}/{m}"] = dict(psnr=round(float(np.mean([r["psnr"] for r in rs])), 3),
                                        ssim=round(float(np.mean([r["ssim"] for r in rs])), 4))
    checks = {}
    for c in conds:
        for m in [m for m in GAIN_METHODS if m in meths]:
            gains = [next(r["psnr"] for r in rows if r["image"] == i and r["condition"] == c and r["method"] == m)
                     - next(r["psnr"] for r in rows if r["image"] == i and r["condition"] == c and r["method"] == "lanczos")
                     for i in images]
            key = c if m == "net" else f"{c}/{m}"
            checks[key] = dict(mean_gain_over_lanczos_db=round(float(np.mean(gains)), 3),
                               min_gain_over_lanczos_db=round(float(np.min(gains)), 3),
                               images_worse_than_lanczos=int(sum(g < 0 for g in gains)))
    return conds, meths, images, mean, checks


def markdown(rows, title):
    conds, meths, images, mean, checks = summarise(rows)
    out = [f"### {title}", ""]
    for c in conds:
        ms = [m for m in meths if any(r["condition"] == c and r["method"] == m for r in rows)]
        out.append(f"**{c}** — PSNR dB / SSIM")
        out.append("")
        out.append("| image | size (HR) | " + " | ".join(ms) + " |")
        out.append("|---|---|" + "---|" * len(ms))
        for i in images:
            cells = []
            for m in ms:
                r = next(r for r in rows if r["image"] == i and r["condition"] == c and r["method"] == m)
                cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}")
            size = next(r["size"] for r in rows if r["image"] == i)
            out.append(f"| {i} | {size} | " + " | ".join(cells) + " |")
        out.append("| **mean** | | " + " | ".join(
            f"**{mean[f'{c}/{m}']['psnr']:.2f} / {mean[f'{c}/{m}']['ssim']:.4f}**" for m in ms) + " |")
        out.append("")
        for m in [m for m in GAIN_METHODS if m in ms]:
            k = checks[c if m == "net" else f"{c}/{m}"]
            out.append(f"{m} − Lanczos: mean {k['mean_gain_over_lanczos_db']:+.2f} dB, worst image "
                       f"{k['min_gain_over_lanczos_db']:+.2f} dB, {k['images_worse_than_lanczos']} "
                       f"image(s) worse than Lanczos.")
            out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="upscale-x2")
    ap.add_argument("--model", help="a .safetensors model file (default: the checkpoint)")
    ap.add_argument("--ckpt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ofxrun", help="also measure the Upscale effect through this ofxrun "
                    "(OFX_PLUGIN_PATH must find the bundle; needs --model)")
    ap.add_argument("--twice", help="with --ofxrun at x4: a x2 model file the effect also "
                    "applies twice, for comparison")
    ap.add_argument("--methods", help="comma-separated methods to run (default: all; Lanczos "
                    "is needed for the gains), e.g. lanczos,effect,effect-adaptive")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_model(a)
    t0 = time.time()
    effect = (a.ofxrun, os.path.abspath(a.model)) if a.ofxrun and a.model else None
    twice = os.path.abspath(a.twice) if a.twice else None
    only = a.methods.split(",") if a.methods else None
    rows = evaluate(model, model.cfg["scale"], None, effect=effect, twice=twice, only=only)
    out = common.WORK / a.name
    out.mkdir(parents=True, exist_ok=True)
    conds, meths, images, mean, checks = summarise(rows)
    (out / "validation.json").write_text(json.dumps(
        dict(rows=rows, mean=mean, checks=checks, seconds=round(time.time() - t0, 1),
             protocol=__doc__.split("\n\n", 2)[2].strip()), indent=1))
    md = markdown(rows, f"Validation of {a.name} on {len(images)} held-out images")
    (out / "validation.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
