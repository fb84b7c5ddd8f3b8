#!/usr/bin/env bash
# Proves, inside the image, that ffmpeg does what stream-handle asks of it: it starts (every library
# found), has the RTSP demuxer over TCP, the segment and mp4 muxers, and really encodes with libx264
# and libx265 (encode mode) into listed segments. A library left out of the slim copy fails here,
# at build time, not at the first camera.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-ffmpeg: $*" >&2; exit 1; }

version=$(ffmpeg -hide_banner -version)
echo "${version%%$'\n'*}"
ffprobe -hide_banner -version >/dev/null
# Listed first, then searched: grep -q quitting early would fail the pipe under pipefail.
has() {
  local listing
  listing=$(ffmpeg -hide_banner "-$1" 2>/dev/null)
  grep -Eq "^ *[A-Z.]+ +$2( |$)" <<<"$listing" || fail "no $2 in ffmpeg -$1"
}
has demuxers rtsp
has muxers segment
has muxers mp4
has encoders libx264
has encoders libx265
protocols=$(ffmpeg -hide_banner -protocols 2>/dev/null)
grep -qx ' *tcp' <<<"$protocols" || fail "no tcp protocol"

# Two 1 s segments per codec, listed on stdout as stream-handle reads them.
for codec in libx264 libx265; do
  quiet=()
  [[ $codec == libx265 ]] && quiet=(-x265-params log-level=error) # x265 logs on its own
  listed=$(ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=10 -t 2 \
    -c:v "$codec" -preset ultrafast -g 10 -pix_fmt yuv420p "${quiet[@]}" \
    -f segment -segment_time 1 -segment_format mp4 -reset_timestamps 1 \
    -segment_list pipe:1 -segment_list_type csv "$work/$codec-%03d.mp4")
  [[ $(grep -c '\.mp4,' <<<"$listed") -ge 2 ]] || fail "$codec: expected 2 listed segments, got: $listed"
  duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/$codec-000.mp4")
  [[ $duration =~ ^[0-9] ]] || fail "$codec: ffprobe cannot read the first segment"
done
echo "check-ffmpeg: rtsp, tcp, segment, mp4, libx264 and libx265 all work"
