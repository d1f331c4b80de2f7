"""Where a shard's records skip offsets Redis has not recorded (pure).

A batch may only be applied when it starts right after the offset Redis recorded for
its partition. faust can move a partition's position behind the worker's back: its
recovery seeks assigned partitions to the group's committed offsets in a task of its
own, and those are ahead of Redis whenever Redis came back with less than it had (a
promoted replica, a restored backup, an AOF that missed its last second) or a faust
commit passed an unprocessed message. The pipeline then reads the skipped range itself
(``streams/ranges.py``) instead of seeking faust's stream back: a seek while faust's
fetch loop is still handing over records it fetched before would make faust drop the
re-read records as already seen. A range that holds no record (transaction markers,
records deleted by retention) is a real gap and is passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from counting.aggregate import Record


@dataclass(frozen=True, slots=True)
class Gap:
    """Offsets ``start`` up to (not including) ``end`` of ``topic`` are missing."""

    topic: str
    start: int
    end: int


def first_gap(records: Sequence[Record], recorded: Mapping[str, int | None],
              passed: Iterable[tuple[str, int]] = ()) -> Gap | None:
    """The first range of offsets the records skip after what Redis ``recorded``.

    Records at or below the recorded offset do not count as a gap (the aggregator skips
    them as redelivered). ``passed`` holds (topic, start) of gaps already found empty.
    """
    known = set(passed)
    expected: dict[str, int] = {}
    for record in records:
        topic = record.topic
        if topic not in expected:
            stored = recorded.get(topic)
            expected[topic] = 0 if stored is None else stored + 1
        want = expected[topic]
        if record.offset > want and (topic, want) not in known:
            return Gap(topic, want, record.offset)
        expected[topic] = max(want, record.offset + 1)
    return None


def merge(records: Sequence[Record], found: Sequence[Record]) -> list[Record]:
    """``records`` with the ``found`` ones added, each topic in offset order, no repeats.

    A shard's topics are counted independently (views and orders touch different
    counters), so only the order within a topic matters.
    """
    by_topic: dict[str, dict[int, Record]] = {}
    for record in [*records, *found]:
        by_topic.setdefault(record.topic, {}).setdefault(record.offset, record)
    return [by_topic[topic][offset] for topic in by_topic for offset in sorted(by_topic[topic])]
