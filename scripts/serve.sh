#!/usr/bin/env bash
# `make serve`: a local Prefect server (UI on http://127.0.0.1:4200) with its data under
# ./var/prefect, then `rentree serve` registering and serving the deployments against it.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
HOST=127.0.0.1
PORT=${RENTREE_PREFECT_PORT:-4200}
export PREFECT_HOME="$PWD/var/prefect"
export PREFECT_API_URL="http://$HOST:$PORT/api"
# The server's own services (scheduler, triggers/automations, pause timeouts) run in it.
export PREFECT_SERVER_ANALYTICS_ENABLED=false
mkdir -p "$PREFECT_HOME"

# Its own session: Ctrl-C reaches `rentree serve` only, which pauses its schedules on the
# server before stopping; the server is stopped after it, on exit.
setsid "$BIN/prefect" server start --host "$HOST" --port "$PORT" >"$PREFECT_HOME/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "serve: starting the Prefect server on http://$HOST:$PORT (log: $PREFECT_HOME/server.log)"
for _ in $(seq 1 120); do
  if "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen('$PREFECT_API_URL/health', timeout=2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "serve: the Prefect server stopped while starting; see $PREFECT_HOME/server.log." >&2
    exit 2
  fi
  sleep 1
done
"$BIN/python" -c "import urllib.request; urllib.request.urlopen('$PREFECT_API_URL/health', timeout=2)" 2>/dev/null || {
  echo "serve: the Prefect server did not answer on $PREFECT_API_URL within 2 minutes; see $PREFECT_HOME/server.log." >&2
  exit 2
}
echo "serve: UI on http://$HOST:$PORT; serving the rentree deployments and, for a local storage"
echo "serve: folder, its reports on http://$HOST:${RENTREE_REPORT_SERVER_PORT:-4300}/reports/ (Ctrl-C to stop)."
"$BIN/rentree" serve
