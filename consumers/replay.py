"""Dead letters re-driven to their source topic once the producer is fixed.

A replay re-sends a row's key and original value to its source topic and partition. It
is safe to repeat: the worker remembers the event ids it counted (its dedup horizon is
the lateness horizon, 1 h by default) and skips a replayed event it already counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from aiokafka import AIOKafkaProducer

from common.settings import Settings
from consumers.deadletters import DeadLetterReader, DeadLetterRow, Window

# Written on every replayed record, so a counted event can be traced to its dead letter.
REPLAYED_FROM = "replayed_from"


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What a replay of a selection does with each row."""

    replayable: int
    truncated: int
    not_input: int


class Replay:
    """Re-sends dead letters to their source topic and partition, whole values only.

    Usage::

        async with Replay(settings) as replay:
            async for row in reader.rows(window, reason="handler_error"):
                await replay.send(row)
        print(replay.sent, replay.truncated, replay.not_input)

    Only the views and orders topics are replay targets: an old catalog record re-sent
    to the compacted catalog topic would replace a newer one (publish the catalog again
    with ``ocop-live catalog load`` instead).
    """

    def __init__(self, settings: Settings, *, dry_run: bool = False) -> None:
        self.inputs = frozenset({settings.views_topic, settings.orders_topic})
        self.dlq_topic = settings.dlq_topic
        self.dry_run = dry_run
        self.sent = self.truncated = self.not_input = 0
        self._pending: list[Awaitable[object]] = []
        self._producer = None if dry_run else AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
        )

    def action(self, row: DeadLetterRow) -> str:
        """``send``, ``truncated`` or ``not_input``: what :meth:`send` does with ``row``."""
        if row.truncation is not None:
            return "truncated"
        return "send" if row.source_topic in self.inputs else "not_input"

    async def __aenter__(self) -> Replay:
        if self._producer is not None:
            await self._producer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                await self.flush()
        finally:
            if self._producer is not None:
                await self._producer.stop()

    async def send(self, row: DeadLetterRow) -> str:
        """Queue ``row`` for its source (or count why not); return :meth:`action`."""
        action = self.action(row)
        if action == "truncated":
            self.truncated += 1
        elif action == "not_input":
            self.not_input += 1
        else:
            if self._producer is not None:
                origin = f"{self.dlq_topic}[{row.dlq_partition}]@{row.dlq_offset}"
                self._pending.append(await self._producer.send(
                    row.source_topic, key=row.key, value=row.value,
                    partition=row.source_partition,
                    headers=[(REPLAYED_FROM, origin.encode())],
                ))
                if len(self._pending) >= 1000:
                    await self.flush()
            self.sent += 1
        return action

    async def flush(self) -> None:
        """Wait until the broker acknowledged every queued record (acks=all)."""
        pending, self._pending = self._pending, []
        for ack in pending:
            await ack


async def plan_replay(
    settings: Settings, window: Window, reader: DeadLetterReader, *, reason: str,
    each: Callable[[DeadLetterRow, str], None] | None = None,
) -> ReplayPlan:
    """Count what a replay of ``window``'s ``reason`` rows would do; send nothing."""
    async with Replay(settings, dry_run=True) as dry:
        async for row in reader.rows(window, reason=reason):
            action = await dry.send(row)
            if each is not None:
                each(row, action)
    return ReplayPlan(replayable=dry.sent, truncated=dry.truncated, not_input=dry.not_input)
