"""Measures a test-time detail scale for an upscaler, taken from the octave below (a study, not
used by the effect yet; BENCHMARKS.md, Upscale, gives its figures).

An upscaler that invents texture where a plate is defocused (FreshFlower) cannot tell from
the plate alone. But the plate is its own ground truth one step down: the net's upscale of the
plate bicubic-downscaled by its factor should give back the plate. Per B×B block of that lower
octave, the least-squares scale of the net's residual (residual · error / residual²,
clamped to [floor, 1]) says how much of its detail is right there; the map, bilinearly
interpolated, scales the residual of the real upscale (×2 or ×4).

    python3 training/octave_scale.py [--model M] [--block 16] [--floor 0.3] \\
        [--conditions clean,jpeg40,x264crf28] [--down box]

Prints, per held-out image and condition, the bare network and the scaled one against
Lanczos (PSNR dB, as training/validate.py measures them), then the means.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from model import lanczos3_up, load_safetensors  # noqa: E402
from validate import hr_crop, make_lr, psnr  # noqa: E402


def tensor(a):
    return torch.from_numpy(np.array(a)).float().div(255).permute(2, 0, 1)[None]


def to8(y):
    return (y[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def skip_and_residual(net, x):
    """The Lanczos-3 upscale of x and what the network adds to it."""
    with torch.no_grad():
        skip = lanczos3_up(x, net.cfg["scale"])
        return skip, net(x) - skip


def octave_map(net, lr, block, floor, down="bicubic"):
    """Per-block residual scale measured one network factor down, at the LR plate's size."""
    h, w = lr.shape[:2]
    s = net.cfg["scale"]
    kernel = {"bicubic": Image.BICUBIC, "box": Image.BOX}[down]
    half = np.asarray(Image.fromarray(lr).resize((w // s, h // s), kernel))
    skip, r = skip_and_residual(net, tensor(half))
    err = tensor(lr)[..., :skip.shape[-2], :skip.shape[-1]] - skip
    num = F.avg_pool2d((r * err).sum(1, keepdim=True), block, ceil_mode=True)
    den = F.avg_pool2d((r * r).sum(1, keepdim=True), block, ceil_mode=True)
    return (num / (den + 1e-12)).clamp(floor, 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundle/models/upscale-x2-v4.safetensors")
    ap.add_argument("--block", type=int, default=16, help="block side, LR pixels")
    ap.add_argument("--floor", type=float, default=0.0, help="smallest scale a block gets")
    ap.add_argument("--conditions", default="clean,jpeg40,x264crf28")
    ap.add_argument("--down", choices=("bicubic", "box"), default="bicubic",
                    help="the octave-down resize (the effect uses box: s x s means)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    net, md = load_safetensors(a.model)
    net.eval()
    assert md["skip"] == "lanczos3", "a network with a Lanczos-3 skip"
    scale = md["scale"]
    conditions = a.conditions.split(",")
    _, val = common.split()
    res = {}
    for _, name, path in val:
        hr = hr_crop(common.hr_levels(common.load_rgb(path))[-1], scale)
        line = f"{name:12s}"
        for cond in conditions:
            lr = make_lr(hr, scale, cond)
            skip, r = skip_and_residual(net, tensor(lr))
            amap = F.interpolate(octave_map(net, lr, a.block, a.floor, a.down), size=r.shape[-2:],
                                 mode="bilinear", align_corners=False)
            lanczos = psnr(to8(skip), hr)
            for kind, y in (("net", skip + r), ("scaled", skip + amap * r)):
                d = psnr(to8(y), hr) - lanczos
                res.setdefault((cond, kind), []).append(d)
                line += f"  {cond} {kind} {d:+.2f}"
        print(line, flush=True)
    for (cond, kind), v in sorted(res.items()):
        print(f"{cond:10s} {kind:7s} mean {np.mean(v):+.3f} dB, worst {min(v):+.2f}, "
              f"{sum(x < 0 for x in v)} of {len(v)} worse than Lanczos")


if __name__ == "__main__":
    main()
