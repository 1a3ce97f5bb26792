"""Validate a restoration network (and the Restore effect) on the held-out images against
ffmpeg's classical denoisers, each at its best setting of a small grid.

    python3 training/validate_restore.py --model bundle/models/restore-v3.safetensors \
        [--ofxrun target/release/ofxrun] [--name restore-v3] [--skip-filters]
        [--param ID=VALUE ...] [--single-frames]

Per held-out image: the clean frame = the image (wallpapers area-downscaled by 2 as in
training), centre crop up to 768 x 768, even sides. Conditions, all 8-bit RGB:
  clean      the frame itself (a restorer should change almost nothing: PSNR vs the input)
  jpeg30     PIL JPEG quality 30, 4:2:0
  x264crf30  a 9-frame pan (2 px/frame right, 1 px/frame down) of the frame, libx264 CRF 30,
             preset medium, 2 B-frames, one GOP, yuv420p; the middle frame (a P or B frame)
Methods on the same degraded frame: the input itself, the network (PyTorch, rounded to
8-bit), the Restore effect through ofxrun (default parameters, Neural and Classical, 8-bit
output; on the x264 pan also temporal radius 0/1/2 and their flicker), and ffmpeg's
hqdn3d, nlmeans, vaguedenoiser, spp and dctdnoiz, each at the best of the settings in FILTERS
for that condition (so the classical figures are, if anything, flattered). PSNR (RGB, 8-bit,
whole frame) and SSIM (skimage, channel_axis, data_range 255) against the clean frame.
--param adds an effect parameter to every render (e.g. `--param "selfEnsemble=8 orientations (8×
the time)"`); --single-frames renders the neural effect on the single frames only (no classical
mode, no temporal sequences: what a parameter's effect on the three conditions needs).
Writes target/training/<name>/validation-restore.{json,md}.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from degrade import ffmpeg_video, jpeg  # noqa: E402
from model import load_safetensors  # noqa: E402
from validate import effect_up, ffmpeg_png, hr_crop, net_up, psnr, ssim  # noqa: E402

CONDITIONS = ["clean", "jpeg30", "x264crf30"]
FILTERS = {
    "hqdn3d": ["hqdn3d", "hqdn3d=6:4.5:9:6.75", "hqdn3d=10:7.5:15:11"],
    "nlmeans": ["nlmeans", "nlmeans=s=2", "nlmeans=s=4"],
    "vaguedenoiser": ["vaguedenoiser", "vaguedenoiser=threshold=4", "vaguedenoiser=threshold=8"],
    "spp": ["spp=4", "spp=5:6", "spp=5:12"],
    "dctdnoiz": ["dctdnoiz=sigma=2", "dctdnoiz=sigma=4.5", "dctdnoiz=sigma=8"],
}


def pan_clean(clean):
    """The 9 clean frames of a small pan (1 px/frame down, 2 right): crops of an edge-padded
    copy; frame 4 is the image itself."""
    pad = 16
    big = np.pad(clean, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    h, w = clean.shape[:2]
    frames = []
    for t in range(9):
        dy, dx = pad + (t - 4) * 1, pad + (t - 4) * 2
        frames.append(np.ascontiguousarray(big[dy:dy + h, dx:dx + w]))
    return frames


def pan_frames(clean, crf):
    """Every decoded frame of the pan, libx264 at `crf` with B-frames (one GOP)."""
    return ffmpeg_video(pan_clean(clean), "h264", crf, None)


def pan_frame(clean, crf):
    """The middle frame of the pan (a P or B frame)."""
    return pan_frames(clean, crf)[4]


def effect_sequence(frames, tmp, ofxrun, params, render):
    """The Restore effect through ofxrun on a PNG sequence (1-based frame numbers), rendering
    the frames in `render`; returns {frame: 8-bit output}."""
    seq = os.path.join(tmp, "pan")
    os.makedirs(seq, exist_ok=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(os.path.join(seq, f"in.{i + 1:04d}.png"))
    cmd = [ofxrun, "render", "org.platerestore.Restore", "-i", os.path.join(seq, "in.####.png"),
           "-o", os.path.join(seq, "out.####.png"), "--frames", f"{min(render)}-{max(render)}",
           "--out-depth", "byte", "--overwrite"]
    for p in params:
        cmd += ["-p", p]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return {f: np.asarray(Image.open(os.path.join(seq, f"out.{f:04d}.png")).convert("RGB"))
            for f in render}


def temporal_error(outs, cleans):
    """Flicker: RMS of (out[t+1] − out[t]) − (clean[t+1] − clean[t]) in code values, averaged
    over consecutive pairs (0 = the output moves exactly as the picture does)."""
    keys = sorted(outs)
    e = []
    for a, b in zip(keys, keys[1:]):
        d = (outs[b].astype(np.float64) - outs[a]) - (cleans[b].astype(np.float64) - cleans[a])
        e.append(np.sqrt(np.mean(d ** 2)))
    return float(np.mean(e))


def degraded(clean, cond):
    if cond == "clean":
        return clean
    if cond == "jpeg30":
        return jpeg(clean, 30)
    return pan_frame(clean, 30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--name", default="restore-v3")
    ap.add_argument("--ofxrun")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-filters", action="store_true",
                    help="leave out ffmpeg's filters (their figures do not depend on the model)")
    ap.add_argument("--param", action="append", default=[],
                    help="ID=VALUE: an effect parameter added to every render (repeatable)")
    ap.add_argument("--single-frames", action="store_true",
                    help="the neural effect on the single frames only (no classical mode, no "
                         "temporal sequences)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_safetensors(a.model)[0]
    _, val = common.split()
    rows = []
    flicker = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for src, name, path in val:
            clean = hr_crop(common.hr_levels(common.load_rgb(path))[-1], 1)
            for cond in CONDITIONS:
                x = degraded(clean, cond)
                ref = x if cond == "clean" else clean

                def add(method, out, setting=""):
                    rows.append(dict(image=f"{src}/{name}", size=f"{clean.shape[1]}x{clean.shape[0]}",
                                     condition=cond, method=method, setting=setting,
                                     psnr=round(psnr(out, ref), 3), ssim=round(ssim(out, ref), 4)))

                add("input", x)
                add("net", net_up(model, x))
                if a.ofxrun:
                    methods = (("effect-neural", "Neural"), ("effect-classical", "Classical (fast)"))
                    for tag, meth in methods[:1] if a.single_frames else methods:
                        add(tag, effect_up(x, tmp, a.ofxrun, [f"modelFile={os.path.abspath(a.model)}",
                                                             "device=CPU", f"method={meth}"] + a.param,
                                           "org.platerestore.Restore"))
                if a.ofxrun and cond == "x264crf30" and not a.single_frames:
                    # Temporal radius 0/1/2 on the decoded pan (frames 1..9, frame 5 the
                    # middle); frames 3..7 rendered for the flicker figure.
                    dec = pan_frames(clean, 30)
                    cleans = {i + 1: f for i, f in enumerate(pan_clean(clean))}
                    base = [f"modelFile={os.path.abspath(a.model)}", "device=CPU"] + a.param
                    inputs = {i + 1: f for i, f in enumerate(dec)}
                    flicker[f"{src}/{name}"] = {"input": temporal_error(
                        {k: inputs[k] for k in range(3, 8)}, cleans)}
                    for radius in (0, 1, 2):
                        for meth in ("Neural", "Classical (fast)"):
                            outs = effect_sequence(dec, tmp, a.ofxrun,
                                                   base + [f"temporalRadius={radius}",
                                                           f"method={meth}"], range(3, 8))
                            tag = f"{'neural' if meth == 'Neural' else 'classical'}-r{radius}"
                            add(f"effect-{tag}", outs[5])
                            flicker[f"{src}/{name}"][tag] = temporal_error(outs, cleans)
                if cond == "clean" or a.skip_filters:
                    continue
                for filt, settings in FILTERS.items():
                    best = None
                    for vf in settings:
                        out = ffmpeg_png(x, vf, tmp)
                        p = psnr(out, ref)
                        if best is None or p > best[0]:
                            best = (p, out, vf)
                    add(filt, best[1], best[2])
            print(f"{src}/{name}: " + ", ".join(
                f"{r['condition']} {r['method']} {r['psnr']:.2f}" for r in rows
                if r["image"] == f"{src}/{name}" and r["method"] in ("input", "net", "effect-neural", "effect-classical")),
                flush=True)
    out = common.WORK / a.name
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(rows)
    if flicker:
        tags = list(next(iter(flicker.values())))
        md += "\n\n**Flicker on the x264 CRF 30 pan** — RMS of (Δout − Δclean) between consecutive " \
              "frames 3..7, code values (lower is steadier)\n\n| image | " + " | ".join(tags) + \
              " |\n|---|" + "---|" * len(tags) + "\n"
        for img, v in flicker.items():
            md += f"| {img} | " + " | ".join(f"{v[t]:.3f}" for t in tags) + " |\n"
        md += "| **mean** | " + " | ".join(
            f"**{np.mean([v[t] for v in flicker.values()]):.3f}**" for t in tags) + " |\n"
    (out / "validation-restore.json").write_text(json.dumps(
        dict(rows=rows, flicker=flicker, seconds=round(time.time() - t0, 1),
             protocol=__doc__.split("\n\n", 2)[2].strip()), indent=1))
    (out / "validation-restore.md").write_text(md + "\n")
    print(md)


def markdown(rows):
    images = list(dict.fromkeys(r["image"] for r in rows))
    out = [f"### Restoration on {len(images)} held-out images", ""]
    for c in CONDITIONS:
        ms = list(dict.fromkeys(r["method"] for r in rows if r["condition"] == c))
        what = "PSNR dB / SSIM against the input (unchanged = ∞)" if c == "clean" else \
            "PSNR dB / SSIM against the clean frame"
        out += [f"**{c}** — {what}", "", "| image | " + " | ".join(ms) + " |",
                "|---|" + "---|" * len(ms)]
        for i in images:
            cells = []
            for m in ms:
                r = next(r for r in rows if r["image"] == i and r["condition"] == c and r["method"] == m)
                cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}")
            out.append(f"| {i} | " + " | ".join(cells) + " |")
        means = []
        for m in ms:
            rs = [r for r in rows if r["condition"] == c and r["method"] == m]
            means.append(f"**{np.mean([r['psnr'] for r in rs]):.2f} / {np.mean([r['ssim'] for r in rs]):.4f}**")
        out.append("| **mean** | " + " | ".join(means) + " |")
        out.append("")
        if c != "clean":
            for m in ms:
                if m == "input":
                    continue
                g = [next(r["psnr"] for r in rows if r["image"] == i and r["condition"] == c and r["method"] == m)
                     - next(r["psnr"] for r in rows if r["image"] == i and r["condition"] == c and r["method"] == "input")
                     for i in images]
                out.append(f"- {m} − input: mean {np.mean(g):+.2f} dB, worst {np.min(g):+.2f} dB, "
                           f"{sum(x < 0 for x in g)} image(s) worse than the input")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
