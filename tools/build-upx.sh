#!/usr/bin/env bash
# upx for `exxo build -c` on Debian 12, which has no upx package: built from Debian's upx-ucl source
# package (its .orig tarball is upstream's, vendored libraries included). Prints the binary's path.
# Usage: tools/build-upx.sh   (idempotent; cached in ~/.cache/exxo/tools/)
set -euo pipefail
VERSION=4.2.4
SHA256=5ed6561607d27fb4ef346fc19f08a93696fa8fa127081e7a7114068306b8e1c4
cache=${XDG_CACHE_HOME:-$HOME/.cache}/exxo/tools
out=$cache/upx-$VERSION/upx
if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tarball=upx-ucl_$VERSION.orig.tar.xz
if [ ! -f "$cache/$tarball" ]; then
  apt-get source --download-only -qq "upx-ucl=$VERSION-1.1" >/dev/null 2>&1 || true
  [ -f "$tarball" ] || apt-get source --download-only -qq "upx-ucl" >/dev/null 2>&1 || true
  [ -f "$tarball" ] || { echo "build-upx: cannot download $tarball (deb-src entries: tools/fetch-sources.sh)" >&2; exit 1; }
  mv "$tarball" "$cache/$tarball"
fi
echo "$SHA256  $cache/$tarball" | sha256sum -c --quiet
tar xf "$cache/$tarball"
cmake -S upx-$VERSION-src -B build -DCMAKE_BUILD_TYPE=Release -DUPX_CONFIG_DISABLE_GITREV=ON \
  -DUPX_CONFIG_DISABLE_SANITIZE=ON -DUPX_CONFIG_DISABLE_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)" --target upx >/dev/null
mkdir -p "$(dirname "$out")"
cp build/upx "$out.tmp" && mv "$out.tmp" "$out"
echo "$out"
