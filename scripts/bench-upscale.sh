#!/usr/bin/env bash
# Upscale's speed beside ffmpeg's Lanczos and oiiotool's, in one run, on the same frames:
# 960×540 → 1920×1080 and 1920×1080 → 3840×2160 (×2), 960×540 → 3840×2160 (×4).
# PlateRestore's time is what `ofxrun -v` reports as spent inside the plugin per frame (the
# median of RUNS frames); ffmpeg's and oiiotool's are wall-clock for one frame including their
# PNG decode (so they are, if anything, flattered less than the plugin). Results go in
# BENCHMARKS.md with the machine.
#
#   scripts/bench-upscale.sh            (RUNS=3 THREADS=$(nproc))
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
cargo run --release -q -p platerestore-bundle -- build >/dev/null
cargo build --release -q -p ofx-harness --bin ofxrun
export OFX_PLUGIN_PATH="$PWD/dist"
run=target/release/ofxrun
work=target/bench-upscale
mkdir -p "$work"
# oiiotool comes with the OpenImageIO wheel; kept in target/, not installed into the system.
oiio="$work/oiio"
if [ ! -x "$oiio/bin/oiiotool" ]; then
  python3 -m pip install -q --target "$oiio" openimageio >/dev/null 2>&1 || true
fi
# The wheel's oiiotool is a Python entry point: it needs the wheel on PYTHONPATH.
oiiotool=$(ls "$oiio"/bin/oiiotool 2>/dev/null || command -v oiiotool || true)
export PYTHONPATH="$oiio${PYTHONPATH:+:$PYTHONPATH}"

# Inputs: the built-in 960×540 plate, and its Lanczos ×2 as a 1080p plate (8-bit PNGs).
$run render org.platerestore.Upscale -p method=2 -p factor=1 -o "$work/in540.png" --out-depth byte --overwrite >/dev/null 2>&1 ||
  $run render org.platerestore.Grain -p amount=0 -o "$work/in540.png" --out-depth byte --overwrite >/dev/null
$run render org.platerestore.Upscale -i "$work/in540.png" -p method=2 -o "$work/in1080.png" --out-depth byte --overwrite >/dev/null

plugin_ms() { # args: input, params...: median plugin milliseconds over $runs frames
  local input=$1; shift
  local ps=()
  for p in "$@"; do ps+=(-p "$p"); done
  $run -v render org.platerestore.Upscale -i "$input" --frames "1-$runs" --threads "$threads" \
    "${ps[@]}" -o "$work/out.####.exr" --overwrite 2>&1 |
    sed -n 's/.*plugin \([0-9.]*\) ms.*/\1/p' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
wall_ms() { # a command: median wall-clock milliseconds of $runs runs
  local t0 t1 i
  for i in $(seq "$runs"); do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
  done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads $threads"
printf '| input → output | Neural ×2 (ms) | Neural ×2, Adaptive detail (ms) | Upscale Lanczos 3 (ms) | ffmpeg lanczos (ms) | oiiotool lanczos3 (ms) | ofxrun peak RSS, Neural ×2 (MiB) |\n'
printf '|---|---|---|---|---|---|---|\n'
for size in 540 1080; do
  in="$work/in$size.png"
  n=$(plugin_ms "$in" device=CPU)
  na=$(plugin_ms "$in" device=CPU adaptiveDetail=true)
  l=$(plugin_ms "$in" method=2)
  f=$(wall_ms ffmpeg -hide_banner -y -threads "$threads" -i "$in" -vf "scale=iw*2:ih*2:flags=lanczos" -f null -)
  if [ -n "$oiiotool" ]; then
    if "$oiiotool" --threads "$threads" "$in" --resize:filter=lanczos3 200% -d float -o "$work/oiio.exr" >/dev/null 2>&1; then
      o=$(wall_ms "$oiiotool" --threads "$threads" "$in" --resize:filter=lanczos3 200% -d float -o "$work/oiio.exr")
    else
      o="(oiiotool failed)"
    fi
  else
    o="(oiiotool unavailable)"
  fi
  # Peak memory of the whole ofxrun process (decode, plugin, EXR encode) for one neural frame.
  /usr/bin/time -f '%M' -o "$work/rss.txt" $run render org.platerestore.Upscale -i "$in" \
    -p device=CPU -o "$work/rss.exr" --overwrite >/dev/null 2>&1
  rss=$(tail -1 "$work/rss.txt")
  case $size in 540) label="960×540 → 1920×1080";; *) label="1920×1080 → 3840×2160";; esac
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$n" "$na" "$l" "$f" "$o" "$((rss / 1024))"
done

# ×4 from 960×540 to 3840×2160: the ×4 network (one pass at the plate's size), the ×2 network
# applied twice (what Neural ×4 does with a ×2 model file), Lanczos 3 ×4 and ffmpeg's.
in="$work/in540.png"
x4=$(plugin_ms "$in" device=CPU method=1)
x4a=$(plugin_ms "$in" device=CPU method=1 adaptiveDetail=true)
x2twice=$(plugin_ms "$in" device=CPU method=1 "modelFile=$PWD/$(scripts/shipped-model.sh x2)")
l4=$(plugin_ms "$in" method=2 factor=4)
f4=$(wall_ms ffmpeg -hide_banner -y -threads "$threads" -i "$in" -vf "scale=iw*4:ih*4:flags=lanczos" -f null -)
/usr/bin/time -f '%M' -o "$work/rss.txt" $run render org.platerestore.Upscale -i "$in" \
  -p device=CPU -p method=1 -o "$work/rss.exr" --overwrite >/dev/null 2>&1
rss=$(tail -1 "$work/rss.txt")
echo
printf '| input → output | Neural ×4 (ms) | Neural ×4, Adaptive detail (ms) | ×2 network twice (ms) | Upscale Lanczos 3 ×4 (ms) | ffmpeg lanczos ×4 (ms) | ofxrun peak RSS, Neural ×4 (MiB) |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| 960×540 → 3840×2160 | %s | %s | %s | %s | %s | %s |\n' "$x4" "$x4a" "$x2twice" "$l4" "$f4" "$((rss / 1024))"
