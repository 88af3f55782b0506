#!/usr/bin/env bash
# `make dist`: build exxo itself with exxo into dist/exxo (one file carrying its own runtime).
set -euo pipefail
cd "$(dirname "$0")/.."
EXXO=${EXXO:-.venv/bin/exxo}
ENV=build/dist-env
[ -x "$ENV/bin/python" ] || "$EXXO" venv "$ENV"
"$EXXO" build -s . --venv "$ENV" -o dist/exxo
dist/exxo --version
