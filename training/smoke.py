"""CI smoke test of the training path: needs only torch, numpy and safetensors, no data.

    python3 training/smoke.py --out DIR

Draws a small procedural image, trains a tiny plain-conv x2 net (C=8, body_convs=2, PReLU,
Lanczos-3 skip; the shipped vectors cover the bilinear one) for a few steps on it, and writes DIR/smoke.safetensors and
DIR/smoke.vector.safetensors (input (1,3,37,37), output (1,3,74,74)) for the Rust tests; then
a tiny restorer on 2x2 blocks (unshuffle 2, leaky ReLU, identity skip) trained to remove noise,
DIR/smoke-u2.safetensors and its vector (37x37: the last blocks repeat edge pixels).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import PlainConv, export_safetensors, load_safetensors, write_vector  # noqa: E402
from train import (PSNR_EPS, Pairs, ShiftPairs, init_state, load_caches, loss_fn,  # noqa: E402
                   shift_consistency)


def procedural(size, seed):
    """uint8 (size, size, 3): gradients, rings, hard-edged discs, stripes and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * np.sin(6 * x + 4 * y)], -1)
    r = np.hypot(x - 0.3, y - 0.6)
    img += 0.15 * np.sin(60 * r)[..., None]
    for _ in range(6):
        cx, cy, rad = rng.uniform(0, 1, 2).tolist() + [rng.uniform(0.05, 0.2)]
        col = rng.uniform(0, 1, 3)
        m = (np.hypot(x - cx, y - cy) < rad)[..., None]
        img = np.where(m, col, img)
    img += 0.1 * (np.sin(90 * x) > 0)[..., None] * (y > 0.8)[..., None]
    img += rng.normal(0, 0.01, img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def area_down(img, s):
    h, w = img.shape[0] // s * s, img.shape[1] // s * s
    a = img[:h, :w].astype(np.float32).reshape(h // s, s, w // s, s, 3).mean((1, 3))
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def train_and_export(out, name, task, model, batches, loss_name, data, vector_crop, steps):
    """A few Adam steps on `batches(step) -> (input, target)`, then the model file and its
    test vector; checks the exported file reloads to the same output. Returns the losses."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(steps):
        xb, yb = batches(step)
        d = model(xb) - yb
        loss = d.abs().mean() if loss_name == "L1" else (d ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    path = os.path.join(out, f"{name}.safetensors")
    vec = os.path.join(out, f"{name}.vector.safetensors")
    export_safetensors(model, path, name, task,
                       training=dict(data=data, steps=steps, loss=loss_name,
                                     command="python3 training/smoke.py --out DIR"))
    x, y = write_vector(model, vec, vector_crop)
    back, _ = load_safetensors(path)
    with torch.no_grad():
        assert torch.equal(back(x), y)
    return losses[0], losses[-1], path, vec


def check_clean_share():
    """train.py's pair sampler: `--clean-share` draws that share of a batch from the clean
    pairs (the cache's own mix without it), and every HR patch belongs to its LR patch."""
    n, size, s = 50, 4, 2
    clean = np.arange(n) % 5 == 0                      # the cache's mix: 20 % clean
    lr = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, 3))
    hr = lr.repeat(s, 1).repeat(s, 2)
    for share, want in ((None, 0.2), (0.6, 0.6)):
        x, y = Pairs(hr, lr, s, 2, np.random.default_rng(3), clean, share).batch(4000)
        ids = np.rint(x[:, 0, 0, 0].numpy() * 255).astype(int)
        assert (np.rint(y.numpy() * 255) == ids[:, None, None, None]).all(), "HR/LR mismatch"
        got = clean[ids].mean()
        # 4000 draws: the binomial standard deviation is under 0.008.
        assert abs(got - want) < 0.03, f"clean share {got:.3f}, wanted {want} (--clean-share {share})"
    print("smoke: --clean-share draws 60 % clean pairs; without it the cache's 20 %")


def check_pooled_caches(tmp):
    """train.py `--cache A,B --kinds ...`: the pairs of both caches whose kind is kept, each HR
    crop still beside its own LR crop and descriptor, in cache order."""
    import json
    kinds = ["clean", "jpeg", "h264", "jpeg2", "none"]
    dirs, want = [], []
    for c in range(2):
        d = os.path.join(tmp, f"cache{c}")
        os.makedirs(d, exist_ok=True)
        n = 7 + c
        ids = np.arange(n, dtype=np.uint8) + 100 * c       # pair id = its pixel value
        lr = np.broadcast_to(ids[:, None, None, None], (n, 4, 4, 3)).copy()
        np.save(os.path.join(d, "lr.npy"), lr)
        np.save(os.path.join(d, "hr.npy"), lr + 1)
        samples = [dict(clean=True) if kinds[i % 5] == "clean" else dict(codec=kinds[i % 5], id=int(ids[i]))
                   for i in range(n)]
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(dict(samples=samples), f)
        want += [int(ids[i]) for i in range(n) if kinds[i % 5] in ("jpeg", "jpeg2")]
        dirs.append(d)
    hr, lr, descs = load_caches(dirs, {"jpeg", "jpeg2"})
    got = [int(v) for v in lr[:, 0, 0, 0]]
    assert got == want, f"pooled pairs {got}, wanted {want}"
    assert (hr.astype(int) == lr.astype(int) + 1).all(), "an HR crop left its LR crop"
    assert [d["id"] for d in descs] == want, "descriptors out of step with the pairs"
    hr, lr, descs = load_caches(dirs[:1], None)
    assert len(lr) == len(descs) == 7 and sum(bool(d.get("clean")) for d in descs) == 2
    print(f"smoke: --cache A,B --kinds jpeg,jpeg2 pools {len(want)} pairs of 15 in order")


def check_shift_pairs():
    """train.py's temporal-stability pairs: the second HR patch is the first moved by one HR
    pixel, each LR patch is its HR patch's area downscale rounded to 8 bits, --align keeps
    patch offsets on its grid, on a flat frame (where a zero-tail Lanczos net is exact) the
    term is its floor (the margins keep the zero padding out), and it compares the two errors
    where they see the same scene point."""
    rng = np.random.default_rng(5)
    hr = rng.integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    x0, x1, h0, h1 = ShiftPairs(hr, 2, 8, rng).batch(5)
    assert x0.shape == (5, 3, 8, 8) and h0.shape == (5, 3, 16, 16)
    assert torch.equal(h1[..., :, :-1], h0[..., :, 1:]), "not a one-pixel shift"
    down = torch.nn.functional.avg_pool2d
    assert torch.allclose(x0, (down(h0, 2) * 255).round() / 255), "LR is not the area downscale"
    assert torch.allclose(x1, (down(h1, 2) * 255).round() / 255)
    # Pixels that hold their own row and column: whatever the flips and transposes, a patch's
    # smallest row and column are where it was cut.
    yy, xx = np.mgrid[0:48, 0:48]
    pos = np.broadcast_to(np.stack([yy, xx, yy], -1).astype(np.uint8), (6, 48, 48, 3))
    x, _ = Pairs(pos, pos, 1, 16, rng, align=8).batch(200)
    corner = np.rint(x[:, :2].flatten(2).min(2).values.numpy() * 255).astype(int)
    assert (corner % 8 == 0).all() and len(np.unique(corner)) > 3, "--align 8: off the grid"
    flat = np.full((4, 40, 40, 3), 77, np.uint8)
    net = PlainConv(scale=2, channels=4, body_convs=1, activation="prelu", skip="lanczos3")
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.zero_()
        got = shift_consistency(net, ShiftPairs(flat, 2, 8, rng), 3, "psnr").item()
    floor = 10 * np.log10(PSNR_EPS)
    assert abs(got - floor) < 1e-3, f"flat frame: {got} dB, floor {floor} dB"
    # The term's alignment: a stand-in network whose error is a fixed field of the scene (it
    # moves with the picture) scores the floor; the same field not moved scores far above it.
    gen = torch.Generator().manual_seed(3)

    class Fixed:
        """Pairs whose HR patches are windows of one field; a 'network' returning them plus an
        error field that moves with the picture (moves=True) or stays put (moves=False)."""
        s = 2

        def __init__(self, moves):
            self.field = torch.rand(2, 3, 20, 21, generator=gen)
            self.err = 0.1 * torch.rand(2, 3, 20, 21, generator=gen)
            self.moves = moves

        def batch(self, n):
            h0, h1 = self.field[..., :-1], self.field[..., 1:]
            return torch.zeros(n, 3, 10, 10), torch.zeros(n, 3, 10, 10), h0, h1

        def receptive_field(self):
            return 3

        def __call__(self, x):
            e0 = self.err[..., :-1]
            e1 = self.err[..., 1:] if self.moves else e0
            return torch.cat([self.field[..., :-1] + e0, self.field[..., 1:] + e1])

    moving, still = Fixed(True), Fixed(False)
    got = shift_consistency(moving, moving, 2, "mse").item()
    assert got == 0.0, f"an error that moves with the picture scores {got}"
    assert shift_consistency(still, still, 2, "mse").item() > 1e-4, "a fixed error scores 0"
    print("smoke: shift pairs are one HR pixel apart and area-downscaled; an error that moves "
          "with the picture scores nothing, one that stays put does")


def check_psnr_loss():
    """train.py's `--loss psnr`: the batch mean of each patch's 10 log10(MSE + eps). Two
    patches off by constants a and b give (10 log10(a² + eps) + 10 log10(b² + eps)) / 2,
    which is not the plain MSE's 10 log10((a² + b²) / 2 + eps)."""
    y = torch.zeros(2, 3, 8, 8)
    a, b = 1 / 255, 20 / 255
    pred = y.clone()
    pred[0] += a
    pred[1] -= b
    want = (10 * np.log10(a * a + PSNR_EPS) + 10 * np.log10(b * b + PSNR_EPS)) / 2
    got = loss_fn("psnr", pred, y).item()
    assert abs(got - want) < 1e-3, f"psnr loss {got:.4f}, wanted {want:.4f}"
    pooled = 10 * np.log10((a * a + b * b) / 2 + PSNR_EPS)
    assert abs(got - pooled) > 5, "psnr loss pooled the batch's MSE"
    # The gradient weighs each patch's squared error by 1 / (MSE + eps): the smooth patch's
    # (error 1 code) by (20² + 0.09) / (1 + 0.09) = 367 times more than the one off by 20, so
    # its gradient per pixel (error / (MSE + eps)) is 367 / 20 = 18.4 times larger.
    pred.requires_grad_(True)
    loss_fn("psnr", pred, y).backward()
    g0, g1 = pred.grad[0].abs().mean().item(), pred.grad[1].abs().mean().item()
    want_ratio = (b * b + PSNR_EPS) / (a * a + PSNR_EPS) * a / b
    assert abs(g0 / g1 / want_ratio - 1) < 1e-3, f"gradient ratio {g0 / g1:.2f}, wanted {want_ratio:.2f}"
    print(f"smoke: psnr loss {got:.3f} dB (pooled MSE would say {pooled:.3f}); "
          f"gradient ratio {g0 / g1:.1f}")


def check_lanczos3():
    """model.py's Lanczos-3 skip (grouped convolutions) against check_vector.py's numpy
    definition (one weight matrix per axis), and exact on a flat frame (weights sum to 1)."""
    from check_vector import lanczos3 as reference
    from model import lanczos3_up
    x = torch.rand(1, 3, 11, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for s in (2, 4):
        err = np.abs(lanczos3_up(x, s)[0].numpy() - reference(x[0].numpy(), s)).max()
        assert err < 1e-6, f"Lanczos-3 x{s} skip differs from its definition by {err:.2e}"
        flat = lanczos3_up(torch.full((1, 3, 5, 6), 0.7), s)
        assert (flat - 0.7).abs().max() < 1e-6, f"Lanczos-3 x{s} moves a flat frame"
    print("smoke: Lanczos-3 skip matches its definition (x2, x4) and keeps flat frames")


def check_deeper_init():
    """train.py's --init into a deeper network (Net2DeeperNet): the appended identity
    convolutions leave the output unchanged, for PReLU (random slopes) and ReLU."""
    torch.manual_seed(3)
    x = torch.rand(1, 3, 19, 14)
    for act in ("prelu", "relu"):
        small = PlainConv(scale=2, channels=8, body_convs=2, activation=act, skip="lanczos3")
        with torch.no_grad():
            for p in small.parameters():
                p.add_(0.1 * torch.randn_like(p))
        deep = PlainConv(scale=2, channels=8, body_convs=4, activation=act, skip="lanczos3")
        state, extra = init_state(small, deep)
        deep.load_state_dict(state)
        with torch.no_grad():
            err = (deep(x) - small(x)).abs().max().item()
        assert extra == 2 and err < 1e-6, f"deeper {act} init changes the output by {err:.2e}"
    # A LeakyReLU restorer grown into a deeper PReLU one (restore-v7's start).
    x = torch.rand(1, 3, 19, 14)
    small = PlainConv(scale=1, channels=8, body_convs=2, activation="leaky_relu", skip="identity")
    with torch.no_grad():
        for p in small.parameters():
            p.add_(0.1 * torch.randn_like(p))
    deep = PlainConv(scale=1, channels=8, body_convs=5, activation="prelu", skip="identity")
    state, extra = init_state(small, deep)
    deep.load_state_dict(state)
    with torch.no_grad():
        err = (deep(x) - small(x)).abs().max().item()
        moved = (small(x) - x).abs().max().item()
    assert extra == 3 and err < 1e-6 < moved, \
        f"LeakyReLU -> deeper PReLU init changes the output by {err:.2e} (residual {moved:.2e})"
    # Wider and deeper at once (a PReLU restorer from 8 to 12 features): still the same
    # function, and the new features do get a gradient (else they would stay unused).
    small = deep
    wide = PlainConv(scale=1, channels=12, body_convs=6, activation="prelu", skip="identity")
    state, extra = init_state(small, wide)
    wide.load_state_dict(state)
    out = wide(x)
    err = (out - small(x)).abs().max().item()
    assert extra == 1 and err < 1e-6, f"a wider init changes the output by {err:.2e}"
    ((out - x.flip(3)) ** 2).mean().backward()
    new_in = wide.body[0].weight.grad[:8, 8:].abs().max().item()
    new_out = wide.tail.weight.grad[:, 8:].abs().max().item()
    assert new_in > 0 and new_out > 0, \
        f"the new features get no gradient ({new_in:.2e} into old features, {new_out:.2e} into the tail)"
    print("smoke: a deeper or wider --init starts as the network it came from (PReLU, ReLU, "
          "LeakyReLU grown as PReLU; 8 -> 12 features)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=40)
    a = ap.parse_args()
    t0 = time.time()
    check_clean_share()
    check_pooled_caches(a.out)
    check_shift_pairs()
    check_psnr_loss()
    check_lanczos3()
    check_deeper_init()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    os.makedirs(a.out, exist_ok=True)
    s, p = 2, 24
    hr = procedural(128, 0)
    lr = area_down(hr, s)
    to = lambda v: torch.from_numpy(np.ascontiguousarray(np.stack(v))).permute(0, 3, 1, 2).float() / 255

    def upscale_batch(step):
        ys, xs = rng.integers(0, lr.shape[0] - p + 1, 4), rng.integers(0, lr.shape[1] - p + 1, 4)
        return (to([lr[y:y + p, x:x + p] for y, x in zip(ys, xs)]),
                to([hr[y * s:(y + p) * s, x * s:(x + p) * s] for y, x in zip(ys, xs)]))

    model = PlainConv(scale=s, channels=8, body_convs=2, activation="prelu", skip="lanczos3")
    first, last, path, vec = train_and_export(
        a.out, "smoke", "upscale", model, upscale_batch, "L1", "procedural 128x128 image",
        lr[10:10 + 37, 5:5 + 37], a.steps)
    print(f"smoke: L1 {first:.4f} -> {last:.4f} in {a.steps} steps; exported {path} "
          f"({os.path.getsize(path)} bytes) and {vec} in {time.time() - t0:.1f} s")

    # The restorer on 2x2 blocks: PyTorch's own pixel_unshuffle order and edge padding (the
    # 37x37 vector is no multiple of 2) are what the Rust engine must match.
    def noisy_batch(step):
        ys, xs = rng.integers(0, hr.shape[0] - p + 1, 4), rng.integers(0, hr.shape[1] - p + 1, 4)
        clean = to([hr[y:y + p, x:x + p] for y, x in zip(ys, xs)])
        noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(step))
        return clean + 0.03 * noise, clean

    model = PlainConv(scale=1, channels=8, body_convs=2, activation="leaky_relu",
                      skip="identity", unshuffle=2)
    first, last, path, vec = train_and_export(
        a.out, "smoke-u2", "restore", model, noisy_batch, "MSE",
        "procedural 128x128 image + noise", hr[21:21 + 37, 30:30 + 37], a.steps)
    print(f"smoke-u2: MSE {first:.6f} -> {last:.6f} in {a.steps} steps; exported {path} and "
          f"{vec} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
