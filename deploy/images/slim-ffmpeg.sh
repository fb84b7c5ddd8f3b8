#!/usr/bin/env bash
# Installs Debian's ffmpeg in a build stage and copies into DEST only what the ffmpeg and ffprobe
# binaries load at start: themselves and the shared libraries they link (the ldd closure), minus
# those the base image already has unchanged. Debian's package brings ~460 MB of dependencies, most
# of them (mesa, LLVM, the VA-API/VDPAU drivers) loaded with dlopen for hardware acceleration only,
# which stream-handle never asks for. Each package a copied file comes from keeps its copyright file.
#   slim-ffmpeg.sh DEST       (run as root in a stage FROM the runtime's own base image)
set -euo pipefail
dest=${1:?usage: slim-ffmpeg.sh DEST}
lib_dirs=(/lib /usr/lib)

# What the base already has, by content: a library apt upgrades on the way counts as new.
before=$(mktemp)
find "${lib_dirs[@]}" -name '*.so*' \( -type f -o -type l \) -exec sha256sum -- {} + 2>/dev/null | sort -k2 >"$before" || true

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
rm -rf /var/lib/apt/lists/*

binaries=(/usr/bin/ffmpeg /usr/bin/ffprobe)
mapfile -t libraries < <(ldd "${binaries[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
if ((${#libraries[@]} == 0)); then
  echo "slim-ffmpeg: ldd listed no libraries for ${binaries[*]}" >&2
  exit 1
fi
if ldd "${binaries[@]}" | grep -q 'not found'; then
  ldd "${binaries[@]}" | grep 'not found' >&2
  exit 1
fi

copied=0
packages=(ffmpeg)
for path in "${binaries[@]}" "${libraries[@]}"; do
  digest=$(sha256sum -- "$(readlink -f "$path")" | awk '{print $1}')
  # Compare with the base by the path ldd gave and by the file it points at.
  if grep -q -- "^$digest  $path\$" "$before" || grep -q -- "^$digest  $(readlink -f "$path")\$" "$before"; then
    continue
  fi
  # The file the loader opens, under the name it asks for, in the real directory: /lib and /bin
  # are symlinks into /usr here, and a copied /lib directory would replace the runtime's symlink.
  dir=$(readlink -f "$(dirname "$path")")
  mkdir -p "$dest$dir"
  cp -L -- "$path" "$dest$dir/$(basename "$path")"
  copied=$((copied + 1))
  owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) || owner=""
  [[ -n $owner ]] && packages+=("$owner")
done
for package in $(printf '%s\n' "${packages[@]}" | sort -u); do
  if [[ -f /usr/share/doc/$package/copyright ]]; then
    mkdir -p "$dest/usr/share/doc/$package"
    cp -- "/usr/share/doc/$package/copyright" "$dest/usr/share/doc/$package/"
  fi
done
echo "slim-ffmpeg: $copied files from $(printf '%s\n' "${packages[@]}" | sort -u | wc -l) packages, $(du -sh "$dest" | cut -f1)"
