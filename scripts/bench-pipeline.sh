#!/usr/bin/env bash
# The main job's speed and memory: pipelines/genai-plate.toml on the 12-frame 1080p sample
# clip (→ 3840×2160 half PIZ EXR), with 1 and 2 jobs, against a pipeline with no nodes on the
# same clip (decode + the same EXR write at 1080p) measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p platerestore-bundle -- build
cargo build --release -q -p ofx-harness --bin ofxrun
export OFX_PLUGIN_PATH="$PWD/dist"
run=target/release/ofxrun
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clip="$tmp/clip.mp4"
$run sample-clip "$clip" >/dev/null 2>&1
cat > "$tmp/copy.toml" <<'TOML'
pipeline = 1
name = "copy"
[input]
path = "builtin"
[output]
path = "out/copy/plate.####.exr"
depth = "half"
compression = "piz"
TOML
measure() { # label, pipeline, extra args…
  local label=$1 file=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$run" pipeline "$file" -i "$clip" -o "$tmp/$label/p.####.exr" --progress quiet "$@" 2>/dev/null
  read -r secs kb < "$tmp/time"
  printf "%-28s %7.2f s  %6.2f s/frame  peak RSS %5d MiB\n" "$label" "$secs" "$(echo "$secs / 12" | bc -l)" $((kb / 1024))
}
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
measure "no nodes (decode + write)" "$tmp/copy.toml"
measure "genai-plate, 1 job" pipelines/genai-plate.toml
measure "genai-plate, 2 jobs" pipelines/genai-plate.toml --jobs 2
measure "genai-plate-hdr, 1 job" pipelines/genai-plate-hdr.toml
