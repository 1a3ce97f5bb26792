"""Write the model card bundle/models/<name>.md from the checkpoint, the exported file, the
cache's metadata and validation.{json,md}.

    python3 training/card.py --name upscale-x2 [--total-seconds N]
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from degrade import DEGRADE_VERSION  # noqa: E402
from export import DEGRADATIONS, load_ckpt  # noqa: E402
from model import load_safetensors  # noqa: E402
from train import PSNR_EPS  # noqa: E402

SOURCES = """| source | images | licence as the package states it |
|---|---|---|
| Debian `mate-backgrounds` 1.26 | `nature/`: 12 photographs (Aqua, Blinds, Dune, FreshFlower, Garden, GreenMeadow, LadyBird, RainDrops, Storm, TwoWings, Wood, YellowFlower); `abstract/` and `desktop/` (renders) not used | GPL-2+ (debian/copyright, per file) |
| Debian `plasma-workspace-wallpapers` 5.27 | 11 photographs, 2560x1600 JPEG: BytheWater, ColdRipple, ColorfulCups, DarkestHour, EveningGlow, FallenLeaf, Grey, Kite, OneStandsOut, Path, summer_1am. The renders were left out by eye and by a flat-pixel statistic (see `training/common.py`) | GPL-2+ (debian/copyright) |
| PyPI `sporco` 0.2.2.post1, `sporco/data/` | barbara, kodim23, monarch, sail, tulips | package BSD-3-Clause; its data README: "believed to be either in the public domain, or released with a license that allows them to be freely redistributed" |
| PyPI `scikit-image` 0.26 `skimage.data` | astronaut, coffee, chelsea, rocket, motorcycle_left | docstrings: astronaut public domain; coffee and chelsea CC0 by the photographers; rocket public domain (SpaceX); motorcycle from the Middlebury 2014 stereo benchmark, no licence stated |
| matplotlib 3.11 `mpl-data/sample_data` | grace_hopper.jpg | not stated in the package (a US Navy photograph) |
| PyPI `imgaug` 0.4.0 | quokka.jpg | package MIT; the image's own licence is not stated in the wheel |
"""


SKIP_WORDS = {"lanczos3": "Lanczos-3 (separable, six taps, edges repeated: the Upscale "
                          "effect's classical filter)"}


def loss_words(kind):
    """How the card names a train.py --loss."""
    if kind == "psnr":
        return (f"per-patch PSNR loss (the batch mean of 10 log10(MSE + "
                f"({PSNR_EPS ** 0.5 * 255:.1f}/255)²), each patch's own MSE)")
    return f"{kind.upper()} loss"


def init_activation_words(args):
    """How the activation changed from the --init file's, if it did (a LeakyReLU network
    grown into a PReLU one keeps its slope as every channel's PReLU slope)."""
    path = common.REPO / args["init"]
    if not path.exists():
        return ""
    init = load_safetensors(str(path))[0]
    if init.cfg["activation"] == args["activation"]:
        return ""
    return (f", its {init.cfg['activation']} (slope {init.cfg['leaky_slope']}) carried over as "
            f"{args['activation']} with that slope on every channel")


def init_path(init):
    """The --init file as reproduce.sh names it (bundle/models/<name>.safetensors), also when
    the run read a copy of that file kept elsewhere."""
    return f"bundle/models/{Path(init).name}"


def init_shipped(init):
    """Whether the --init network ships (has its card in the bundle)."""
    return (common.REPO / "bundle" / "models" / (Path(init).stem + ".md")).exists()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="upscale-x2")
    ap.add_argument("--total-seconds", type=float, default=0)
    a = ap.parse_args()
    work = common.WORK / a.name
    model, ck = load_ckpt(work / "ckpt.pt")
    args, cfg = ck["args"], model.cfg
    f = common.REPO / "bundle" / "models" / f"{a.name}.safetensors"
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    s, u = cfg["scale"], cfg.get("unshuffle", 1)
    macs = model.macs_per_lr_pixel()
    if args.get("cache"):
        caches = [common.REPO / c / "meta.json" for c in args["cache"].split(",")]
    else:
        caches = [common.cache_dir(args["scale"], args["seed"], args["crops"], DEGRADE_VERSION)
                  / "meta.json"]
    metas = [json.loads(c.read_text()) for c in caches if c.exists()]
    cmeta = metas[0] if len(metas) == 1 else {}
    if len(metas) > 1:
        # Pooled caches (train.py --cache A,B): their crops and mixes add up.
        cmeta = dict(crops=sum(m["crops"] for m in metas), size=metas[0].get("size", 192),
                     kinds={k: sum(m["kinds"].get(k, 0) for m in metas)
                            for k in metas[0]["kinds"]})
    cache_seeds = ", ".join(str(m.get("seed", "?")) for m in metas) or str(args["seed"])
    stem = "validation" if (work / "validation.md").exists() else "validation-restore"
    val_md = (work / f"{stem}.md").read_text() if (work / f"{stem}.md").exists() else "(not run)"
    val = json.loads((work / f"{stem}.json").read_text()) if (work / f"{stem}.json").exists() else {}
    _, valset = common.split()
    onnx = (f"not shipped; `training/export.py` writes `target/training/{a.name}/{a.name}.onnx` "
            "(opset 17, dynamic H/W) for runtime comparisons")
    # The frame a user renders: to 3840x2160 for an upscaler (from 1920x1080 at x2, 960x540 at
    # x4), 1920x1080 in and out for a restorer.
    in_w, in_h = (3840 // s, 2160 // s) if s > 1 else (1920, 1080)
    lines = [
        f"# {a.name}", "",
        f"A {cfg['channels']}-channel, {cfg['body_convs'] + 2}-convolution `plain-conv` network "
        f"({'x' + str(s) + ' upscale' if s > 1 else 'restoration'}) for 8-bit SDR plates from "
        "generative video models: it removes compression damage ("
        + ("JPEG blocking and ringing only: trained on JPEG damage alone"
           if args.get("kinds") and set(args["kinds"].split(",")) <= {"jpeg", "jpeg2", "clean"}
           else "JPEG, H.264/H.265 blocking and ringing, banding")
        + ")" + (" while it upsamples, and leaves clean input close to a sharp "
                 "classical upscale." if s > 1 else
                 ", and leaves clean input nearly unchanged."), "",
        "## Files", "",
        f"- `{a.name}.safetensors` ({f.stat().st_size} bytes, F32, sha256 `{sha}`), format: "
        "docs/model-format.md",
        f"- test vector `tests/data/nn/{a.name}.vector.safetensors` (input 1x3x37x37 from a crop of "
        "skimage's astronaut, PyTorch's output)",
        f"- ONNX: {onnx}", "",
        "## Architecture", "",
        (f"- `plain-conv` v1: head 3→{cfg['channels']}, {cfg['body_convs']} body convolutions "
         f"{cfg['channels']}→{cfg['channels']}, tail {cfg['channels']}→{3 * s * s}, all 3x3 with "
         f"bias; {cfg['activation']} (one slope per channel) after head and body; pixel shuffle "
         f"x{s}; plus a {SKIP_WORDS.get(cfg['skip'], cfg['skip'])} upsample of the input. "
         "Encoding sRGB code values 0..1."
         if u == 1 else
         f"- `plain-conv` v1 with `unshuffle` {u}: the frame's {u}x{u} blocks (pixel unshuffle, "
         f"edge pixels repeated to complete the last ones) → head {3 * u * u}→{cfg['channels']}, "
         f"{cfg['body_convs']} body convolutions {cfg['channels']}→{cfg['channels']}, tail "
         f"{cfg['channels']}→{3 * u * u}, all 3x3 with bias at 1/{u} resolution; "
         f"{cfg['activation']} after head and body; pixel shuffle x{u} back to full resolution; "
         f"plus the input (identity skip). Encoding sRGB code values 0..1."),
        f"- Parameters: {model.params():,}",
        f"- Multiply-adds per {'LR (input)' if s > 1 else 'input'} pixel: {macs:,}; FLOPs per output pixel: "
        f"{2 * macs / (s * s):,.0f} (2 per multiply-add, convolutions only; the skip and "
        "activations add a few more)",
        f"- {in_w}x{in_h} → {in_w * s}x{in_h * s}: {macs * in_w * in_h / 1e9:.1f} G "
        "multiply-adds per frame",
        f"- Receptive field: {model.receptive_field()} input pixels", "",
        "## Training data", "",
        "Only these sources; 10 images are held out for validation (by sha1 of the name within "
        "each source): " + ", ".join(f"{s_}/{n}" for s_, n, _ in valset) + ".", "",
        SOURCES,
        "Wallpapers larger than 2000 px are used at full size and area-downscaled by 2; "
        f"{cmeta.get('crops', '?')} HR crops of {cmeta.get('size', 192)}x{cmeta.get('size', 192)} "
        f"were cut once (nearly flat crops mostly skipped) and degraded once, "
        + (f"seed {args['seed']}" if len(metas) <= 1 else
           f"in {len(metas)} caches pooled (`--cache`; their seeds {cache_seeds})")
        + (f"; mix {cmeta['kinds']}" if cmeta.get("kinds") else "")
        + (f"; trained only on the pairs of kind {', '.join(sorted(args['kinds'].split(',')))} "
           "(`--kinds`): " + str(sum(cmeta.get("kinds", {}).get(k, 0)
                                     for k in args["kinds"].split(","))) + " pairs"
           if args.get("kinds") else "") + ".", "",
        "## Degradations", "", DEGRADATIONS + ".", "",
        "## Training", "",
        f"- `training/reproduce.sh {a.name}` (one command: setup, data, training, validation, "
        "export, this card)",
        f"- {ck['step']} steps, batch {args['batch']} of {args['patch']}x{args['patch']} LR "
        f"patches with flips and 90° rotations, {loss_words(args['loss'])} on sRGB 0..1, Adam "
        f"(β 0.9/0.99) lr {args['lr']} with {args['warmup']} warm-up steps then cosine to "
        f"{args['lr_min']}, seed {args['seed']}"
        + (f"; started from the weights of `{init_path(args['init'])}` ("
           + ("its own card gives its training" if init_shipped(args["init"]) else
              "not shipped: `training/reproduce.sh "
              f"{Path(args['init']).stem}` makes it, BENCHMARKS.md gives its figures")
           + "), optimiser and schedule afresh"
           + (f", its `{args['init_skip']}` skip replaced by `{args['skip']}`"
              if args.get("init_skip") else "")
           + init_activation_words(args)
           + (f", {args['init_deeper']} identity body convolutions appended after its own "
              "(Net2DeeperNet: training starts from the same function)"
              if args.get("init_deeper") else "")
           + (f", widened from {args['init_wider']} to {args['channels']} features per layer "
              "(the new features read the layer below through fresh random weights and start "
              "with zero weight wherever a trained feature or the output reads them: the same "
              "function again)"
              if args.get("init_wider") else "") if args.get("init") else "")
        + (f"; {args['clean_share']:.0%} of every batch drawn from the clean pairs "
           "(downscale only), the rest from the damaged ones"
           if args.get("clean_share") is not None else "")
        + (f"; plus {args['shift_consistency']} × a temporal-stability term (clean HR patches "
           "one HR pixel apart, area-downscaled, must have the same error where they overlap)"
           if args.get("shift_consistency") else ""),
        f"- Training wall time {ck['elapsed'] / 60:.0f} min on 2 CPU cores (torch 2.9.1, "
        "2 threads, nice 5, sharing the machine with cargo builds)"
        + (f"; whole reproduce run {a.total_seconds / 60:.0f} min" if a.total_seconds else ""),
        "", "## Validation", "",
        "Protocol: " + val.get("protocol", "").replace("\n", " "), "",
        val_md, "",
        "## Licence", "",
        "The weights are released under Apache-2.0. The training images keep their own licences "
        "(above); the weights contain no image data.", "",
    ]
    out = common.REPO / "bundle" / "models" / f"{a.name}.md"
    out.write_text("\n".join(lines))
    print("wrote", out)


if __name__ == "__main__":
    main()
