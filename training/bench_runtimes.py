"""ONNX Runtime and PyTorch (CPU) on a PlateRestore model file, for comparison with the Rust
engine (`cargo bench --bench nn`) in the same run: same weights, same input sizes, same thread
count. Prints one `engine=… size=… seconds=… gflops=…` line per runtime and size.

    python3 training/bench_runtimes.py MODEL.safetensors --threads 2 --sizes 960x540,1920x1080
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import export_onnx, load_safetensors  # noqa: E402


def median_seconds(fn, runs):
    fn()  # warm-up: allocator, kernel selection
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sizes", default="960x540,1920x1080")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["onnxruntime", "pytorch"], default=None)
    args = ap.parse_args()

    model, md = load_safetensors(args.model)
    macs = model.macs_per_lr_pixel()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        export_onnx(model, onnx_path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        print(f"# onnxruntime {ort.__version__}, torch {torch.__version__}, {args.threads} threads, "
              f"{macs / 1e3:.1f} kMAC per input pixel")
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            plate = 0.5 + 0.4 * np.sin(xx * 0.05) * np.cos(yy * 0.031)
            x = np.ascontiguousarray(np.repeat(plate[None, None], 3 * md["frames"], axis=1))
            runtimes = []
            if args.only in (None, "onnxruntime"):
                runtimes.append(("onnxruntime", lambda: sess.run(None, {"input": x})))
            if args.only in (None, "pytorch"):
                xt = torch.from_numpy(x)

                def run_torch():
                    with torch.inference_mode():
                        model(xt)
                runtimes.append(("pytorch", run_torch))
            for name, fn in runtimes:
                s = median_seconds(fn, args.runs)
                gflops = 2 * macs * w * h / s / 1e9
                print(f"engine={name} size={w}x{h} out={w * md['scale']}x{h * md['scale']} "
                      f"seconds={s:.3f} gflops={gflops:.1f}", flush=True)


if __name__ == "__main__":
    main()
