"""The faust app: thin agents that move records from Kafka to the pipeline."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import faust
from faust.types import TP
from mode import CrashingSupervisor
from prometheus_client import generate_latest

from common import metrics
from common.clock import wall_ms
from common.eventloop import loop_kind
from common.settings import Settings
from counting.aggregate import Record, record_time_ms
from store.client import redis_client
from streams.catalog import CatalogProcessor
from streams.deadletters import DeadLetterLimits, DeadLetterSink
from streams.pipeline import BatchProcessor
from streams.ranges import KafkaRangeReader
from streams.tuning import consumer_app, fetch_wait_ms, fetch_wait_problem
from streams.wiring import aggregator_for, catalog_store_for, store_for

log = logging.getLogger(__name__)

_METRICS_TYPE = "text/plain; version=0.0.4"
# How often partitions are checked for a stall (two checks in a row must agree).
STALL_SWEEP_S = 5.0


def build_app(settings: Settings, *, partitions: int | None = None) -> faust.App:
    """A faust app with the counting agent, the catalog agent and /metrics, /healthz.

    ``partitions`` is the input topics' partition count: records whose key hashes to
    another partition are dead-lettered (None skips that check).
    """
    limits = DeadLetterLimits(max_value_bytes=settings.max_message_bytes)
    app = consumer_app(
        settings, datadir_prefix="ocop-live",
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.worker_metrics_port,
        broker_session_timeout=settings.group_session_timeout_s,
        broker_heartbeat_interval=settings.group_heartbeat_s,
        consumer_group_instance_id=settings.group_instance_id,
        # The producer only sends dead letters: it must take the largest one there is.
        producer_max_request_size=limits.request_bytes,
    )
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                           "key_serializer": "raw", "value_serializer": "raw"}
    source_topics = {settings.views_topic, settings.orders_topic}
    source = app.topic(*sorted(source_topics), **raw)
    catalog_topic = app.topic(settings.sessions_topic, **raw)
    dlq_topic = app.topic(settings.dlq_topic, **raw)

    redis = redis_client(settings, decode_responses=True)
    sink = DeadLetterSink(app.producer, topic=dlq_topic.get_topic_name(), limits=limits)
    ranges = KafkaRangeReader(bootstrap=settings.kafka_bootstrap)
    processor = BatchProcessor(
        aggregator=aggregator_for(settings, partitions=partitions),
        store=store_for(redis, settings), sink=sink, ranges=ranges,
    )
    catalog_processor = CatalogProcessor(store=catalog_store_for(redis, settings), sink=sink)

    # A bug that escapes the pipeline stops the worker instead of letting faust restart
    # the agent in place: a restarted process resumes cleanly from what Redis recorded.
    @app.agent(source, name="count", supervisor_strategy=CrashingSupervisor)
    async def count(stream: Any) -> None:
        # faust's StreamT stub lacks take_events (faust 0.15.3 has it on Stream).
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            await processor.process(_records(events))
            _observe_lag(app, events)

    @app.agent(catalog_topic, name="catalog")
    async def catalog(stream: Any) -> None:
        # One record at a time: with take_events on this rarely written topic, the
        # consumer's commit hung after a broker restart (tests/chaos, kill -9 Kafka).
        async for event in stream.events():
            await catalog_processor.process(_records([event]))

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Resume from what Redis recorded, not from faust's commits: those can be behind
        # (redelivery, harmless) or ahead (a Redis that lost its last writes, or a
        # commit that passed an unprocessed message), and ahead would lose events.
        (assigned,) = args
        inputs = [(tp.topic, tp.partition) for tp in assigned if tp.topic in source_topics]
        resume = await processor.resume_offsets(inputs)
        for (topic, partition), offset in resume.items():
            log.info("resuming %s[%d] at offset %d (recorded in Redis)", topic, partition, offset)
        # seek_wait, not seek: faust's seek changes aiokafka's fetcher from this thread
        # while the consumer's own thread reads it, and a worker joining a busy group
        # crashed on that race (KeyError in Fetcher.fetched_records). seek_wait runs the
        # seeks on the consumer's thread.
        await app.consumer.seek_wait({TP(topic, partition): offset
                                      for (topic, partition), offset in resume.items()})

    @app.timer(interval=STALL_SWEEP_S)  # type: ignore[untyped-decorator]  # faust's stubs
    async def sweep_stalled() -> None:
        # A partition faust moved past what Redis holds is caught up when its next
        # record arrives; one that receives none would stay behind (BatchProcessor).
        positions: dict[tuple[str, int], int] = {}
        for tp in app.consumer.assignment():
            if tp.topic in source_topics:
                position = await app.consumer.position(tp)
                if position is not None:
                    positions[tp.topic, tp.partition] = position
        await processor.catch_up(positions)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # mode sends (app, revoked_partitions); a shard whose partitions left this worker
        # must be reloaded from Redis if it ever comes back.
        (revoked,) = args
        processor.forget({tp.partition for tp in revoked})
        # Another worker reports these partitions now; a stale lag here would keep
        # alerting after the fair went quiet.
        for tp in revoked:
            for gauge in (metrics.CONSUMER_LAG_MESSAGES, metrics.CONSUMER_LAG_SECONDS):
                with contextlib.suppress(KeyError):
                    gauge.remove(tp.topic, str(tp.partition))

    @app.on_before_shutdown.connect
    async def close_ranges(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await ranges.stop()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type; the exposition format is ASCII.
        return web.bytes(generate_latest(), content_type=_METRICS_TYPE)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        stopped = processor.stopped
        # A stopped shard is a worker that needs a person: load balancers and probes see
        # 503, with the reason per shard.
        return web.json({"status": "stopped shards" if stopped else "ok", "role": "worker",
                         "event_loop": loop_kind(),
                         "fetch_max_wait_ms": fetch_wait_ms(app),
                         "fetch_wait_problem": fetch_wait_problem(app),
                         "stopped_shards": {str(k): v for k, v in sorted(stopped.items())}},
                        status=503 if stopped else 200)

    del count, catalog, on_assigned, sweep_stalled, on_revoked, close_ranges, metrics_page
    del healthz
    return app


def _records(events: Any) -> list[Record]:
    """The records of a batch of faust events, with their source positions."""
    return [Record(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                   e.message.value, record_time_ms(e.message.timestamp * 1000))
            for e in events]


def _observe_lag(app: faust.App, events: Any) -> None:
    """Per partition in the batch: messages behind the high-water mark, and their age."""
    newest: dict[Any, Any] = {}
    for event in events:
        newest[event.message.tp] = event.message
    now = wall_ms() / 1000
    for tp, message in newest.items():
        high = app.consumer.highwater(tp)
        if high is None:
            continue
        behind = max(0, high - message.offset - 1)
        labels = (tp.topic, str(tp.partition))
        metrics.CONSUMER_LAG_MESSAGES.labels(*labels).set(behind)
        # The oldest message still waiting was produced after this one: its age bounds
        # the wait from above.
        metrics.CONSUMER_LAG_SECONDS.labels(*labels).set(
            max(0.0, now - message.timestamp) if behind else 0.0
        )
