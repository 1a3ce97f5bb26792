"""Train a plain-conv network on the cached degraded pairs (training/prepare.py).

    python3 training/train.py --name upscale-x2 --task upscale --scale 2 --steps 12000
    python3 training/train.py --name upscale-x2 ... --resume      # continue exactly

Seeded (python, numpy, torch); checkpoints (model, optimizer, scheduler, RNG states, step) go to
target/training/<name>/ckpt.pt every --ckpt-minutes and at the end; the log (step, loss, lr,
steps/s, ETA) goes to target/training/<name>/train.log.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from model import PlainConv, load_safetensors  # noqa: E402


LOSSES = ["l1", "charbonnier", "mse", "psnr"]
# psnr loss floor: a squared error of (0.3 code values)^2, about what rounding the output to
# 8 bits adds (a uniform rounding error has RMS 1/sqrt(12) = 0.29 codes); below it a patch's
# error is invisible in the 8-bit result, so it gets no more weight.
PSNR_EPS = (0.3 / 255) ** 2


def loss_fn(kind, pred, y):
    """Scalar training loss between prediction and target (N, C, H, W), values 0..1."""
    d = pred - y
    if kind == "l1":
        return d.abs().mean()
    if kind == "mse":
        return (d ** 2).mean()
    if kind == "psnr":
        mse = (d ** 2).flatten(1).mean(1)
        return (10 * torch.log10(mse + PSNR_EPS)).mean()
    if kind == "charbonnier":
        return torch.sqrt(d ** 2 + 1e-6).mean()
    raise ValueError(f"unknown loss {kind!r}; supported: {', '.join(LOSSES)}")


def args_parser():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="upscale-x2")
    ap.add_argument("--task", default="upscale", choices=["upscale", "restore"])
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--body-convs", type=int, default=6)
    ap.add_argument("--activation", default="prelu")
    ap.add_argument("--unshuffle", type=int, default=1,
                    help="restore: run the network at 1/u resolution (pixel unshuffle), u = 2 or 4")
    ap.add_argument("--skip", default=None, help="default: bilinear (upscale), identity (restore)")
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48, help="LR patch size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-min", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--loss", default="l1", choices=LOSSES,
                    help="mse matches PSNR; l1/charbonnier favour a zero residual where the "
                         "damage is not predictable (a restoration net then learns the identity); "
                         "psnr: the mean over patches of 10 log10(MSE + eps), i.e. minus the mean "
                         "patch PSNR, so smooth patches (small errors) weigh as much as textured "
                         "ones, as they do in a per-image mean of dB (for upscalers; a restorer "
                         "collapses to the identity, whose pairs it can match exactly: see "
                         "BENCHMARKS.md, Denoise / Restore)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--crops", type=int, default=6000, help="which prepared cache to use")
    ap.add_argument("--cache", default=None,
                    help="cache dir (default from scale/seed/crops); several, comma-separated, "
                         "are pooled (more crops of the kinds --kinds keeps)")
    ap.add_argument("--kinds", default=None,
                    help="train only on the pairs of these damage kinds, comma-separated, as "
                         "meta.json counts them: clean (identity pairs), none (noise, blur or "
                         "banding only), jpeg, jpeg2 (double JPEG with a shift), h264, h265; "
                         "e.g. jpeg,jpeg2,clean for a network for JPEG-damaged plates")
    ap.add_argument("--threads", default="auto",
                    help="torch threads, or 'auto': probe 1 vs 2 after 100 steps, every 500 and when the "
                         "speed drops by 40 %%, keep the "
                         "faster (2 threads crawl when a compiler holds one of the 2 cores)")
    ap.add_argument("--ckpt-minutes", type=float, default=3.0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None,
                    help="start from the weights of this model file (our .safetensors format, "
                         "same architecture; its skip may differ, as the skip has no weights); "
                         "the schedule and optimiser start afresh")
    ap.add_argument("--base", default=None,
                    help="experiments with a second stage: a restore model file whose output "
                         "is this network's input; the cache's degraded crops are run through "
                         "it once (kept next to the cache) and the net learns what is left "
                         "(BENCHMARKS.md, Denoise / Restore: none of it was worth shipping)")
    ap.add_argument("--with-plate", action="store_true",
                    help="with --base: the net reads the degraded plate and the first stage's "
                         "output (6 channels, the skip from the second). An experiment: the "
                         "model format has no such input, so such a net is not exported")
    ap.add_argument("--align", type=int, default=1,
                    help="patch offsets on this grid (8: codec blocks stay where they are in a "
                         "frame, so an 8x8-unshuffled stage sees each block as one pixel)")
    ap.add_argument("--shift-consistency", type=float, default=0.0,
                    help="weight of a temporal-stability term (upscalers): clean HR patches "
                         "one HR pixel apart, area-downscaled, must have the same error where "
                         "they overlap (what a slow pan shows as flicker); in the loss's dB "
                         "units with --loss psnr")
    ap.add_argument("--clean-share", type=float, default=None,
                    help="draw this share of each batch from the cache's clean pairs (downscale "
                         "only); default: pairs drawn uniformly (the cache's own mix)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop (with a checkpoint) after this long; for speed trials")
    return ap


class Pairs:
    """Random LR patches (with the matching HR patch) from the uint8 cache, flips and rot90."""

    def __init__(self, hr, lr, scale, patch, rng, clean=None, clean_share=None, align=1):
        """`clean`: bool per pair (downscale only); with `clean_share`, that share of every
        batch (rounded per sample) comes from the clean pairs, the rest from the others.
        `lr` may be uint8 or float (code values 0..255). With `align` > 1 the patch offsets are
        multiples of it (the crops' codec blocks start at (0, 0), so they stay on the grid;
        flips keep it when the crop and patch sides are multiples of `align`)."""
        self.hr, self.lr, self.s, self.p, self.rng = hr, lr, scale, patch, rng
        self.align = align
        assert align == 1 or (patch % align == 0 and lr.shape[1] % align == 0), \
            "--align needs patch and crop sides that are multiples of it"
        self.share = clean_share
        if clean_share is not None:
            self.clean_idx = np.flatnonzero(clean)
            self.other_idx = np.flatnonzero(~clean)
            assert len(self.clean_idx) and len(self.other_idx), "the cache lacks one kind"

    def indices(self, n):
        if self.share is None:
            return self.rng.integers(0, len(self.lr), n)
        pick_clean = self.rng.random(n) < self.share
        c = self.clean_idx[self.rng.integers(0, len(self.clean_idx), n)]
        o = self.other_idx[self.rng.integers(0, len(self.other_idx), n)]
        return np.where(pick_clean, c, o)

    def batch(self, n):
        s, p = self.s, self.p
        L = self.lr.shape[1]
        idx = self.indices(n)
        g = self.align
        ys = self.rng.integers(0, (L - p) // g + 1, n) * g
        xs = self.rng.integers(0, (L - p) // g + 1, n) * g
        aug = self.rng.integers(0, 8, n)
        lrs, hrs = [], []
        for i, y, x, a in zip(idx, ys, xs, aug):
            l = self.lr[i, y:y + p, x:x + p]
            h = self.hr[i, y * s:(y + p) * s, x * s:(x + p) * s]
            if a & 1:
                l, h = l[:, ::-1], h[:, ::-1]
            if a & 2:
                l, h = l[::-1], h[::-1]
            if a & 4:
                l, h = l.transpose(1, 0, 2), h.transpose(1, 0, 2)
            lrs.append(l)
            hrs.append(h)
        to = lambda v: torch.from_numpy(np.ascontiguousarray(np.stack(v))).permute(0, 3, 1, 2).float().div_(255)
        return to(lrs), to(hrs)


def lr_lambda(a):
    def f(step):
        if step < a.warmup:
            return (step + 1) / a.warmup
        t = (step - a.warmup) / max(1, a.steps - a.warmup)
        m = a.lr_min / a.lr
        return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return f


def init_state(init, model):
    """The state dict that starts `model` from the trained network `init`: the same
    architecture except the skip (it has no weights) and possibly more body convolutions.
    Extra ones follow Net2DeeperNet (Chen, Goodfellow & Shlens, ICLR 2016): appended after the
    trained ones as identities (centre tap 1 on the same channel, bias 0, PReLU slope 1; a
    ReLU passes the previous ReLU's output unchanged), so the deeper network computes exactly
    what `init` does. A LeakyReLU `init` may start a PReLU model: every slope becomes a
    per-channel PReLU slope of the same value, the same function, and only then can identity
    convolutions be appended (a LeakyReLU after an identity convolution would scale the
    negative features by its slope again). A wider model (more channels) follows Net2WiderNet's
    function-preserving idea in its simplest form: every new feature reads the layer below
    through fresh random weights (the model's own initialisation) and is read by nothing
    trained: its weights into the old features and the tail are 0, so the wider network also
    computes exactly what `init` does, and the gradient into those zero weights is not 0 (the
    new features are), so training puts them to use. Returns (state, number of convolutions
    appended)."""
    free = ("skip", "body_convs", "activation", "leaky_slope", "channels")
    same = {k: v for k, v in init.cfg.items() if k not in free}
    assert same == {k: v for k, v in model.cfg.items() if k not in free}, \
        f"--init: {init.cfg} is not {model.cfg}"
    to_prelu = init.cfg["activation"] == "leaky_relu" and model.cfg["activation"] == "prelu"
    assert to_prelu or (init.cfg["activation"] == model.cfg["activation"] and
                        init.cfg["leaky_slope"] == model.cfg["leaky_slope"]), \
        f"--init: activation {init.cfg['activation']} cannot become {model.cfg['activation']}"
    extra = model.cfg["body_convs"] - init.cfg["body_convs"]
    assert extra >= 0, "--init has more body convolutions than --body-convs"
    assert extra == 0 or model.cfg["activation"] in ("prelu", "relu"), \
        "a deeper --init needs PReLU or ReLU"
    state = init.state_dict()
    c = init.cfg["channels"]
    assert model.cfg["channels"] >= c, "--init has more channels than --channels"
    if to_prelu:
        for name in ["head"] + [f"body.{i}" for i in range(init.cfg["body_convs"])]:
            state[f"{name}.alpha"] = torch.full((c,), float(init.cfg["leaky_slope"]))
    for i in range(init.cfg["body_convs"], model.cfg["body_convs"]):
        w = torch.zeros(c, c, 3, 3)
        w[range(c), range(c), 1, 1] = 1.0
        state[f"body.{i}.weight"], state[f"body.{i}.bias"] = w, torch.zeros(c)
        if model.cfg["activation"] == "prelu":
            state[f"body.{i}.alpha"] = torch.ones(c)
    if model.cfg["channels"] > c:
        state = widen(state, model.state_dict(), c)
    return state, extra


def widen(state, fresh, c):
    """`state` (c features per layer) inside the wider `fresh` state dict: the old block of
    every tensor is the trained one, new features keep `fresh`'s random weights into them
    (rows past c), and the weights from new features into old ones (columns past c of the
    first c rows, and all of the tail's) are 0."""
    out = {}
    for k, v in fresh.items():
        w = v.clone()
        old = state[k]
        if k.startswith("tail."):
            if k.endswith("weight"):
                w.zero_()
                w[:, :c] = old
            else:
                w = old.clone()
        elif k.endswith("weight"):
            cin = old.shape[1]          # the head reads the plate: cin does not grow
            w[:c, :cin] = old
            w[:c, cin:] = 0
        else:                           # bias, alpha
            w[:c] = old
        out[k] = w
    return out


class ShiftPairs:
    """Clean HR patches and the same patch one HR pixel to the right, each area-downscaled by
    the scale (a camera's pixels: a pan by 1/scale of an LR pixel). Random flips and
    transposes make the shift any of the four directions."""

    def __init__(self, hr, scale, patch, rng):
        self.hr, self.s, self.p, self.rng = hr, scale, patch, rng

    def batch(self, n):
        s, P = self.s, self.p * self.s
        H = self.hr.shape[1]
        idx = self.rng.integers(0, len(self.hr), n)
        ys = self.rng.integers(0, H - P - 1 + 1, n)
        xs = self.rng.integers(0, H - P - 1 + 1, n)
        aug = self.rng.integers(0, 8, n)
        hs = []
        for i, y, x, a in zip(idx, ys, xs, aug):
            h = self.hr[i, y:y + P + 1, x:x + P + 1]
            if a & 1:
                h = h[:, ::-1]
            if a & 2:
                h = h[::-1]
            if a & 4:
                h = h.transpose(1, 0, 2)
            hs.append(h[:P])
        h = torch.from_numpy(np.ascontiguousarray(np.stack(hs))).permute(0, 3, 1, 2).float().div_(255)
        h0, h1 = h[..., :P], h[..., 1:]
        down = lambda t: torch.nn.functional.avg_pool2d(t, s)
        # 8-bit plates: the downscales are rounded to code values, as the cache's are.
        q = lambda t: t.mul(255).round_().div_(255)
        return q(down(h0)), q(down(h1)), h0, h1


def shift_consistency(model, pairs, n, kind):
    """The part of the error that does not move with the picture: out(x1) − h1 against
    out(x0) − h0 one HR pixel over, away from the patch borders (zero padding)."""
    x0, x1, h0, h1 = pairs.batch(n)
    out = model(torch.cat([x0, x1]))
    e0, e1 = out[:n] - h0, out[n:] - h1
    m = model.receptive_field() // 2 * pairs.s   # clear of the zero padding
    d = e1[..., m:-m, m:-m - 1] - e0[..., m:-m, m + 1:-m]
    if kind == "psnr":
        return (10 * torch.log10((d ** 2).flatten(1).mean(1) + PSNR_EPS)).mean()
    return (d ** 2).mean()


def sample_kind(desc):
    """A cached pair's damage kind, as prepare.py counts them in meta.json."""
    return "clean" if desc.get("clean") else desc["codec"]


def load_caches(caches, kinds):
    """The pooled pairs of one or more caches, kept to `kinds` (None: all), with each kept
    pair's descriptor. Order: cache by cache, pairs in their cache's order (deterministic)."""
    hrs, lrs, descs = [], [], []
    for cache in caches:
        hr = np.load(os.path.join(cache, "hr.npy"), mmap_mode="r")
        lr = np.load(os.path.join(cache, "lr.npy"), mmap_mode="r")
        samples = json.loads(open(os.path.join(cache, "meta.json")).read())["samples"]
        assert len(samples) == len(lr) == len(hr), f"{cache}: meta.json does not describe its arrays"
        keep = [i for i, d in enumerate(samples) if kinds is None or sample_kind(d) in kinds]
        assert keep, f"{cache} holds no pairs of the kinds {sorted(kinds)}"
        hrs.append(np.asarray(hr[keep]))
        lrs.append(np.asarray(lr[keep]))
        descs += [samples[i] for i in keep]
    if len(caches) == 1 and kinds is None:
        return hrs[0], lrs[0], descs
    return np.concatenate(hrs), np.concatenate(lrs), descs


def base_outputs(base, cache, lr):
    """The first stage's output for every cached degraded crop, code values 0..255 in float16
    (spacing 1/8 code at most: far below the damage a second stage learns). Computed once per
    cache and base file (its sha256 names the file) and kept next to the cache."""
    import hashlib
    digest = hashlib.sha256(open(base, "rb").read()).hexdigest()[:16]
    path = os.path.join(cache, f"base-{digest}.npy")
    if os.path.exists(path):
        out = np.load(path, mmap_mode="r")
        if out.shape == lr.shape:
            return out
    net, _ = load_safetensors(base)
    net.eval()
    assert net.cfg["scale"] == 1, "--base must be a restoration (x1) model"
    out = np.empty(lr.shape, np.float16)
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, len(lr), 16):
            x = torch.from_numpy(np.ascontiguousarray(lr[i:i + 16])).permute(0, 3, 1, 2)
            y = net(x.float().div_(255)).mul_(255)   # unclamped, as the effect passes it on
            out[i:i + 16] = y.permute(0, 2, 3, 1).numpy().astype(np.float16)
            if i % 800 == 0:
                print(f"# --base: {i}/{len(lr)} crops, {time.time() - t0:.0f}s", flush=True)
    np.save(path + ".tmp.npy", out)
    os.replace(path + ".tmp.npy", path)
    return out


def main():
    from degrade import DEGRADE_VERSION   # here: smoke.py imports Pairs without Pillow
    a = args_parser().parse_args()
    if a.skip is None:
        a.skip = "bilinear" if a.task == "upscale" else "identity"
    if a.task == "restore":
        assert a.scale == 1
    auto = a.threads == "auto"
    threads = 2 if auto else int(a.threads)
    torch.set_num_threads(threads)
    out = common.WORK / a.name
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "ckpt.pt"
    caches = (a.cache or str(common.cache_dir(a.scale, a.seed, a.crops, DEGRADE_VERSION))).split(",")
    cache = caches[0]
    kinds = set(a.kinds.split(",")) if a.kinds else None
    known = {"clean", "none", "jpeg", "jpeg2", "h264", "h265"}
    assert kinds is None or kinds <= known, f"--kinds: unknown {sorted(kinds - known)}; known: {sorted(known)}"
    assert len(caches) == 1 or not a.base, "--base takes one cache"
    hr, lr, descs = load_caches(caches, kinds)

    common.seed_everything(a.seed)
    model = PlainConv(scale=a.scale, channels=a.channels, body_convs=a.body_convs,
                      activation=a.activation, skip=a.skip, unshuffle=a.unshuffle,
                      frames=2 if a.with_plate else 1)
    if a.base and not a.init:
        # A second stage starts as the identity: its first steps then only add what helps
        # (with the usual 0.1x tail the first residual tripled the first stage's error).
        with torch.no_grad():
            model.tail.weight.mul_(0.01)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(a))
    data_rng = np.random.default_rng([a.seed, 7])
    step, elapsed = 0, 0.0
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        a_saved = ck["args"]
        for k in ("steps", "batch", "patch", "lr", "lr_min", "channels", "body_convs", "scale",
                  "unshuffle", "clean_share", "loss", "skip", "base", "align",
                  "shift_consistency", "with_plate", "cache", "kinds"):
            saved = a_saved.get(k, {"unshuffle": 1, "align": 1, "shift_consistency": 0.0,
                                    "with_plate": False}.get(k))
            assert saved == getattr(a, k), f"--{k} differs from the checkpoint's {saved}"
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        data_rng.bit_generator.state = ck["data_rng"]
        torch.set_rng_state(ck["torch_rng"])
        np.random.set_state(ck["numpy_rng"])
        random.setstate(ck["python_rng"])
        step, elapsed = ck["step"], ck["elapsed"]
        for k in ("init_skip", "init_deeper", "init_wider"):
            if k in a_saved:
                setattr(a, k, a_saved[k])
    elif a.init:
        init, _ = load_safetensors(a.init)
        state, extra = init_state(init, model)
        if extra:
            a.init_deeper = extra
            print(f"--init {a.init}: {extra} identity body convolution(s) appended", flush=True)
        if model.cfg["channels"] > init.cfg["channels"]:
            a.init_wider = init.cfg["channels"]
            print(f"--init {a.init}: {init.cfg['channels']} -> {a.channels} features per layer, "
                  "the new ones read by nothing yet", flush=True)
        model.load_state_dict(state)
        if init.cfg["skip"] != model.cfg["skip"]:
            # The residual was learnt around another skip: the first steps relearn the gap.
            a.init_skip = init.cfg["skip"]
            print(f"--init {a.init}: its skip {init.cfg['skip']!r} becomes {a.skip!r}", flush=True)
    if a.base:
        base = base_outputs(a.base, cache, lr)
        lr = np.concatenate([lr.astype(np.float16), base], axis=3) if a.with_plate else base
    clean = None
    if a.clean_share is not None:
        clean = np.array([bool(d.get("clean")) for d in descs])
    data = Pairs(hr, lr, a.scale, a.patch, data_rng, clean, a.clean_share, a.align)
    shift_rng = np.random.default_rng([a.seed, 11])
    if a.resume and ckpt_path.exists() and "shift_rng" in ck:
        shift_rng.bit_generator.state = ck["shift_rng"]
    shifts = ShiftPairs(hr, a.scale, a.patch, shift_rng) if a.shift_consistency else None
    log = open(out / "train.log", "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    def save():
        ck = dict(model=model.state_dict(), optimizer=opt.state_dict(),
                  scheduler=sched.state_dict(), data_rng=data_rng.bit_generator.state,
                  torch_rng=torch.get_rng_state(), numpy_rng=np.random.get_state(),
                  python_rng=random.getstate(), shift_rng=shift_rng.bit_generator.state,
                  step=step, elapsed=elapsed, args=vars(a),
                  cfg=model.cfg)
        torch.save(ck, str(ckpt_path) + ".tmp")
        os.replace(str(ckpt_path) + ".tmp", ckpt_path)

    say(f"# {'resume' if step else 'start'} {json.dumps(vars(a))} params={model.params()} "
        f"macs/lr_px={model.macs_per_lr_pixel()} pairs={len(lr)} at step {step}")
    model.train()
    t_session, t_ck = time.time(), time.time()
    run_loss, run_n, t_win, s_win = 0.0, 0, time.time(), step
    probe = None   # (thread count before the probe, its steps/s) while probing the other count
    t_rate, s_rate = time.time(), step
    last_r = None
    first_probe = step + 100 - step % 50   # probe early too: a compile may be running now
    while step < a.steps:
        x, y = data.batch(a.batch)
        pred = model(x)
        loss = loss_fn(a.loss, pred, y)
        if shifts is not None:
            loss = loss + a.shift_consistency * shift_consistency(model, shifts, a.batch // 2,
                                                                  a.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        run_loss += loss.item()
        run_n += 1
        now = time.time()
        if auto and step % 50 == 0:
            r = (step - s_rate) / (now - t_rate)
            if probe is not None:
                if r < probe[1]:
                    threads = probe[0]
                    torch.set_num_threads(threads)
                say(f"# threads probe: {probe[0]}: {probe[1]:.2f} steps/s, "
                    f"{3 - probe[0]}: {r:.2f} steps/s -> {threads}")
                last_r = max(r, probe[1])
                probe = None
            elif step % 500 == 0 or step == first_probe or (last_r and r < 0.6 * last_r):
                probe = (threads, r)   # also when the speed drops: the load has changed
                threads = 3 - threads
                torch.set_num_threads(threads)
            else:
                last_r = r
            t_rate, s_rate = now, step
        if step % a.log_every == 0 or step == a.steps:
            sps = (step - s_win) / (now - t_win)
            eta = (a.steps - step) / max(sps, 1e-9)
            say(f"step {step} loss {run_loss / run_n:.5f} lr {sched.get_last_lr()[0]:.2e} "
                f"steps/s {sps:.2f} elapsed {elapsed + now - t_session:.0f}s eta {eta / 60:.1f}min")
            run_loss, run_n, t_win, s_win = 0.0, 0, now, step
        if now - t_ck > a.ckpt_minutes * 60 or step == a.steps:
            elapsed += now - t_session
            t_session = now
            save()
            t_ck = now
        if a.max_seconds and elapsed + now - t_session > a.max_seconds:
            elapsed += now - t_session
            t_session = now
            save()
            say(f"# stopped at step {step} after --max-seconds")
            break
    if step >= a.steps:
        say(f"# done {step} steps, {elapsed:.0f}s training wall time")


if __name__ == "__main__":
    main()
