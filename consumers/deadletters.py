"""The dead-letter topic read back: decode, select and print safely.

Records are written by ``streams/deadletters.py``: the original key and value bytes, with
headers saying why and where from. Reading assigns every partition (no consumer group,
nothing committed), starts at the beginning or at the first record at/after a time, and
stops at the end offsets seen when it started, so a scan is a fixed, repeatable set::

    async with DeadLetterReader(settings) as reader:
        window = await reader.window(since_ms=now_ms - parse_duration("1h"))
        async for row in reader.rows(window, reason="handler_error"):
            print(row.reason, row.source, printable_prefix(row.value))

Re-sending selected rows to their source topics is ``consumers/replay.py``'s job.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from common.settings import Settings
from streams.deadletters import (
    DETAIL,
    ORIGINAL_KEY_LENGTH,
    ORIGINAL_LENGTH,
    ORIGINAL_SHA256,
    REASON,
    SOURCE_INDEX,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    TRUNCATED,
)

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


_DURATION = re.compile(r"([0-9]{1,9})([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_FALSE = {b"", b"0", b"false", b"no"}
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned, and
# line/paragraph separators: none of them may reach a terminal as themselves.
_UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class DurationError(ValueError):
    """A duration that is not a whole number followed by s, m, h or d."""


class DeadLetterFormatError(ValueError):
    """A record on the dead-letter topic that ocop-live's worker did not write."""


class DeadLetterTopicMissing(RuntimeError):
    """The dead-letter topic does not exist on the broker."""


def parse_duration(text: str) -> int:
    """Milliseconds in ``text`` (``30s``, ``15m``, ``1h``, ``2d``); positive, one unit."""
    match = _DURATION.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise DurationError(
            f"duration {text!r} is not a positive whole number followed by s, m, h or d "
            "(30s, 15m, 1h, 2d)"
        )
    return int(match[1]) * _UNIT_MS[match[2]]


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable_prefix(data: bytes | str | None, *, limit: int = 60) -> str:
    """At most ``limit`` characters of ``data`` safe for a terminal (unsafe ones escaped)."""
    if data is None:
        return ""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    out: list[str] = []
    used = 0
    for index, char in enumerate(text):
        piece = _escape(char) if unicodedata.category(char) in _UNSAFE else char
        more = index + 1 < len(text)
        # Keep one place for the ellipsis whenever something would be left out.
        if used + len(piece) + (1 if more else 0) > limit:
            out.append("…")
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Truncation:
    """What a dead letter cut to fit the topic (its value, its key or both).

    ``original_length`` and ``original_sha256`` describe the whole value when the value
    was cut (None: the value is whole, or the header is absent); ``original_key_length``
    the whole key when the key was cut.
    """

    kept: int
    value_cut: bool
    original_length: int | None
    original_sha256: str | None
    original_key_length: int | None


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """One dead letter, decoded: where it sits, where it came from, why, and its bytes."""

    dlq_partition: int
    dlq_offset: int
    dead_lettered_ms: int
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_index: int
    detail: str
    key: bytes | None
    value: bytes
    truncation: Truncation | None

    @property
    def source(self) -> str:
        """``topic[partition]@offset``, with ``#index`` for an element of an envelope."""
        at = f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"
        return f"{at}#{self.source_index}" if self.source_index else at


def _number(name: str, raw: bytes, where: str) -> int:
    if not raw.isdigit():
        raise DeadLetterFormatError(
            f"dead letter {where}: header {name}={raw[:40]!r} is not a non-negative integer"
        )
    return int(raw)


def _truncation(found: dict[str, bytes], key: bytes | None, value: bytes, where: str
                ) -> Truncation | None:
    length, sha, key_length = (found.get(ORIGINAL_LENGTH), found.get(ORIGINAL_SHA256),
                               found.get(ORIGINAL_KEY_LENGTH))
    original_length = None if length is None else _number(ORIGINAL_LENGTH, length, where)
    original_sha = None if sha is None else sha.decode("ascii", "replace").strip().lower()
    original_key = None if key_length is None else _number(ORIGINAL_KEY_LENGTH, key_length,
                                                           where)
    # Any one sign is enough: a marker, a length that differs, or a hash that differs.
    value_cut = (
        found.get(TRUNCATED, b"").strip().lower() not in _FALSE
        or (original_length is not None and original_length != len(value))
        or (original_sha is not None and original_sha != hashlib.sha256(value).hexdigest())
    )
    key_cut = original_key is not None and original_key != len(key or b"")
    if not (value_cut or key_cut):
        return None
    return Truncation(kept=len(value), value_cut=value_cut,
                      original_length=original_length if value_cut else None,
                      original_sha256=original_sha if value_cut else None,
                      original_key_length=original_key if key_cut else None)


def decode_dead_letter(
    *, partition: int, offset: int, timestamp_ms: int, key: bytes | None,
    value: bytes | None, headers: Headers,
) -> DeadLetterRow:
    """The row of one dead-letter record; headers it does not know are ignored."""
    where = f"[{partition}]@{offset}"
    found: dict[str, bytes] = {}
    for name, raw in headers:
        # The first of a repeated header wins, as Kafka's own tools show it.
        found.setdefault(name, raw or b"")
    missing = [n for n in (REASON, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET)
               if n not in found]
    if missing:
        raise DeadLetterFormatError(
            f"dead letter {where} lacks the header(s) {', '.join(missing)}"
        )
    data = value or b""
    return DeadLetterRow(
        dlq_partition=partition,
        dlq_offset=offset,
        dead_lettered_ms=timestamp_ms,
        reason=found[REASON].decode("utf-8", "replace"),
        source_topic=found[SOURCE_TOPIC].decode("utf-8", "replace"),
        source_partition=_number(SOURCE_PARTITION, found[SOURCE_PARTITION], where),
        source_offset=_number(SOURCE_OFFSET, found[SOURCE_OFFSET], where),
        source_index=_number(SOURCE_INDEX, found.get(SOURCE_INDEX, b"0"), where),
        detail=found.get(DETAIL, b"").decode("utf-8", "replace"),
        key=key,
        value=data,
        truncation=_truncation(found, key, data, where),
    )


@dataclass(frozen=True, slots=True)
class Window:
    """The offsets one scan covers: ``start`` up to (excluding) ``end``, per partition.

    ``since_ms`` also drops records stamped earlier that sit after the start offset (a
    partition's timestamps need not grow with its offsets).
    """

    start: dict[TopicPartition, int]
    end: dict[TopicPartition, int]
    since_ms: int | None = None


class DeadLetterReader:
    """Reads a fixed window of the dead-letter topic; nothing is committed (usage above)."""

    def __init__(self, settings: Settings, *, fetch_records: int = 2000) -> None:
        self.topic = settings.dlq_topic
        self.unreadable = 0
        self._bootstrap = settings.kafka_bootstrap
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None,
            enable_auto_commit=False, max_poll_records=fetch_records,
            # Retention may delete a window's first records before they are read: go on
            # from the oldest still there rather than jump to the end.
            auto_offset_reset="earliest",
        )

    async def __aenter__(self) -> DeadLetterReader:
        await self._consumer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._consumer.stop()

    async def window(self, *, since_ms: int | None = None) -> Window:
        """Every partition from the beginning (or ``since_ms``) to its end offset now."""
        numbers = await self._partition_numbers()
        if not numbers:
            raise DeadLetterTopicMissing(
                f"dead-letter topic {self.topic!r} (OCOP_DLQ_TOPIC) does not exist on the "
                "broker; check OCOP_KAFKA_BOOTSTRAP and OCOP_DLQ_TOPIC, or run "
                "`ocop-live topics create`"
            )
        partitions = [TopicPartition(self.topic, n) for n in sorted(numbers)]
        end: dict[TopicPartition, int] = await self._consumer.end_offsets(partitions)
        if since_ms is None:
            start: dict[TopicPartition, int] = await self._consumer.beginning_offsets(partitions)
        else:
            found = await self._consumer.offsets_for_times(
                {tp: max(0, since_ms) for tp in partitions})
            # No record at or after the time: that partition has nothing to read.
            start = {tp: end[tp] if found[tp] is None else found[tp].offset
                     for tp in partitions}
        return Window(start=start, end=end, since_ms=since_ms)

    async def _partition_numbers(self) -> list[int]:
        # The consumer's own metadata covers only topics it already reads: ask the broker,
        # listing first so a broker that auto-creates topics does not create this one.
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            if self.topic not in await admin.list_topics():
                return []
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        return [p["partition"] for d in described if d["topic"] == self.topic and not
                d["error_code"] for p in d["partitions"]]

    async def rows(self, window: Window, *, reason: str | None = None
                   ) -> AsyncIterator[DeadLetterRow]:
        """The decoded rows of ``window`` (of one ``reason`` if given), in fetch order."""
        # A record that does not decode is logged, counted in ``unreadable`` and skipped.
        todo = {tp: end for tp, end in window.end.items() if window.start[tp] < end}
        if not todo:
            return
        self._consumer.assign(list(todo))
        for tp in todo:
            self._consumer.seek(tp, window.start[tp])
        while todo:
            batch = await self._consumer.getmany(*todo, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= todo.get(tp, -1):
                        continue
                    row = self._decode(record)
                    if row is not None and _selected(row, window, reason):
                        yield row
            for tp in list(todo):
                if await self._consumer.position(tp) >= todo[tp]:
                    del todo[tp]

    def _decode(self, record: Any) -> DeadLetterRow | None:
        try:
            return decode_dead_letter(
                partition=record.partition, offset=record.offset,
                timestamp_ms=record.timestamp, key=record.key, value=record.value,
                headers=record.headers,
            )
        except DeadLetterFormatError as exc:
            self.unreadable += 1
            log.warning("skipped a record of %s: %s; it was not written by an ocop-live "
                        "worker, look at it with kcat or kafka-console-consumer",
                        self.topic, exc)
            return None


def _selected(row: DeadLetterRow, window: Window, reason: str | None) -> bool:
    if window.since_ms is not None and row.dead_lettered_ms < window.since_ms:
        return False
    return reason is None or row.reason == reason


@dataclass(frozen=True, slots=True)
class Scan:
    """The newest rows of a selection, in time order, and how many matched by reason."""

    rows: list[DeadLetterRow]
    by_reason: Counter[str]

    @property
    def matched(self) -> int:
        """How many rows the selection matched (``rows`` may hold fewer)."""
        return sum(self.by_reason.values())


async def newest(rows: AsyncIterator[DeadLetterRow], *, limit: int) -> Scan:
    """Keep the ``limit`` most recent of ``rows`` (bounded memory); count them all."""
    heap: list[tuple[int, int, int, DeadLetterRow]] = []
    by_reason: Counter[str] = Counter()
    async for row in rows:
        by_reason[row.reason] += 1
        item = (row.dead_lettered_ms, row.dlq_partition, row.dlq_offset, row)
        if len(heap) < limit:
            heapq.heappush(heap, item)
        elif limit and item[:3] > heap[0][:3]:
            heapq.heapreplace(heap, item)
    return Scan(rows=[item[3] for item in sorted(heap, key=lambda i: i[:3])],
                by_reason=by_reason)
