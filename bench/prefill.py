"""Pre-filled input topics: one simulated fair, encoded one event per message or in envelopes.

Both encodings carry events of the same generator (sessions, viewers, order lifecycles,
re-sends and late events), so the two pipeline figures differ only in message framing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from bench.topics import Outgoing, create_topics, produce
from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from devtools.simulator.fair import FairConfig, Message, generate

_SPAN_MS = 30 * 60_000


@dataclass(frozen=True, slots=True)
class Prefilled:
    """What a pair of pre-filled topics holds."""

    views_topic: str
    orders_topic: str
    messages: int
    events: int
    value_bytes: int

    @property
    def events_per_message(self) -> float:
        """Average events per Kafka message."""
        return self.events / self.messages if self.messages else 0.0


def fair_messages(events: int, *, seed: int, now_ms: int) -> list[Message]:
    """A fair of ``events`` valid events over the last 30 minutes, one event per message."""
    config = FairConfig(start_ms=now_ms - _SPAN_MS, span_ms=_SPAN_MS, events=events, seed=seed,
                        envelope_size=1, invalid_rate=0.0)
    return generate(load_catalog(SAMPLE_CATALOG), config).messages


def singles(messages: Iterable[Message]) -> Iterator[Outgoing]:
    """Each message as it was generated (one event each)."""
    for m in messages:
        yield Outgoing(m.topic_kind == "orders", m.key.encode(), m.value)


def envelopes(messages: Iterable[Message], size: int) -> Iterator[Outgoing]:
    """Regroup events per (topic, session) into JSON arrays of ``size``, keeping order.

    A session's last, shorter envelope goes out at the end.
    """
    encode = msgspec.json.Encoder().encode
    buffers: dict[tuple[str, str], list[object]] = {}
    for m in messages:
        slot = (m.topic_kind, m.key)
        buffer = buffers.setdefault(slot, [])
        buffer.extend(m.events)
        if len(buffer) >= size:
            yield Outgoing(m.topic_kind == "orders", m.key.encode(), encode(buffer[:size]))
            del buffer[:size]
    for (kind, key), buffer in buffers.items():
        for start in range(0, len(buffer), size):
            yield Outgoing(kind == "orders", key.encode(), encode(buffer[start:start + size]))


def count_events(records: Sequence[Outgoing]) -> int:
    """Events in ``records`` (an array value holds one per element)."""
    decode = msgspec.json.Decoder(list[msgspec.Raw] | dict[str, msgspec.Raw]).decode
    total = 0
    for record in records:
        value = decode(record.value)
        total += len(value) if isinstance(value, list) else 1
    return total


async def prefill(settings: Settings, records: Sequence[Outgoing]) -> Prefilled:
    """Create the scenario's topics and send ``records`` to them."""
    await create_topics(settings)
    await produce(settings.kafka_bootstrap, settings, records)
    return Prefilled(
        views_topic=settings.views_topic,
        orders_topic=settings.orders_topic,
        messages=len(records),
        events=count_events(records),
        value_bytes=sum(len(r.value) for r in records),
    )


def now_ms() -> int:
    """Wall clock in epoch milliseconds (event times are wall-clock times)."""
    return time.time_ns() // 1_000_000
