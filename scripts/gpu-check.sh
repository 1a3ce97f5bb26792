#!/usr/bin/env bash
# Builds here (x86-64 Linux, no GPU needed) everything a check on a GPU machine runs, into
# target/gpu-check/, then tells how to run it there:
#   platerestore-tests  the library's unit tests; the CUDA ones (names starting `cuda_`) are
#                       #[ignore]d in normal runs and compare the GPU against the CPU reference
#   device-bench        per-pixel throughput on the CPU, CUDA with host-memory images
#                       (upload + kernel + download), CUDA on device-resident images (OFX CUDA
#                       render), and a device-to-device copy of the same bytes (the bandwidth
#                       ceiling a memory-bound kernel such as inverse tone mapping should approach);
#                       film grain on a 4K UHD frame (grain_uhd_rgba_f32: the target is under
#                       1 ms per frame for cuda_kernel_35mm_medium and cuda_device_resident_render)
#   deps/itm-through-host  the Inverse Tone Map plugin loaded by the headless host in its OFX
#                       CUDA render mode (device pointers, the host's stream), compared with its
#                       CPU render (`cuda_` tests, with libplaterestore.so beside deps/)
#   nn-bench            the neural engine ×2, 1920×1080 → 3840×2160: CPU, then the GPU (frames
#                       in host memory) with fps, TFLOP/s and the share of the nominal
#                       tensor-core peak; models/ holds the shipped models, if any
#   run.sh              runs them on the GPU machine
#
# On the GPU machine: an NVIDIA driver for CUDA 12.0 or newer (the embedded PTX is ISA 8.0;
# cubins cover sm_75..sm_120), no CUDA toolkit needed. Copy the folder over and run
#   cd gpu-check && ./run.sh            # or ./run.sh tests | ./run.sh bench | ./run.sh grain
# Report the GPU (printed first), the test summary and the bench's table in BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
eval "$(scripts/cuda-tools.sh --env)"
export PLATERESTORE_REQUIRE_KERNELS=1
out="$root/target/gpu-check"
mkdir -p "$out"

# The executable cargo reports for a build, picked out of its JSON messages.
executable() {
    python3 -c '
import json, sys
want_name, want_test = sys.argv[1], sys.argv[2] == "test"
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == want_name and m["profile"]["test"] == want_test:
        print(m["executable"])
' "$@"
}

tests=$(cargo test -p platerestore --lib --no-run --message-format=json | executable platerestore test)
bench=$(cargo bench -p platerestore --bench device --no-run --message-format=json | executable device test)
[ -n "$tests" ] && [ -n "$bench" ] || { echo "gpu-check: build produced no binaries" >&2; exit 1; }
nnbench=$(cargo bench -p platerestore --bench nn --no-run --message-format=json | executable nn test)
cp "$nnbench" "$out/nn-bench"
# Shipped models if there are any yet; without one the nn bench times the shipped
# architecture with random weights (speed does not depend on the values).
mkdir -p "$out/models"
for m in bundle/models/*.safetensors; do
    [ -f "$m" ] && cp "$m" "$out/models/"
done
basename "$(scripts/shipped-model.sh x2)" > "$out/models/shipped-x2"
cp "$tests" "$out/platerestore-tests"
cp "$bench" "$out/device-bench"
# The integration test finds the plugin library in the folder above its own (target/<profile>).
itm=$(cargo test -p platerestore --test itm_through_host --no-run --message-format=json | executable itm_through_host test)
[ -n "$itm" ] || { echo "gpu-check: the host CUDA-render test did not build" >&2; exit 1; }
mkdir -p "$out/deps"
cp "$itm" "$out/deps/itm-through-host"
cp "$(dirname "$(dirname "$itm")")/libplaterestore.so" "$out/"

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs PlateRestore's GPU checks: CUDA against the CPU reference, then timings.
set -euo pipefail
cd "$(dirname "$0")"
what=${1:-all}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi not found"
if [ "$what" = all ] || [ "$what" = tests ]; then
    echo "== CUDA kernels against the CPU reference"
    ./platerestore-tests --ignored cuda_ --test-threads=1
    echo "== OFX CUDA render through the headless host against the CPU render"
    ./deps/itm-through-host --ignored cuda_ --test-threads=1
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
    echo "== per-pixel throughput (1080p RGBA f32 -> half), inverse tone map (1080p)"
    ./device-bench --bench 'copy_|itm_'
    echo "== film grain, 4K UHD RGBA f32 (target: under 1 ms per frame on the GPU)"
    ./device-bench --bench grain_
    echo "== neural x2 1920x1080 -> 3840x2160 (target: >= 60 fps on an H100-class GPU)"
    nnmodel=models/$(cat models/shipped-x2)
    [ -f "$nnmodel" ] || nnmodel=
    ./nn-bench $nnmodel --cuda --sizes 1920x1080 --runs 1
fi
if [ "$what" = grain ]; then
    ./platerestore-tests --ignored cuda_grain --test-threads=1
    ./device-bench --bench grain_
fi
RUN
chmod +x "$out/run.sh"
echo "gpu-check: built $out (platerestore-tests, device-bench, nn-bench, deps/itm-through-host, run.sh)"
echo "gpu-check: copy that folder to a machine with an NVIDIA GPU and run ./run.sh there"
