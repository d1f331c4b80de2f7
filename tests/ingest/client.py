"""A small HTTP client for the gateway tests, ingest keys made with the real CLI, and
what the gateway put on a topic."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from common.catalog import Catalog
from common.settings import Settings
from counting.contract import MessageDecoder
from devtools.simulator.producer import new_producer, publish_sessions
from tests.conftest import seconds, settings_env
from tests.processes import end_offsets

JSON = "application/json"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class Answer:
    """One gateway response."""

    status: int
    headers: dict[str, str]
    body: Any


def post(settings: Settings, body: bytes, *, key: str | None,
         content_type: str = JSON) -> Answer:
    """POST ``body`` to /v1/events of the gateway ``settings`` point at."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.ingest_port}/v1/events", data=body, method="POST",
        headers={"Content-Type": content_type})
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=seconds(60)) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), json.loads(exc.read()))


def post_webhook(settings: Settings, source: str, body: bytes,
                 headers: dict[str, str]) -> Answer:
    """POST ``body`` to /v1/webhooks/``source`` of the gateway with ``headers``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.ingest_port}/v1/webhooks/{source}", data=body,
        method="POST", headers={"Content-Type": JSON, **headers})
    try:
        with urllib.request.urlopen(request, timeout=seconds(60)) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers), json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), json.loads(exc.read()))


def events_body(events: list[dict[str, Any]]) -> bytes:
    """A JSON array of ``events``."""
    return json.dumps(events, ensure_ascii=False).encode()


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``ocop-live ingest <args>`` in a subprocess, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "cli", "ingest", *args],
                          env=settings_env(settings), capture_output=True, text=True,
                          timeout=seconds(60), check=False)


def add_key(settings: Settings, name: str, *binding: str) -> str:
    """A new key from ``ocop-live ingest keys add NAME [binding...]`` (its first line)."""
    result = cli(settings, "keys", "add", name, *binding)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[0]


async def topic_events(settings: Settings, kind: str) -> list[tuple[bytes, object]]:
    """Every event on the ``kind`` ("views" or "orders") topic, with its record key; each
    record must decode cleanly."""
    topic = settings.views_topic if kind == "views" else settings.orders_topic
    ends = await end_offsets(settings, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False)
    await consumer.start()
    decoder = MessageDecoder(kind=kind)
    found: list[tuple[bytes, object]] = []
    try:
        tps = [TopicPartition(name, partition) for name, partition in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            while await consumer.position(tp) <= ends[(tp.topic, tp.partition)]:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    decoded = decoder.decode(value=record.value, key=record.key)
                    assert not decoded.rejected
                    found.extend((record.key, e) for e in decoded.events)
    finally:
        await consumer.stop()
    return found


async def publish_catalog(settings: Settings, catalog: Catalog) -> None:
    """Publish ``catalog``'s sessions to the catalog topic, as `catalog load` does."""
    producer = new_producer(settings.kafka_bootstrap)
    await producer.start()
    try:
        await publish_sessions(producer, settings.sessions_topic, catalog)
    finally:
        await producer.stop()
