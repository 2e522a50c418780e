#!/bin/sh
# The production web server, as `make serve` and the compose file's `web` service run it: uvicorn (ASGI: a
# grade waiting on the LLM holds no thread) with WEB_CONCURRENCY worker processes on HOST:PORT.
#
# SIGTERM (docker stop, systemd, Ctrl-C) stops accepting connections and lets the requests in flight finish,
# for up to WEB_GRACEFUL_TIMEOUT seconds. Metrics: every worker writes its series to
# PROMETHEUS_MULTIPROC_DIR and /metrics sums them; the values of an earlier run are removed first.
set -eu

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/ready4hire-metrics-$PORT}"
export PROMETHEUS_MULTIPROC_DIR

mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# Only prometheus_client's own files: the folder may be one the operator named.
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -type f -delete

# LOG_FORMAT=json: uvicorn's own lines (start, stop, errors) are JSON objects too.
if [ "${LOG_FORMAT:-plain}" = json ]; then
    set -- --log-config "$(dirname "$0")/uvicorn-json-logging.json"
fi

exec uvicorn ready4hire.asgi:application "$@" \
    --host "$HOST" --port "$PORT" \
    --workers "$WEB_CONCURRENCY" \
    --timeout-graceful-shutdown "${WEB_GRACEFUL_TIMEOUT:-120}" \
    --lifespan off \
    --no-access-log
