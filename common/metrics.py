"""Every Prometheus metric of every process, declared in one place.

Labels are few and bounded (topic, partition, reason, page, route, a live fair, a
configured screen): never a session, viewer or order id. Hot paths call
``inc(n)``/``observe`` once per batch, not per event.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_FRESHNESS_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# Write side (streams/).
EVENTS_CONSUMED = Counter(
    "ocop_events_consumed_total", "Kafka messages taken from an input topic.", ["topic"]
)
EVENTS_APPLIED = Counter(
    "ocop_events_applied_total",
    "Events counted in Redis (after decoding, time rules and dedup), per input topic.",
    ["topic"],
)
DUPLICATES = Counter("ocop_duplicate_events_total", "Events skipped as exact duplicates.")
LATE_EVENTS = Counter(
    "ocop_late_events_total",
    "Events counted although more than a minute older than their partition's newest event.",
)
REDELIVERED = Counter(
    "ocop_redelivered_messages_total", "Messages skipped because Redis already covers them."
)
DEAD_LETTERS = Counter(
    "ocop_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"]
)
BATCH_MESSAGES = Histogram(
    "ocop_batch_messages", "Messages per processed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
BATCH_SECONDS = Histogram(
    "ocop_batch_apply_seconds", "Time to turn one batch into Redis writes and apply them.",
    buckets=_FAST_BUCKETS,
)
REDIS_ROUNDTRIP = Histogram(
    "ocop_redis_roundtrip_seconds", "Duration of one Redis round trip of the write path.",
    buckets=_FAST_BUCKETS,
)
FRESHNESS_APPLIED = Histogram(
    "ocop_freshness_applied_seconds",
    "Event time of a batch's newest event to the moment Redis holds it.",
    buckets=_FRESHNESS_BUCKETS,
)
CONSUMER_LAG_MESSAGES = Gauge(
    "ocop_consumer_lag_messages", "Messages in a partition not yet applied.",
    ["topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "ocop_consumer_lag_seconds",
    "Age of the oldest message not yet applied in a partition (0 when caught up).",
    ["topic", "partition"],
)
LAST_APPLIED = Gauge(
    "ocop_last_applied_timestamp_seconds", "Wall-clock time of the last applied batch."
)
FENCE_REJECTIONS = Counter(
    "ocop_fence_rejections_total", "Shard batches Redis refused as already applied."
)
REDIS_ERRORS = Counter(
    "ocop_redis_errors_total", "Redis calls that failed (and were retried).", ["role"]
)
CATALOG_UPDATES = Counter("ocop_catalog_updates_total",
                          "Catalog records (sessions and fairs) applied.")
OFFSET_GAPS = Counter(
    "ocop_offset_gaps_total",
    "Offset gaps in an input partition found real after reading it again (no records there).",
)
OFFSET_REWINDS = Counter(
    "ocop_offset_rewinds_total",
    "Times a worker read a partition again because a batch did not follow Redis's offsets.",
)
APPLY_FAILURES = Counter(
    "ocop_apply_failures_total",
    "Shard batches that could not be applied, so their shard stopped, by cause.", ["cause"],
)
# The state a worker holds between batches: both stay flat once the stream is past
# their horizons (lateness for ids, the order horizon for orders).
DEDUP_IDS = Gauge(
    "ocop_worker_dedup_ids",
    "Event-id fingerprints the worker remembers to drop duplicates (lateness horizon).",
)
ORDER_STATES = Gauge(
    "ocop_worker_order_states",
    "Order states the worker holds (forgotten past OCOP_ORDER_HORIZON_S).",
)
SHARDS_STOPPED = Gauge(
    "ocop_shards_stopped",
    "Shards this worker stopped counting after a failure; see the log, fix, restart it.",
)

# Read side (web/).
WS_CLIENTS = Gauge("ocop_ws_clients", "Websocket clients connected.", ["page"])
WS_MESSAGES = Counter(
    "ocop_ws_messages_sent_total", "Websocket messages sent, per page and kind.",
    ["page", "kind"],
)
WS_DROPPED = Counter(
    "ocop_ws_messages_dropped_total",
    "Messages not sent to a client (slow or closing), per page.", ["page"],
)
WS_DISCONNECTS = Counter(
    "ocop_ws_disconnects_total", "Websocket clients that left or were dropped, per reason.",
    ["page", "reason"],
)
BROADCAST_SECONDS = Histogram(
    "ocop_broadcast_seconds", "Time to hand one message to every connected client.",
    buckets=_FAST_BUCKETS,
)
FRESHNESS_SCREEN = Histogram(
    "ocop_freshness_screen_seconds",
    "Event time of the newest applied event to the moment a change is sent to screens.",
    buckets=_FRESHNESS_BUCKETS,
)
SCREENS_STALE = Gauge(
    "ocop_screens_stale",
    "Board screens whose last reported sequence number is older than the stale limit.",
)
SCREEN_LAST_SEEN = Gauge(
    "ocop_screen_last_seen_seconds",
    "Epoch seconds of a named venue screen's last contact with any web process "
    "(OCOP_SCREENS bounds the names).", ["screen"],
)
BOARD_VIEWERS_NOW = Gauge(
    "ocop_board_viewers_now", "Viewers watching any session now, as the board shows it."
)
SNAPSHOT_SECONDS = Histogram(
    "ocop_snapshot_build_seconds", "Time to read the board from Redis and build it.",
    buckets=_FAST_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "ocop_http_requests_total", "HTTP requests answered, per route and status.",
    ["route", "status"],
)
# The live fair's totals, labelled by fair id. Only fairs live now carry the label (the
# web process removes a fair's series when it stops being live), so it stays bounded.
FAIR_GMV = Gauge("ocop_fair_gmv_vnd", "Revenue of a fair live now, in VND.", ["fair"])
FAIR_VIEWS = Gauge("ocop_fair_views", "Views of a fair live now.", ["fair"])
FAIR_ORDERS = Gauge("ocop_fair_orders", "Orders counting for a fair live now.", ["fair"])
FAIR_VIEWERS_NOW = Gauge(
    "ocop_fair_viewers_now", "Viewers watching a fair live now, summed over its sessions.",
    ["fair"],
)
FAIR_GAUGES = (FAIR_GMV, FAIR_VIEWS, FAIR_ORDERS, FAIR_VIEWERS_NOW)
