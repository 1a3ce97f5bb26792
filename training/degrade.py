"""Degradations that make an HR crop look like a plate from a generative video model.

`degrade(region, scale, rng)` takes an HR region with a margin (so panning, shifted double JPEG
and the resampling filters never see an edge inside the kept window) and returns the 8-bit LR
window plus a description. All randomness comes from the numpy Generator passed in.
"""
import io
import subprocess

import numpy as np
from PIL import Image, ImageFilter

# Bump when the degradations change: the pair cache is keyed by it.
DEGRADE_VERSION = 2
# ffmpeg's default RGB<->YUV conversion shifts every channel by about -1.2 code values through a
# round trip (measured: -1.14/-1.35/-1.28 at CRF 10); a net trained on that learns a colour cast.
SWS = ["-sws_flags", "accurate_rnd+full_chroma_int"]

FILTERS = {"area": Image.BOX, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


def resize(img, w, h, filt):
    return np.asarray(Image.fromarray(img).resize((w, h), FILTERS[filt]))


def downscale(img, scale, filt):
    if scale == 1:
        return img
    h, w = img.shape[:2]
    return resize(img, w // scale, h // scale, filt)


def jpeg(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(q), subsampling=2)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def to8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def ffmpeg_video(frames, codec, crf, take):
    """Encode frames (list of HxWx3 uint8, even H and W) with libx264/libx265 at `crf`
    (yuv420p, B-frames on, one GOP), decode, return frame `take` (display order), or every
    frame (N, H, W, 3) when `take` is None."""
    h, w = frames[0].shape[:2]
    raw = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    enc = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", "24", "-i", "-", *SWS, "-pix_fmt", "yuv420p"]
    if codec == "h264":
        enc += ["-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-bf", "2",
                "-g", "32", "-threads", "1", "-f", "h264", "-"]
    else:
        enc += ["-c:v", "libx265", "-preset", "fast", "-crf", str(crf),
                "-x265-params", "log-level=none:bframes=2:keyint=32:pools=none:frame-threads=1",
                "-f", "hevc", "-"]
    bits = subprocess.run(enc, input=raw, capture_output=True, check=True).stdout
    dec = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", codec if codec == "h264" else "hevc",
           "-i", "-", *SWS, "-f", "rawvideo", "-pix_fmt", "rgb24", "-threads", "1", "-"]
    out = subprocess.run(dec, input=bits, capture_output=True, check=True).stdout
    n = len(out) // (h * w * 3)
    vid = np.frombuffer(out, np.uint8)[: n * h * w * 3].reshape(n, h, w, 3)
    if take is None:
        return vid.copy()
    return vid[min(take, n - 1)].copy()


def ffmpeg_intra(img, crf):
    """x264 at `crf`, one frame (an I frame), yuv420p: the validation's video condition."""
    return ffmpeg_video([img], "h264", crf, 0)


def banding(img, rng):
    """Quantise the smooth parts of an 8-bit image coarser (steps of 3-8 code values), like an
    8-bit gradient that an encoder or a generator flattened into bands."""
    x = img.astype(np.float32)
    g = np.asarray(Image.fromarray(img).convert("L").filter(ImageFilter.GaussianBlur(1.5)),
                   np.float32)
    gy, gx = np.gradient(g)
    mag = np.hypot(gx, gy)
    mask = np.asarray(Image.fromarray(to8(np.clip(4.0 - mag, 0, 4) * 63)).filter(
        ImageFilter.GaussianBlur(2)), np.float32)[..., None] / 252.0
    step = float(rng.uniform(3, 8))
    q = np.floor(x / step + 0.5) * step
    return to8(x * (1 - mask) + q * mask)


def degrade(region, scale, margin, size, rng, clean_p=0.3):
    """region: HR uint8 (size + 2*margin)^2; returns (lr uint8 (size/scale)^2, desc dict).

    The HR target is region[margin:margin+size, margin:margin+size] untouched."""
    s = scale
    m = margin // s          # LR margin
    n = size // s            # LR window size
    d = {}
    filt = ["area", "bicubic", "lanczos"][rng.integers(3)]
    d["filter"] = filt
    if rng.random() < clean_p:
        lr = downscale(region, s, filt)
        d["clean"] = True
        return lr[m:m + n, m:m + n].copy(), d
    x = region
    if rng.random() < 0.2:
        sigma = float(rng.uniform(0.3, 0.8)) * max(1, s / 2)
        x = np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(sigma)))
        d["blur"] = round(sigma, 2)
    lr = downscale(x, s, filt).astype(np.float32)
    nz = float(rng.uniform(0.5, 3.0)) if rng.random() < 0.3 else 0.0
    if nz:
        d["noise"] = round(nz, 2)

    def noisy(a):
        if not nz:
            return to8(a)
        return to8(a + rng.normal(0, nz, a.shape).astype(np.float32))

    band = rng.random() < 0.15
    if band:
        d["banding"] = True

    def finish(a):
        a = noisy(a)
        return banding(a, rng) if band else a

    kind = rng.choice(["jpeg", "jpeg2", "h264", "h265", "none"], p=[0.3, 0.15, 0.25, 0.2, 0.1])
    d["codec"] = str(kind)
    win = lambda a, oy=m, ox=m: a[oy:oy + n, ox:ox + n]
    if kind == "none":
        out = finish(win(lr))
    elif kind == "jpeg":
        q = int(rng.integers(15, 71))
        d["q"] = q
        out = jpeg(finish(win(lr)), q)
    elif kind == "jpeg2":
        q1, q2 = int(rng.integers(30, 91)), int(rng.integers(15, 71))
        dy, dx = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        dy, dx = min(dy, m), min(dx, m)
        full = finish(lr)
        sub = full[m - dy:, m - dx:]
        full = full.copy()
        full[m - dy:, m - dx:] = jpeg(sub, q1)
        out = jpeg(win(full), q2)
        d.update(q1=q1, q2=q2, shift=[dy, dx])
    else:
        crf = int(rng.integers(23, 39))
        frames_n = int(rng.integers(6, 9))
        take = int(rng.integers(2, frames_n))          # never the I frame
        vmax = max(1, m // max(take, frames_n - 1 - take))
        vy, vx = int(rng.integers(-vmax, vmax + 1)), int(rng.integers(-vmax, vmax + 1))
        base = finish(lr)
        frames = []
        for t in range(frames_n):
            oy = int(np.clip(m + (t - take) * vy, 0, 2 * m))
            ox = int(np.clip(m + (t - take) * vx, 0, 2 * m))
            f = win(base, oy, ox)
            if t != take and nz:   # fresh noise per frame: re-noise from the clean LR
                f = finish(win(lr, oy, ox))
            frames.append(f)
        out = ffmpeg_video(frames, str(kind), crf, take)
        d.update(crf=crf, frames=frames_n, take=take, pan=[vy, vx])
    return np.ascontiguousarray(out), d
