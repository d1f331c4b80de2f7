"""Quarter-hour buckets → a fair's timeline (pure: the plan of reads and the sums)."""

from __future__ import annotations

from reports.figures import Span
from reports.timeline import plan, quarters, segments
from store.keys import Keys
from store.windows import QUARTER_MS

Q = 1_700_874_000_000  # a quarter hour's start (08:00 in Asia/Ho_Chi_Minh)
KEYS = Keys("t")


def test_a_span_covers_every_quarter_it_touches_and_its_closing_instant() -> None:
    assert quarters(Span("f", Q + 60_000, Q + 2 * QUARTER_MS + 1, ())) == [
        Q, Q + QUARTER_MS, Q + 2 * QUARTER_MS]
    assert quarters(Span("f", Q, Q + QUARTER_MS - 1, ())) == [Q]
    assert quarters(Span("f", Q, Q + QUARTER_MS, ())) == [Q, Q + QUARTER_MS]


def test_one_read_per_shard_and_quarter_for_the_fairs_own_sessions() -> None:
    span = Span("f", Q, Q + 2 * QUARTER_MS - 1, ((1, "b"), (0, "a"), (1, "c")))
    reads = plan([span], KEYS)
    assert [(r.slot, r.key, r.fields) for r in reads] == [
        (0, KEYS.quarter(0, Q), ["a|gmv_vnd", "a|views"]),
        (0, KEYS.quarter(1, Q), ["b|gmv_vnd", "b|views", "c|gmv_vnd", "c|views"]),
        (1, KEYS.quarter(0, Q + QUARTER_MS), ["a|gmv_vnd", "a|views"]),
        (1, KEYS.quarter(1, Q + QUARTER_MS), ["b|gmv_vnd", "b|views", "c|gmv_vnd", "c|views"]),
    ]


def test_segments_sum_the_sessions_of_each_quarter_and_skip_missing_fields() -> None:
    spans = [Span("f", Q, Q + 2 * QUARTER_MS - 1, ((0, "a"), (1, "b"))),
             Span("g", Q + 96 * QUARTER_MS, Q + 97 * QUARTER_MS - 1, ((0, "c"),))]
    reads = plan(spans, KEYS)
    replies: dict[str, list[str | None]] = {
        KEYS.quarter(0, Q): ["100", "3"],
        KEYS.quarter(1, Q): ["250", None],
        KEYS.quarter(0, Q + QUARTER_MS): [None, "1"],
        KEYS.quarter(1, Q + QUARTER_MS): [None, None],
        KEYS.quarter(0, Q + 96 * QUARTER_MS): ["-50", "2"],
    }
    first, second = segments(spans, [(r, replies[r.key]) for r in reads])
    assert (first.fair_id, first.quarters, first.gmv_vnd, first.views) == (
        "f", [Q, Q + QUARTER_MS], [350, 0], [3, 1])
    # A refund taken out of a quarter can leave it below zero; it is shown as it is.
    assert (second.fair_id, second.gmv_vnd, second.views) == ("g", [-50], [2])
