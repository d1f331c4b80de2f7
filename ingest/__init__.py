"""The HTTP ingest gateway: producers that speak HTTP post events, which go to Kafka.

``POST /v1/events`` checks a per-source key, decodes each event with the worker's own
strict decoder and sends the valid ones keyed by session, so each lands on the partition
the worker counts it from (README, "HTTP ingest gateway"; docs/runbook.md).
"""
