"""The `plain-conv` network of docs/model-format.md and its exporters.

Tensor names, the metadata key and the forward pass follow that document exactly:
head, body.{i}, tail (3x3 convolutions, zero padding 1, bias), PReLU slopes `*.alpha`,
PyTorch pixel_shuffle, and a global skip that upsamples the centre frame.

`unshuffle` u > 1 (restoration only) runs the stack at 1/u resolution, as FFDNet's reversible
downsampling does (Zhang, Zuo & Zhang, "FFDNet", IEEE TIP 2018): pixel_unshuffle(u) in front
of the head, pixel_shuffle(u) after the tail, and the identity skip of the full-resolution
input. Same cost per output pixel buys a u-times wider receptive field: what 8x8 JPEG blocks
and 16x16 chroma blocks need. Frames whose sides are not multiples of u are padded at the
right and bottom by repeating the edge pixel, and the output is cropped back.
"""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = ("prelu", "relu", "leaky_relu", "silu")
SKIPS = ("bilinear", "lanczos3", "nearest", "identity", "none")


def lanczos3_phases(scale):
    """Lanczos-3 weights of output phase p (0..scale-1) over input offsets -3..3 from the
    output pixel's own input pixel i = d // scale: the source coordinate is
    (d + 0.5)/scale - 0.5 = i + delta_p, the six taps floor(delta_p) - 2 .. floor(delta_p) + 3
    weigh sinc(t)·sinc(t/3) of their distance t, normalised to sum 1 (computed in float64,
    then rounded to float32, as the Rust and CUDA engines do). Returns (scale, 7) float32."""
    w = np.zeros((scale, 7))
    for p in range(scale):
        delta = (p + 0.5) / scale - 0.5
        base = int(np.floor(delta))
        for k in range(base - 2, base + 4):
            w[p, k + 3] = np.sinc(delta - k) * np.sinc((delta - k) / 3)
        w[p] /= w[p].sum()
    return w.astype(np.float32)


def lanczos3_up(x, scale):
    """Separable Lanczos-3 upsample of NCHW `x` by an integer `scale`, edge pixels repeated
    (the taps' indices clamped to the frame), pixel centres aligned as align_corners=False."""
    n, c, h, w = x.shape
    # The weights are a constant of the graph (an ONNX export needs the kernel's shape).
    k = torch.from_numpy(np.tile(lanczos3_phases(scale), (int(c), 1))).to(x)
    # Rows: each input column gives `scale` output columns (grouped 1x7 convolution).
    xp = F.pad(x, (3, 3, 0, 0), mode="replicate")
    y = F.conv2d(xp, k.view(int(c) * scale, 1, 1, 7), groups=int(c))
    y = y.view(n, c, scale, h, w).permute(0, 1, 3, 4, 2).reshape(n, c, h, w * scale)
    yp = F.pad(y, (0, 0, 3, 3), mode="replicate")
    z = F.conv2d(yp, k.view(int(c) * scale, 1, 7, 1), groups=int(c))
    return z.view(n, c, scale, h, w * scale).permute(0, 1, 3, 2, 4).reshape(n, c, h * scale, w * scale)


class Layer(nn.Module):
    """conv3x3 (+ activation). State-dict keys: weight, bias (, alpha)."""

    def __init__(self, cin, cout, act=None, channels=None, leaky_slope=0.1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        # He initialisation for the activation's negative slope: nn.Conv2d's default
        # (kaiming_uniform with a=sqrt(5)) shrinks the signal ~3x per layer, so a plain stack of
        # 8 convolutions starts with a vanishing residual and training stalls at the skip.
        slope = 0.25 if act == "prelu" else (leaky_slope if act == "leaky_relu" else 0.0)
        nn.init.kaiming_normal_(self.weight, a=slope, mode="fan_in",
                                nonlinearity="leaky_relu")
        bound = 1 / (cin * 9) ** 0.5
        nn.init.uniform_(self.bias, -bound, bound)
        self.kind = act
        if act == "prelu":
            self.alpha = nn.Parameter(torch.full((cout,), 0.25))
        self.leaky_slope = leaky_slope

    def forward(self, x):
        x = F.conv2d(x, self.weight, self.bias, padding=1)
        if self.kind is None:
            return x
        if self.kind == "prelu":
            return F.prelu(x, self.alpha)
        if self.kind == "relu":
            return F.relu(x)
        if self.kind == "leaky_relu":
            return F.leaky_relu(x, self.leaky_slope)
        return F.silu(x)


class PlainConv(nn.Module):
    def __init__(self, scale=2, channels=32, body_convs=6, activation="prelu", skip="bilinear",
                 frames=1, leaky_slope=0.1, unshuffle=1):
        super().__init__()
        assert scale in (1, 2, 4) and activation in ACTIVATIONS and skip in SKIPS
        assert not (skip == "identity" and scale != 1)
        assert unshuffle in (1, 2, 4, 8) and (unshuffle == 1 or (scale == 1 and skip == "identity"))
        self.cfg = dict(scale=scale, channels=channels, body_convs=body_convs,
                        activation=activation, skip=skip, frames=frames, leaky_slope=leaky_slope,
                        unshuffle=unshuffle)
        u = unshuffle
        cin = 3 * frames * u * u
        self.head = Layer(cin, channels, activation, leaky_slope=leaky_slope)
        self.body = nn.ModuleList(Layer(channels, channels, activation, leaky_slope=leaky_slope)
                                  for _ in range(body_convs))
        self.tail = Layer(channels, 3 * (scale * u) ** 2, None)
        # Start as the plain skip: the residual begins near zero.
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    def skip(self, x):
        s, f = self.cfg["scale"], self.cfg["frames"]
        c = x[:, 3 * (f // 2): 3 * (f // 2) + 3]
        k = self.cfg["skip"]
        if k == "bilinear":
            return F.interpolate(c, scale_factor=s, mode="bilinear", align_corners=False) if s > 1 else c
        if k == "lanczos3":
            return lanczos3_up(c, s) if s > 1 else c
        if k == "nearest":
            return F.interpolate(c, scale_factor=s, mode="nearest") if s > 1 else c
        if k == "identity":
            return c
        return None

    def forward(self, x):
        u = self.cfg["unshuffle"]
        if u > 1:
            H, W = x.shape[-2:]
            # Unconditional (a zero pad is a copy): an ONNX trace then keeps the pads dynamic.
            xp = F.pad(x, (0, -W % u, 0, -H % u), mode="replicate")
            h = self.head(F.pixel_unshuffle(xp, u))
            for b in self.body:
                h = b(h)
            y = F.pixel_shuffle(self.tail(h), u)[..., :H, :W]
            return y + self.skip(x)
        h = self.head(x)
        for b in self.body:
            h = b(h)
        y = self.tail(h)
        s = self.cfg["scale"]
        if s > 1:
            y = F.pixel_shuffle(y, s)
        sk = self.skip(x)
        return y if sk is None else y + sk

    # --- bookkeeping -------------------------------------------------------------------
    def params(self):
        return sum(p.numel() for p in self.parameters())

    def macs_per_lr_pixel(self):
        """Multiply-adds per input pixel (per u x u block / u^2 when unshuffled)."""
        c, f, s, n, u = (self.cfg["channels"], self.cfg["frames"], self.cfg["scale"],
                         self.cfg["body_convs"], self.cfg["unshuffle"])
        return 9 * (3 * f * u * u * c + n * c * c + c * 3 * (s * u) ** 2) // (u * u)

    def receptive_field(self):
        """Input pixels across that can reach an output pixel (u x u blocks when unshuffled)."""
        u = self.cfg["unshuffle"]
        return u * (2 * (self.cfg["body_convs"] + 2) + 1)

    def metadata(self, name, task, encoding="srgb", training=None, license="Apache-2.0"):
        c = self.cfg
        md = {
            "format": "platerestore.model",
            "format_version": 1,
            "architecture": "plain-conv",
            "architecture_version": 1,
            "name": name,
            "task": task,
            "scale": c["scale"],
            "frames": c["frames"],
            "in_channels": 3 * c["frames"],
            "out_channels": 3,
            "channels": c["channels"],
            "body_convs": c["body_convs"],
            "activation": c["activation"],
            "skip": c["skip"],
            "encoding": encoding,
            "receptive_field": self.receptive_field(),
            "training": training or {},
            "license": license,
        }
        if c["activation"] == "leaky_relu":
            md["leaky_slope"] = c["leaky_slope"]
        if c["unshuffle"] > 1:
            md["unshuffle"] = c["unshuffle"]
        return md


def from_metadata(md):
    """The network a model file's metadata (or a checkpoint's `cfg`, same keys) describes."""
    return PlainConv(scale=md["scale"], channels=md["channels"], body_convs=md["body_convs"],
                     activation=md["activation"], skip=md["skip"], frames=md["frames"],
                     leaky_slope=md.get("leaky_slope", 0.1), unshuffle=md.get("unshuffle", 1))


def export_safetensors(model, path, name, task, encoding="srgb", training=None):
    """Write the PlateRestore model file: only the format's tensors, F32, plus metadata."""
    from safetensors.torch import save_file
    sd = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    allowed = {"head.weight", "head.bias", "tail.weight", "tail.bias"}
    for i in range(model.cfg["body_convs"]):
        allowed |= {f"body.{i}.weight", f"body.{i}.bias"}
    if model.cfg["activation"] == "prelu":
        allowed |= {"head.alpha"} | {f"body.{i}.alpha" for i in range(model.cfg["body_convs"])}
    assert set(sd) == allowed, sorted(set(sd) ^ allowed)
    for k, v in sd.items():
        assert torch.isfinite(v).all(), k
    md = model.metadata(name, task, encoding, training)
    save_file(sd, str(path), metadata={"platerestore": json.dumps(md)})
    return md


def load_safetensors(path):
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), "pt") as f:
        md = json.loads(f.metadata()["platerestore"])
    m = from_metadata(md)
    m.load_state_dict(load_file(str(path)))
    return m.eval(), md


def export_onnx(model, path):
    """ONNX opset 17, dynamic H and W, input `input` (N, 3*frames, H, W) → `output`."""
    model = model.eval()
    x = torch.rand(1, 3 * model.cfg["frames"], 32, 32)
    torch.onnx.export(model, (x,), str(path), opset_version=17, input_names=["input"],
                      output_names=["output"], dynamo=False,
                      dynamic_axes={"input": {2: "height", 3: "width"},
                                    "output": {2: "out_height", 3: "out_width"}})


def write_vector(model, path, img_crop):
    """Test vector: `input` (1, C, H, W) from a real image crop (0..1) and PyTorch's `output`."""
    from safetensors.torch import save_file
    model = model.eval()
    x = torch.from_numpy(np.ascontiguousarray(img_crop)).float().div(255).permute(2, 0, 1)[None]
    if model.cfg["frames"] > 1:
        x = x.repeat(1, model.cfg["frames"], 1, 1)
    with torch.no_grad():
        y = model(x)
    save_file({"input": x.contiguous(), "output": y.contiguous()}, str(path))
    return x, y
