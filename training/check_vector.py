"""Recompute a model file's test vector in plain numpy, straight from docs/model-format.md
(3x3 zero-padded convolutions, per-channel PReLU, pixel shuffle c*s*s + i*s + j -> (c, y*s+i,
x*s+j), pixel unshuffle (its inverse, after repeating edge pixels), bilinear skip with source coordinate (d + 0.5)/s - 0.5 clamped at 0 and the last pixel,
Lanczos-3 skip about the same coordinate),
independently of PyTorch, and check the file's metadata against the format's rules.

    python3 training/check_vector.py bundle/models/upscale-x2.safetensors tests/data/nn/upscale-x2.vector.safetensors
"""
import json
import struct
import sys

import numpy as np

REQUIRED = {"format": str, "format_version": int, "architecture": str, "architecture_version": int,
            "name": str, "task": str, "scale": int, "frames": int, "in_channels": int,
            "out_channels": int, "channels": int, "body_convs": int, "activation": str,
            "skip": str, "encoding": str, "receptive_field": int, "training": dict, "license": str}


def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for k, v in hdr.items():
        assert v["dtype"] == "F32", (k, v["dtype"])
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], "<f4").reshape(v["shape"])
    return out, meta


def conv3(x, w, b):
    c, h, wd = x.shape
    p = np.zeros((c, h + 2, wd + 2), np.float64)
    p[:, 1:-1, 1:-1] = x
    out = np.zeros((w.shape[0], h, wd), np.float64) + b[:, None, None]
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("oi,ihw->ohw", w[:, :, ky, kx], p[:, ky:ky + h, kx:kx + wd])
    return out


def act(x, kind, alpha=None, slope=None):
    if kind == "prelu":
        return np.where(x >= 0, x, alpha[:, None, None] * x)
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, slope * x)
    return x / (1 + np.exp(-x))


def bilinear(x, s):
    c, h, w = x.shape

    def taps(n):
        src = np.clip((np.arange(n * s) + 0.5) / s - 0.5, 0, n - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        return i0, i1, src - i0

    y0, y1, fy = taps(h)
    x0, x1, fx = taps(w)
    r = x[:, y0] * (1 - fy)[None, :, None] + x[:, y1] * fy[None, :, None]
    return r[:, :, x0] * (1 - fx) + r[:, :, x1] * fx


def lanczos3(x, s):
    """Lanczos-3 taps of each output coordinate, straight from the definition: the six input
    pixels around (d + 0.5)/s - 0.5 weigh sinc(t)·sinc(t/3) of their distance t, normalised,
    indices clamped to the frame."""
    c, h, w = x.shape

    def matrix(n):
        m = np.zeros((n * s, n))
        for d in range(n * s):
            src = (d + 0.5) / s - 0.5
            for i in range(int(np.floor(src)) - 2, int(np.floor(src)) + 4):
                t = src - i
                m[d, min(max(i, 0), n - 1)] += np.sinc(t) * np.sinc(t / 3)
            m[d] /= m[d].sum()
        return m

    return np.einsum("yh,chw,xw->cyx", matrix(h), x, matrix(w))


def unshuffle(x, u):
    """Edge-repeat to multiples of u, then channel c*u*u + i*u + j <- pixel (u*y+i, u*x+j) of c."""
    c, h, w = x.shape
    H, W = -(-h // u) * u, -(-w // u) * u
    p = x[:, np.minimum(np.arange(H), h - 1)][:, :, np.minimum(np.arange(W), w - 1)]
    out = np.zeros((c * u * u, H // u, W // u))
    for ch in range(c):
        for i in range(u):
            for j in range(u):
                out[ch * u * u + i * u + j] = p[ch, i::u, j::u]
    return out


def forward(t, md, x):
    k, u = md["activation"], md.get("unshuffle", 1)
    s = md["scale"] * u
    _, H0, W0 = x.shape
    xs = unshuffle(x, u) if u > 1 else x
    h = act(conv3(xs, t["head.weight"], t["head.bias"]), k, t.get("head.alpha"), md.get("leaky_slope"))
    for i in range(md["body_convs"]):
        h = act(conv3(h, t[f"body.{i}.weight"], t[f"body.{i}.bias"]), k, t.get(f"body.{i}.alpha"),
                md.get("leaky_slope"))
    y = conv3(h, t["tail.weight"], t["tail.bias"])
    C, H, W = y.shape
    oc = C // (s * s)
    out = np.zeros((oc, H * s, W * s))
    for c in range(oc):
        for i in range(s):
            for j in range(s):
                out[c, i::s, j::s] = y[c * s * s + i * s + j]
    if u > 1:
        out = out[:, :H0, :W0]
        s = 1
    f = md["frames"]
    xc = x[3 * (f // 2):3 * (f // 2) + 3]
    if md["skip"] == "bilinear":
        out += bilinear(xc, s) if s > 1 else xc
    elif md["skip"] == "lanczos3":
        out += lanczos3(xc, s)
    elif md["skip"] == "nearest":
        out += np.repeat(np.repeat(xc, s, 1), s, 2)
    elif md["skip"] == "identity":
        out += xc
    return out


def main():
    model, vector = sys.argv[1], sys.argv[2]
    t, meta = read(model)
    md = json.loads(meta["platerestore"])
    for k, ty in REQUIRED.items():
        assert isinstance(md[k], ty), k
    assert md["format"] == "platerestore.model" and md["architecture"] == "plain-conv"
    assert md["in_channels"] == 3 * md["frames"]
    u = md.get("unshuffle", 1)
    assert u in (1, 2, 4) and (u == 1 or (md["task"] == "restore" and md["skip"] in ("identity", "none")))
    assert md["receptive_field"] == u * (2 * (md["body_convs"] + 2) + 1)
    names = {"head.weight", "head.bias", "tail.weight", "tail.bias"}
    names |= {f"body.{i}.{p}" for i in range(md["body_convs"]) for p in ("weight", "bias")}
    if md["activation"] == "prelu":
        names |= {"head.alpha"} | {f"body.{i}.alpha" for i in range(md["body_convs"])}
    assert set(t) == names, set(t) ^ names
    assert all(np.isfinite(v).all() for v in t.values())
    v, _ = read(vector)
    got = forward(t, md, v["input"][0].astype(np.float64))
    err = np.abs(got - v["output"][0]).max()
    print(f"{model}: metadata ok, numpy reference vs vector max abs diff {err:.2e}")
    assert err < 1e-4


if __name__ == "__main__":
    main()
