"""The gateway's Prometheus metrics (served on its own /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("ocop_ingest_requests_total", "Gateway HTTP requests by route and status.",
                   ["route", "status"])
EVENTS_ACCEPTED = Counter("ocop_ingest_events_accepted_total",
                          "Events acknowledged by Kafka and answered 202.")
EVENTS_REJECTED = Counter("ocop_ingest_events_rejected_total",
                          "Events refused in a 202 answer, by decoder reason.", ["reason"])
KAFKA_SEND = Histogram("ocop_ingest_kafka_send_seconds",
                       "Time from a request's first send until Kafka acknowledged all of it.",
                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
