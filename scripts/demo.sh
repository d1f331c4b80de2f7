#!/usr/bin/env bash
# make demo: the local stack (Kafka, Redis, Prometheus with the alert rules), one worker,
# one web process and a simulated campaign: the sample catalog's earlier fairs as a
# recorded history over the last weeks, then its last fair live now (sessions ended, live
# and next up). Ctrl-C stops all of it, the stack included.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
RATE=${DEMO_RATE:-300}
DURATION=${DEMO_DURATION:-1800}
HISTORY=${DEMO_HISTORY_EVENTS:-200000}
WEEKS=${DEMO_WEEKS:-3}
LOGS=.run/demo
# Every demo starts from an empty Kafka and Redis of its own: the campaign's history is
# weeks old, and a stack still holding the last demo's newer events would refuse it as
# too late.
export OCOP_RUN_DIR=$LOGS/stack
"$BIN/ocop-live" stack down >/dev/null 2>&1 || true
rm -rf "$OCOP_RUN_DIR"
mkdir -p "$LOGS"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo…"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$BIN/ocop-live" stack down || true
}
trap stop INT TERM EXIT

"$BIN/ocop-live" stack up --with-prometheus
eval "$("$BIN/ocop-live" stack env)"
"$BIN/ocop-live" topics create
# No `catalog load`: the simulator publishes the campaign's catalog, its fairs moved to
# the last weeks and to now, before the first event.

"$BIN/ocop-live" worker >"$LOGS/worker.log" 2>&1 &
pids+=($!)
"$BIN/ocop-live" web >"$LOGS/web.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$OCOP_WEB_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
host_token=$("$BIN/ocop-live" token issue --session cp-2023-hcm-01 2>/dev/null || true)

cat <<MSG

  Venue board:   http://127.0.0.1:$OCOP_WEB_PORT/board   (English: ?lang=en)
  Board API:     http://127.0.0.1:$OCOP_WEB_PORT/api/board
  Host page:     http://127.0.0.1:$OCOP_WEB_PORT/host#session=cp-2023-hcm-01&token=$host_token
  Metrics:       http://127.0.0.1:$OCOP_WEB_PORT/metrics (web), http://127.0.0.1:$OCOP_WORKER_METRICS_PORT/metrics (worker)
  Prometheus:    $OCOP_PROMETHEUS_URL/   alerts: $OCOP_PROMETHEUS_URL/classic/alerts   (runbook: docs/runbook.md)
  Logs:          $LOGS/

  Simulating a campaign: a history of $HISTORY events (the fairs of the last $WEEKS weeks
  and the live fair's first hours), sent at once, then the last fair live at $RATE
  events/s for $DURATION s. Ctrl-C stops everything.

MSG

"$BIN/ocop-live" simulate --campaign --weeks "$WEEKS" --events "$HISTORY" \
  --rate "$RATE" --duration "$DURATION" --truth "$LOGS/truth.json" &
pids+=($!)
wait "${pids[-1]}"
echo "simulation finished; the board stays up until Ctrl-C"
wait
