#!/usr/bin/env bash
# Denoise / Restore's speed per 1920×1080 frame beside ffmpeg's denoisers, in one run: the
# neural method, the classical fast mode and the deband stage alone (Strength 0) as `ofxrun -v`
# reports the time inside the plugin (median of RUNS frames); ffmpeg's filters as wall-clock
# for one frame including the PNG decode. Results go in BENCHMARKS.md with the machine.
#
#   scripts/bench-restore.sh            (RUNS=3 THREADS=$(nproc))
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
cargo run --release -q -p platerestore-bundle -- build >/dev/null
cargo build --release -q -p ofx-harness --bin ofxrun
export OFX_PLUGIN_PATH="$PWD/dist"
run=target/release/ofxrun
work=target/bench-restore
mkdir -p "$work"
# A 1080p 8-bit plate: the built-in plate ×2 (Lanczos), saved as JPEG quality 30 and back.
$run render org.platerestore.Upscale -p method=2 -o "$work/clean.png" --out-depth byte --overwrite >/dev/null
ffmpeg -hide_banner -loglevel error -y -i "$work/clean.png" -q:v 12 "$work/in.jpg"
ffmpeg -hide_banner -loglevel error -y -i "$work/in.jpg" "$work/in.png"

plugin_ms() {
  local ps=()
  for p in "$@"; do ps+=(-p "$p"); done
  $run -v render org.platerestore.Restore -i "$work/in.png" --frames "1-$runs" --threads "$threads" \
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
ff() { wall_ms ffmpeg -hide_banner -y -threads "$threads" -i "$work/in.png" -vf "$1" -f null -; }

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads $threads; 1920×1080, ms per frame"
printf '| Restore neural | Restore classical | Restore classical + deband | deband only | ffmpeg hqdn3d | ffmpeg nlmeans | ffmpeg spp=5 | ffmpeg dctdnoiz | ffmpeg vaguedenoiser |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
  "$(plugin_ms method=0 device=CPU deband=2)" "$(plugin_ms method=1 deband=2)" "$(plugin_ms method=1 deband=1)" \
  "$(plugin_ms strength=0 deband=1)" \
  "$(ff hqdn3d)" "$(ff nlmeans)" "$(ff spp=5)" "$(ff dctdnoiz=sigma=4.5)" "$(ff vaguedenoiser)"
