#!/usr/bin/env bash
# Times ffmpeg's `noise` filter on a 4K frame, to report beside `cargo bench --bench grain`.
#
# ffmpeg's noise is a far simpler model than PlateRestore's grain: independent per-pixel noise
# on 8-bit planes (no grain size, no film response, no proxy consistency). It only works on
# 8-bit formats, so a float frame is converted to 8-bit planar RGB first; the script times the
# conversion alone and conversion + noise, and reports the difference as the noise's own cost.
#
# Usage: scripts/bench-grain-ffmpeg.sh   (FRAMES=30 THREADS=2 to change the defaults)
set -euo pipefail
frames=${FRAMES:-30}
threads=${THREADS:-2}
command -v ffmpeg >/dev/null || { echo "ffmpeg not found on PATH" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One 4K frame of ffmpeg's own test pattern, as float planar RGB and as 8-bit planar RGB.
ffmpeg -v error -f lavfi -i testsrc2=size=3840x2160:rate=24 -frames:v 1 \
    -pix_fmt gbrpf32le -f rawvideo "$tmp/frame.gbrpf32"
ffmpeg -v error -f lavfi -i testsrc2=size=3840x2160:rate=24 -frames:v 1 \
    -pix_fmt gbrp -f rawvideo "$tmp/frame.gbrp"

# run LABEL PIX_FMT FILE FILTERS: the same frame looped $frames times, output discarded.
run() {
    local label=$1 fmt=$2 file=$3 filters=$4
    local start end
    start=$(date +%s.%N)
    ffmpeg -v error -threads "$threads" -filter_threads "$threads" \
        -stream_loop $((frames - 1)) -f rawvideo -pix_fmt "$fmt" -s 3840x2160 -i "$file" \
        -vf "$filters" -f null -
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" -v n="$frames" -v l="$label" \
        'BEGIN { printf "%-52s %8.1f ms/frame\n", l, 1000 * (e - s) / n }'
}

echo "ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3), $frames frames of 3840x2160, $threads threads"
run "float RGB in, convert to 8-bit only" gbrpf32le "$tmp/frame.gbrpf32" "format=gbrp"
run "float RGB in, convert + noise (alls=12, temporal)" gbrpf32le "$tmp/frame.gbrpf32" \
    "format=gbrp,noise=alls=12:allf=t"
run "8-bit RGB in, pass through" gbrp "$tmp/frame.gbrp" "null"
run "8-bit RGB in, noise (alls=12, temporal)" gbrp "$tmp/frame.gbrp" "noise=alls=12:allf=t"
