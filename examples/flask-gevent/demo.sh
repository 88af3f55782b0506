#!/usr/bin/env bash
# `make demo`: build this example into one binary with exxo, run it, fetch the page and the CSS, stop it.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXXO=${EXXO:-$PWD/.venv/bin/exxo}
ENV=build/demo-env
OUT=build/demo/flask-gevent-demo
PORT=${PORT:-8765}

[ -x "$ENV/bin/python" ] || "$EXXO" venv "$ENV"
"$EXXO" build -s examples/flask-gevent --venv "$ENV" -o "$OUT"
ls -l "$OUT"

"$OUT" --bind "127.0.0.1:$PORT" --workers 3 > build/demo/server.log 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break; sleep 0.2; done
echo "---- GET / ----"
curl -fsS "http://127.0.0.1:$PORT/" | tee build/demo/page.html
echo "---- GET /static/style.css ----"
curl -fsS "http://127.0.0.1:$PORT/static/style.css"
grep -q '<strong id="ip">127.0.0.1</strong>' build/demo/page.html
echo "---- workers ----"
pgrep -P "$pid" | xargs -r ps -o pid,ppid,args -p
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
left=$(pgrep -f "$OUT" || true)
echo "server exited with $status; processes left: ${left:-none}"
[ "$status" = 0 ] && [ -z "$left" ]
echo "demo OK: one file, $(du -h "$OUT" | cut -f1), served the page with your IP."
