"""How much a temporal average can recover on the validation pan's damage (a study; BENCHMARKS.md,
Restore, gives its figures).

Restore's temporal radius averages aligned neighbours into the frame, so its gain is bounded by
how independent the coding error is from frame to frame. This measures that bound directly: the
pan of training/validate_restore.py (1 px/frame down, 2 right, libx264 CRF 30, 2 B-frames, one
GOP) of a frame, every neighbour aligned with the *known* integer motion (no estimation error)
and averaged with equal weights into the middle frame, radius 1, 2 and 4. A margin of 40 px is
left out, where the shifted neighbours do not cover the frame.

It runs on *training* images (a seeded draw), never on the held-out split, so nothing reported
on that split is tuned here.

    python3 training/temporal_headroom.py [--images 8] [--crf 30] [--seed 0]

Prints, per image, the PSNR (RGB, 8-bit, against the clean frame) of the middle frame and of
the aligned averages, then the mean gains.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from degrade import ffmpeg_video  # noqa: E402
from validate import hr_crop, psnr  # noqa: E402
from validate_restore import pan_clean  # noqa: E402

MARGIN = 40
RADII = (1, 2, 4)


def aligned(frame, t):
    """Frame t of the pan moved onto the middle frame's pixel grid (NaN where it has no
    pixel): frame t shows the picture moved by (t − 4)·(1, 2) px (down, right)."""
    h, w = frame.shape[:2]
    dy, dx = (t - 4) * 1, (t - 4) * 2
    out = np.full(frame.shape, np.nan)
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        frame[max(0, -dy):h + min(0, -dy), max(0, -dx):w + min(0, -dx)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--crf", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.0,
                    help="sigma in code values of independent Gaussian noise added to each clean "
                         "frame before encoding (sensor or generator noise; the reference stays "
                         "noise-free)")
    a = ap.parse_args()
    train, _ = common.split()
    rng = np.random.default_rng(a.seed)
    pick = [train[i] for i in rng.choice(len(train), a.images, replace=False)]
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    rows = []
    print("image | middle frame | " + " | ".join(f"mean r{r}" for r in RADII))
    for src, name, path in pick:
        clean = hr_crop(common.hr_levels(common.load_rgb(path))[-1], 1)
        frames = pan_clean(clean)
        if a.noise > 0:
            frames = [np.clip(np.round(f + rng.normal(0, a.noise, f.shape)), 0, 255).astype(np.uint8)
                      for f in frames]
        decoded = ffmpeg_video(frames, "h264", a.crf, None)
        row = [psnr(decoded[4][inner], clean[inner])]
        for r in RADII:
            stack = np.stack([aligned(decoded[t].astype(np.float64), t)
                              for t in range(4 - r, 5 + r)])
            mean = np.clip(np.round(np.nanmean(stack, axis=0)), 0, 255).astype(np.uint8)
            row.append(psnr(mean[inner], clean[inner]))
        rows.append(row)
        print(f"{src}/{name} | " + " | ".join(f"{v:.2f}" for v in row), flush=True)
    m = np.array(rows)
    gains = (m[:, 1:] - m[:, :1]).mean(axis=0)
    print("mean | " + " | ".join(f"{v:.2f}" for v in m.mean(axis=0)))
    print("gain over the middle frame: " +
          ", ".join(f"r{r} {g:+.2f} dB" for r, g in zip(RADII, gains)))


if __name__ == "__main__":
    main()
