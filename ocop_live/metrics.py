"""Every Prometheus metric of every process, declared in one place.

Labels are few and bounded (topic, reason, page): never a session, viewer or order id.
Hot paths call ``inc(n)`` once per batch, not once per event.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Write side (streams/).
EVENTS_CONSUMED = Counter(
    "ocop_events_consumed_total", "Kafka messages taken from an input topic.", ["topic"]
)
EVENTS_ACCEPTED = Counter(
    "ocop_events_accepted_total", "Events counted (after decoding, time rules and dedup)."
)
DUPLICATES = Counter("ocop_duplicate_events_total", "Events skipped as exact duplicates.")
REDELIVERED = Counter(
    "ocop_redelivered_messages_total", "Messages skipped because Redis already covers them."
)
DEAD_LETTERS = Counter(
    "ocop_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"]
)
BATCH_EVENTS = Histogram(
    "ocop_batch_messages", "Messages per processed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
BATCH_SECONDS = Histogram(
    "ocop_batch_apply_seconds", "Time to turn one batch into Redis writes and apply them.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
FENCE_REJECTIONS = Counter(
    "ocop_fence_rejections_total", "Shard batches Redis refused as already applied."
)
REDIS_ERRORS = Counter("ocop_redis_errors_total", "Redis calls that failed and were retried.")
CATALOG_UPDATES = Counter("ocop_catalog_updates_total", "Session catalog records applied.")

# Read side (web/).
WS_CLIENTS = Gauge("ocop_ws_clients", "Websocket clients connected.", ["page"])
WS_MESSAGES = Counter(
    "ocop_ws_messages_sent_total", "Websocket messages broadcast, per kind.", ["kind"]
)
SNAPSHOT_SECONDS = Histogram(
    "ocop_snapshot_build_seconds", "Time to read the board from Redis and build it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
HTTP_REQUESTS = Counter(
    "ocop_http_requests_total", "HTTP requests answered, per route and status.",
    ["route", "status"],
)
