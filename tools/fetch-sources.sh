#!/usr/bin/env bash
# Fill exxo's source cache (${XDG_CACHE_HOME:-~/.cache}/exxo/sources) from Debian's source packages: their
# .orig tarballs are the upstream release tarballs (same bytes; the table marks the repacks), each checked
# against exxo's sha256 table before it is cached under the table's file name.
#
# Usage: tools/fetch-sources.sh [PYTHON_VERSION]     (default 3.13; run as root on Debian; idempotent)
#   PY=/path/to/python   the interpreter that runs exxo.runtime.sources (default: .venv/bin/python, python3)
#
# deb-src entries are derived from this machine's own apt sources (the same archive URIs and keyring, suites
# bookworm trixie sid): no host name is written here. When every source is already cached and verifies, the
# script returns at once without touching apt.
set -euo pipefail
PYVER=${1:-3.13}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PY:-}" ]; then
  if [ -x "$root/.venv/bin/python" ]; then PY=$root/.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH=$root/src${PYTHONPATH:+:$PYTHONPATH}
srcmod=(-m exxo.runtime.sources --python "$PYVER")

if "$PY" "${srcmod[@]}" --verify-cache --quiet 2>/dev/null; then
  echo "fetch-sources: every source for CPython $PYVER is cached and verifies"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "fetch-sources: some sources are missing (see: $PY ${srcmod[*]} --verify-cache); run this as root" >&2
  exit 1
fi
specs=$("$PY" "${srcmod[@]}" --debian-specs --missing)  # only what the cache lacks

# -- deb-src entries ----------------------------------------------------------------------------------------
# Every Debian archive URI of an enabled `deb` entry (deb822 .sources files and one-line sources.list), minus
# the security archive (its suites are named <suite>-security), each with the keyring its entry names.
suites="bookworm trixie sid"
derived=$("$PY" - <<'PYEOF'
import glob, re
entries = {}  # uri -> signed-by
def add(uri, suites, signed):
    if not any(s.endswith("-security") for s in suites):
        entries.setdefault(uri.rstrip("/"), signed)
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
            for uri in fields.get("uris", "").split():
                add(uri, fields.get("suites", "").split(), fields.get("signed-by", ""))
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"\s*deb\s+(\[([^]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m:
            signed = re.search(r"signed-by=(\S+)", m.group(2) or "")
            add(m.group(3), [m.group(4)], signed.group(1) if signed else "")
for uri, signed in entries.items():
    print(uri, signed or "/usr/share/keyrings/debian-archive-keyring.gpg")
PYEOF
)
[ -n "$derived" ] || { echo "fetch-sources: no Debian archive URI in this machine's apt sources" >&2; exit 1; }

# Is a deb-src entry for every derived URI and suite already configured (ours or the machine's own)?
have_src() {  # uri suite
  grep -rqsE "^[[:space:]]*deb-src([[:space:]]+\[[^]]*\])?[[:space:]]+$1/?[[:space:]]+$2[[:space:]]" \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v uri="$1" -v suite="$2" 'BEGIN { RS = ""; found = 0 }
      /(^|\n)Types:[^\n]*deb-src/ {
        u = 0; s = 0
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^URIs:/) { k = split(lines[i], w, /[ \t]+/); for (j = 2; j <= k; j++) { x = w[j]; sub(/\/$/, "", x); if (x == uri) u = 1 } }
          if (lines[i] ~ /^Suites:/) { k = split(lines[i], w, /[ \t]+/); for (j = 2; j <= k; j++) if (w[j] == suite) s = 1 }
        }
        if (u && s) found = 1
      }
      END { exit found ? 0 : 1 }' "$f" && return 0
  done
  return 1
}
srcfile=/etc/apt/sources.list.d/exxo-deb-src.sources
new=""
while read -r uri keyring; do
  for suite in $suites; do
    if ! have_src "$uri" "$suite"; then
      new+="Types: deb-src"$'\n'"URIs: $uri"$'\n'"Suites: $suites"$'\n'"Components: main"$'\n'"Signed-By: $keyring"$'\n\n'
      break
    fi
  done
done <<< "$derived"
if [ -n "$new" ]; then
  printf '# Written by exxo tools/fetch-sources.sh: deb-src twins of the deb entries above.\n%s' "$new" > "$srcfile"
  echo "fetch-sources: wrote $srcfile"
fi

# -- apt-get source -------------------------------------------------------------------------------------------
# Refresh the indexes only when a pinned version is unknown to apt (a fresh machine, or a new pin).
known() { apt-cache showsrc "${1%%=*}" 2>/dev/null | grep -qxF "Version: ${1#*=}"; }
need_update=0
while read -r spec _orig; do [ -z "$spec" ] || known "$spec" || need_update=1; done <<< "$specs"
if [ "$need_update" = 1 ] || [ -n "$new" ]; then
  apt-get update -qq
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=${XDG_CACHE_HOME:-$HOME/.cache}/exxo/sources
while read -r spec orig; do
  [ -n "$spec" ] || continue
  # The Debian packaging files (.dsc, .debian.tar) may be missing from the pool (404) while the .orig
  # arrived: only the .orig matters.
  (cd "$work" && apt-get source --download-only -qq "$spec" >/dev/null 2>&1) || true
  if [ ! -f "$work/$orig" ]; then
    # A release the index no longer lists may still be in the pool: take the .orig from there directly
    # (its sha256 is checked against exxo's table below like any other).
    pkg=${spec%%=*}
    case $pkg in lib?*) pfx=${pkg:0:4} ;; *) pfx=${pkg:0:1} ;; esac
    while read -r uri _keyring; do
      curl -fsSL -m 900 -o "$work/$orig" "$uri/pool/main/$pfx/$pkg/$orig" 2>/dev/null && break
      rm -f "$work/$orig"
    done <<< "$derived"
  fi
  [ -f "$work/$orig" ] || echo "fetch-sources: could not download $orig ($spec)" >&2
done <<< "$specs"
"$PY" "${srcmod[@]}" --install-orig "$work"
echo "fetch-sources: cache $cache"
