#!/usr/bin/env bash
# Fill exxo's source cache (~/.cache/exxo/sources) offline-capably from Debian's source packages: their
# .orig tarballs are the upstream release tarballs (same bytes), checked against exxo's sha256 table.
# Usage: tools/fetch-sources.sh [PYTHON_VERSION]   (root, Debian/Ubuntu; idempotent)
set -euo pipefail
PYVER=${1:-3.13}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}

specs=$("$PY" -m exxo.runtime.sources --debian-specs --python "$PYVER")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/exxo/sources
missing=0
while read -r spec orig; do
  name=$("$PY" - "$spec" <<'PYEOF'
import sys
from exxo.runtime.sources import CPYTHON, LIBRARIES
spec = sys.argv[1]
for s in [*CPYTHON.values(), *LIBRARIES.values()]:
    if s.debian and f"{s.debian[0]}={s.debian[1]}" == spec:
        print(s.filename)
PYEOF
)
  [ -f "$cache/$name" ] || missing=1
done <<< "$specs"
if [ "$missing" = 0 ]; then echo "sources: all in $cache"; exit 0; fi

# deb-src entries derived from this machine's own apt sources (same URIs and keyring).
srcfile=/etc/apt/sources.list.d/exxo-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$uri" ] || uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$uri" ] || { echo "fetch-sources: no Debian archive URI in the apt sources" >&2; exit 1; }
  cat > "$srcfile" <<SRC
Types: deb-src
URIs: $uri
Suites: bookworm trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=/etc/apt/sources.list.d \
  -o APT::Get::List-Cleanup=0 || apt-get update -qq

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
while read -r spec orig; do
  # The Debian packaging files may be missing from the pool (404) while the .orig arrived: that is enough.
  apt-get source --download-only -qq "$spec" >/dev/null 2>&1 || true
  [ -f "$orig" ] || echo "fetch-sources: could not download $orig ($spec)" >&2
done <<< "$specs"
cd - >/dev/null
"$PY" -m exxo.runtime.sources --install-orig "$work" --python "$PYVER"
