"""Build the cache of degraded training pairs once: HR crops (uint8) and their LR (uint8).

    python3 training/prepare.py --scale 2 --crops 4000 --seed 1

writes target/training/cache-x{scale}-s{seed}-n{crops}-d{version}/{hr,lr}.npy and meta.json. Deterministic
for a given seed (numpy Generator per crop; ffmpeg single-threaded).
"""
import argparse
import json
import os
import sys
import time
from multiprocessing import Pool

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from degrade import DEGRADE_VERSION, degrade  # noqa: E402

SIZE = 192     # HR crop
MARGIN = 16    # HR margin around it (panning, shifted JPEG, filter support)


def plan(train, crops, seed):
    """[(image index, level, y, x)] for every crop; counts ∝ level area, at least 24 each."""
    rng = np.random.default_rng([seed, 999])
    shapes = []
    for i, (_, _, p) in enumerate(train):
        img = common.load_rgb(p)
        for lv, a in enumerate(common.hr_levels(img)):
            shapes.append((i, lv, a.shape[0], a.shape[1]))
    areas = np.array([h * w for _, _, h, w in shapes], np.float64)
    counts = np.maximum(24, np.floor(areas / areas.sum() * crops)).astype(int)
    jobs = []
    for (i, lv, h, w), c in zip(shapes, counts):
        R = SIZE + 2 * MARGIN
        for _ in range(c):
            jobs.append((i, lv, int(rng.integers(0, h - R + 1)), int(rng.integers(0, w - R + 1))))
    return jobs


def work(args):
    path, jobs, scale, seed = args
    img = common.load_rgb(path)
    levels = common.hr_levels(img)
    R = SIZE + 2 * MARGIN
    hrs, lrs, descs = [], [], []
    for k, (i, lv, y, x) in jobs:
        region = levels[lv][y:y + R, x:x + R]
        rng = np.random.default_rng([seed, k])
        # Mostly-flat crops teach little; keep one in four of them.
        if region.std() < 3.0 and rng.random() < 0.75:
            continue
        lr, d = degrade(region, scale, MARGIN, SIZE, rng)
        hrs.append(region[MARGIN:MARGIN + SIZE, MARGIN:MARGIN + SIZE].copy())
        lrs.append(lr)
        d.update(crop=k, level=lv)
        descs.append(d)
    return hrs, lrs, descs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--crops", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    out = common.cache_dir(a.scale, a.seed, a.crops, DEGRADE_VERSION)
    if (out / "meta.json").exists():
        print("cache present:", out)
        return
    out.mkdir(parents=True, exist_ok=True)
    train, _ = common.split()
    jobs = plan(train, a.crops, a.seed)
    by_img = {}
    for k, j in enumerate(jobs):
        by_img.setdefault(j[0], []).append((k, j))
    t0 = time.time()
    tasks = [(train[i][2], js, a.scale, a.seed) for i, js in sorted(by_img.items())]
    hrs, lrs, descs = [], [], []
    with Pool(a.workers) as pool:
        for h, l, d in pool.imap(work, tasks):
            hrs += h
            lrs += l
            descs += d
            print(f"{len(hrs)} pairs, {time.time() - t0:.0f} s", flush=True)
    np.save(out / "hr.npy", np.stack(hrs))
    np.save(out / "lr.npy", np.stack(lrs))
    kinds = {}
    for d in descs:
        key = "clean" if d.get("clean") else d["codec"]
        kinds[key] = kinds.get(key, 0) + 1
    meta = dict(scale=a.scale, seed=a.seed, crops=len(hrs), size=SIZE, margin=MARGIN,
                images=[f"{s}/{n}" for s, n, _ in train], kinds=kinds,
                seconds=round(time.time() - t0, 1), samples=descs)
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print("wrote", out, kinds)


if __name__ == "__main__":
    main()
