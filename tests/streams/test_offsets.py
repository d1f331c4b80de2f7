"""Gaps against a simulated partition whose position faust moves ahead at will.

The model: a partition log with holes (offsets that hold no record, like transaction
markers), a stream that may jump ahead at any time (faust's seek to a committed offset)
or deliver records again (a redelivery), and range reads of the log the way
``streams/ranges.py`` reads Kafka. Whatever happens, once the feed goes on every record
is counted exactly once, and only holes are ever passed over.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from counting.aggregate import Record
from streams.offsets import Gap, first_gap, merge

TOPIC = "v"


def _record(offset: int, topic: str = TOPIC) -> Record:
    return Record(topic, 0, offset, b"s", b"{}")


def test_first_gap_tables() -> None:
    assert first_gap([], {}) is None
    assert first_gap([_record(0), _record(1)], {}) is None
    assert first_gap([_record(2)], {}) == Gap(TOPIC, 0, 2)
    assert first_gap([_record(5), _record(6)], {TOPIC: 4}) is None
    # Redelivered records at or below the recorded offset are no gap.
    assert first_gap([_record(3), _record(4), _record(5)], {TOPIC: 4}) is None
    assert first_gap([_record(3), _record(9)], {TOPIC: 4}) == Gap(TOPIC, 5, 9)
    # A gap inside the batch, and one found empty before.
    assert first_gap([_record(5), _record(8)], {TOPIC: 4}) == Gap(TOPIC, 6, 8)
    assert first_gap([_record(5), _record(8)], {TOPIC: 4}, passed={(TOPIC, 6)}) is None
    # Topics are followed separately.
    assert first_gap([_record(0, "o"), _record(3)], {TOPIC: 2}) is None
    assert first_gap([_record(0), _record(2, "o")], {"o": 0}) == Gap("o", 1, 2)


def test_merge_orders_each_topic_and_drops_repeats() -> None:
    merged = merge([_record(4), _record(0, "o"), _record(7)], [_record(5), _record(6), _record(4)])
    assert [(r.topic, r.offset) for r in merged] == [(TOPIC, 4), (TOPIC, 5), (TOPIC, 6),
                                                     (TOPIC, 7), ("o", 0)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], list[tuple[str, int]]]:
    size = draw(st.integers(min_value=1, max_value=60))
    holes = draw(st.sets(st.integers(min_value=0, max_value=size - 1), max_size=size // 3))
    log = [o for o in range(size) if o not in holes]
    steps = draw(st.lists(st.tuples(st.sampled_from(["fetch", "fetch", "fetch", "jump",
                                                     "back"]),
                                    st.integers(min_value=1, max_value=8)), max_size=40))
    return log, steps


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_record_counts_once_whatever_the_position_does(
    scenario: tuple[list[int], list[tuple[str, int]]],
) -> None:
    log, steps = scenario
    position, recorded = 0, None
    counted: list[int] = []

    def read(gap: Gap) -> list[Record]:
        return [_record(o) for o in log if gap.start <= o < gap.end]

    def deliver(batch: list[Record]) -> None:
        # What BatchProcessor does with one shard's records, against the model's log.
        nonlocal recorded
        passed: set[tuple[str, int]] = set()
        while (gap := first_gap(batch, {TOPIC: recorded}, passed)) is not None:
            found = read(gap)
            if found:
                batch = merge(batch, found)
            else:
                passed.add((gap.topic, gap.start))
        for record in batch:
            if recorded is None or record.offset > recorded:
                counted.append(record.offset)
                recorded = record.offset

    def fetch(n: int) -> list[Record]:
        nonlocal position
        batch = [_record(o) for o in log if o >= position][:n]
        if batch:
            position = batch[-1].offset + 1
        return batch

    for action, n in steps:
        if action == "jump":
            position += n
        elif action == "back":
            position = max(0, position - n)
        else:
            deliver(fetch(n))
    # The feed goes on: a jump is only noticed when a record after it arrives, so new
    # records land beyond wherever the position was moved.
    log += list(range(max(log[-1], position) + 1, max(log[-1], position) + 4))
    while recorded != log[-1]:
        deliver(fetch(5))
    assert counted == log
