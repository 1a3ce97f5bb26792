"""Shared paths, the training-data inventory and the deterministic validation split.

Every image the training scripts may see is listed here; nothing else is ever read.
"""
import hashlib
import os
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "target" / "training-data"
UNPACKED = DATA / "unpacked" / "usr" / "share"
WORK = REPO / "target" / "training"

# Plasma wallpapers that are photographs. Chosen by looking at thumbnails of every wallpaper
# in plasma-workspace-wallpapers 5.27 and by a gradient statistic (share of near-flat pixels,
# |Laplacian| < 0.5 on a 1024-wide greyscale copy): the vector renders (Altai, Cascade,
# Cluster, Elarun, Flow, FlyingKonqui, IceCold, Kay, Kokkini, MilkyWay, Opal, PastelHills,
# Patak) have 0.22-0.84 flat pixels; Autumn (a painting), SafeLanding (an illustration) and
# Canopee, Honeywave, Shell, Volna (smooth renders) were dropped by eye.
PLASMA_PHOTOS = [
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
    "Grey", "Kite", "OneStandsOut", "Path", "summer_1am",
]
# mate-backgrounds: only the nature/ folder (photographs); abstract/ and desktop/ are renders.
SKIMAGE_NAMES = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"]
SPORCO_NAMES = ["barbara", "kodim23", "monarch", "sail", "tulips"]

# Validation quota per source (sums to 10, about 28 % of 36 images: the brief asks for at
# least 10 images spanning sources, which outweighs the 10-15 % guideline at this corpus size).
VAL_QUOTA = {"mate": 3, "plasma": 3, "sporco": 1, "skimage": 2, "misc": 1}


def image_list():
    """[(source, name, path)] for every training/validation image, in a fixed order."""
    out = []
    for p in sorted((UNPACKED / "backgrounds" / "mate" / "nature").glob("*.jpg")):
        out.append(("mate", p.stem, p))
    for n in PLASMA_PHOTOS:
        p = UNPACKED / "wallpapers" / n / "contents" / "images" / "2560x1600.jpg"
        out.append(("plasma", n, p))
    sp = DATA / "sporco" / "sporco" / "data"
    for n in SPORCO_NAMES:
        out.append(("sporco", n, sp / f"{n}.png"))
    import skimage
    sk = Path(skimage.__file__).parent / "data"
    for n in SKIMAGE_NAMES:
        ext = "jpg" if n == "rocket" else "png"
        out.append(("skimage", n, sk / f"{n}.{ext}"))
    import matplotlib
    out.append(("misc", "grace_hopper",
                Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    out.append(("misc", "quokka", DATA / "imgaug" / "quokka.jpg"))
    return out


def _h(name):
    return hashlib.sha1(name.encode()).hexdigest()


def split():
    """(train, val): per source, the VAL_QUOTA names with the smallest sha1(name) are held out."""
    imgs = image_list()
    val = set()
    for src, q in VAL_QUOTA.items():
        names = sorted((n for s, n, _ in imgs if s == src), key=_h)
        val.update((src, n) for n in names[:q])
    train = [t for t in imgs if (t[0], t[1]) not in val]
    valid = [t for t in imgs if (t[0], t[1]) in val]
    return train, valid


def load_rgb(path):
    """uint8 (H, W, 3) as stored."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    return np.asarray(Image.open(path).convert("RGB"))


def half(img):
    """Area (box) downscale by 2 in sRGB code values."""
    from PIL import Image
    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((w // 2, h // 2), Image.BOX))


def hr_levels(img):
    """The HR versions of one image used for training: wallpapers larger than 2000 px on the
    long side are also used area-downscaled by 2 (sharper per pixel, less camera and JPEG
    softness); validation uses only the last level returned here."""
    if max(img.shape[:2]) > 2000:
        return [img, half(img)]
    return [img]


def cache_dir(scale, seed, crops, version):
    return WORK / f"cache-x{scale}-s{seed}-n{crops}-d{version}"


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    import torch
    torch.manual_seed(seed)


if __name__ == "__main__":
    tr, va = split()
    for s, n, p in va:
        print("val  ", s, n, p.exists())
    for s, n, p in tr:
        print("train", s, n, p.exists())
