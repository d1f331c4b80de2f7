"""Revenue and views per quarter hour over each fair's span, from the quarter buckets.

Minute buckets live three hours; the quarter-hour buckets (``Keys.quarter``) are kept for
``OCOP_RETENTION_DAYS``, so they are what a past fair's timeline can be drawn from. A
fair's line is the sum of its own sessions' ``<session>|gmv_vnd`` and ``<session>|views``
fields, not the bucket's shard-wide fields, which would add up every fair live at that
time. An order counts in the quarter it was placed, its later payment or refund too (the
write side keeps each order in its placement's buckets), so a fair's timeline sums to its
totals when its orders were placed within its span.

Reading is one HMGET per shard and quarter, pipelined a few thousand at a time::

    segments = await read_segments(redis, keys, figures.spans)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reports.figures import Span
from store.client import RedisClient
from store.fields import GMV, VIEWS, session_field
from store.keys import Keys
from store.windows import QUARTER_MS, quarter_of

# Commands per round trip: enough that a campaign of 16 fair days on 6 shards is one or
# two trips, few enough that a reply stays a few megabytes.
PIPELINE_COMMANDS = 4000
FIELDS = (GMV, VIEWS)


@dataclass(frozen=True, slots=True)
class Segment:
    """One fair's quarter hours (their start, epoch ms) with its revenue and views."""

    fair_id: str
    quarters: list[int]
    gmv_vnd: list[int]
    views: list[int]


@dataclass(frozen=True, slots=True)
class Read:
    """One HMGET of the plan: a shard's quarter bucket and its sessions' fields."""

    span: int
    slot: int
    key: str
    fields: list[str]


def quarters(span: Span) -> list[int]:
    """The quarter hours from ``span``'s start's to its end's, both included: an event
    at the closing instant itself still counts (feeds do send some)."""
    return list(range(quarter_of(span.start_ms), quarter_of(span.end_ms) + 1, QUARTER_MS))


def plan(spans: Sequence[Span], keys: Keys) -> list[Read]:
    """Every bucket read the spans need: per span, shard and quarter, one HMGET."""
    reads: list[Read] = []
    for index, span in enumerate(spans):
        by_shard: dict[int, list[str]] = {}
        for shard, sid in span.sessions:
            by_shard.setdefault(shard, []).extend(session_field(sid, f) for f in FIELDS)
        for slot, quarter in enumerate(quarters(span)):
            reads.extend(Read(index, slot, keys.quarter(shard, quarter), fields)
                         for shard, fields in sorted(by_shard.items()))
    return reads


def segments(spans: Sequence[Span], replies: Iterable[tuple[Read, Sequence[str | None]]]
             ) -> list[Segment]:
    """The spans' sums from each read's reply (fields in ``Read.fields`` order)."""
    out = [Segment(span.fair_id, quarters(span), [0] * len(quarters(span)),
                   [0] * len(quarters(span))) for span in spans]
    for read, values in replies:
        segment = out[read.span]
        # The fields are (gmv, views) pairs, session after session (see ``plan``); a
        # session that counted nothing that quarter has no fields there.
        segment.gmv_vnd[read.slot] += sum(int(v) for v in values[0::2] if v is not None)
        segment.views[read.slot] += sum(int(v) for v in values[1::2] if v is not None)
    return out


async def read_segments(redis: RedisClient, keys: Keys, spans: Sequence[Span], *,
                        per_trip: int = PIPELINE_COMMANDS) -> list[Segment]:
    """Each span's timeline, in a few pipelined round trips."""
    reads = plan(spans, keys)
    replies: list[tuple[Read, Sequence[str | None]]] = []
    for first in range(0, len(reads), per_trip):
        chunk = reads[first:first + per_trip]
        async with redis.pipeline(transaction=False) as pipe:
            for read in chunk:
                pipe.hmget(read.key, read.fields)
            replies.extend(zip(chunk, await pipe.execute(), strict=True))
    return segments(spans, replies)

