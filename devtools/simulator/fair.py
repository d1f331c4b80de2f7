"""Seeded, pure generator of a realistic livestream fair as a list of Kafka messages.

No clock reads and no I/O: the start time, length and seed are parameters, so a run is
reproducible and ``truth.py`` can compute its exact expected numbers. The fair has
Zipf-skewed session popularity, a global viewer pool with churn, flash-sale spikes,
order lifecycles delivered out of order or repeated, exact re-sends, late events and a
share of deliberately invalid records, each sent alone so it is exactly one dead letter.

With ``count_share`` that share of the sessions is on a platform that reports its own
room count (a ``viewers`` event every few seconds) and joins, but no leaves, as TikTok
LIVE's feeds do; the other sessions report joins and leaves.

With ``follow_schedules`` each session is live only within its catalog schedule, as on a
real fair day: event times follow the summed pull of the sessions on schedule, and a
session's audience leaves when its schedule ends. What falls due after the span (status
changes, re-sends) is kept in ``Fair.later`` for a caller that goes on, such as a campaign.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate, pairwise
from typing import Literal, NamedTuple

import msgspec

from common.catalog import Catalog, SessionInfo

TopicKind = Literal["views", "orders"]
Event = dict[str, str | int]

INVALID_REASONS: tuple[str, ...] = (
    "malformed_json", "missing_field", "wrong_type", "negative_amount", "zero_quantity",
    "unknown_status", "unknown_kind", "future_ts", "past_ts", "key_mismatch",
)
_ORDER_REASONS = frozenset({"wrong_type", "negative_amount", "zero_quantity", "unknown_status"})
# The worker's order horizon by default (OCOP_ORDER_HORIZON_S): status changes count for
# a week after placement.
DEFAULT_ORDER_HORIZON_MS = 7 * 86_400_000
# The worker's dead-letter reason code for each kind of broken record (docs/design.md).
DEAD_LETTER_REASONS: dict[str, str] = {
    "malformed_json": "bad_json", "missing_field": "invalid_field",
    "wrong_type": "invalid_field", "negative_amount": "invalid_field",
    "zero_quantity": "invalid_field", "unknown_status": "invalid_field",
    "unknown_kind": "invalid_field", "future_ts": "future_event", "past_ts": "too_late",
    "key_mismatch": "key_mismatch",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ICT = timezone(timedelta(hours=7))
_SECOND = 1_000
_MINUTE = 60 * _SECOND
_DAY = 24 * 60 * _MINUTE
# Platform feeds hand over a session's events in small batches at least every ~2 s.
FLUSH_AFTER_MS = 2 * _SECOND
_SWEEP_EVERY_MS = 250
_P_LATE = 0.01  # share of fresh events whose ts lags 1-20 minutes (slow client upload)
_P_RESEND = 0.01  # share of events re-sent verbatim later, like a producer retry
_P_REPEAT = 0.03  # share of status changes the platform reports twice with a new event id
_P_OUT_OF_ORDER = 0.05  # share of paid orders whose "placed" arrives after "paid"
# A counting platform reports its room count every few seconds (drawn uniformly) while
# the room changes: at most once per this many joins and silent leaves.
_COUNT_EVERY_MS = (2 * _SECOND, 5 * _SECOND)
_COUNT_AFTER = 4
_P_ORDER, _P_ORDER_FLASH = 0.10, 0.30  # share of a session's fresh actions that are orders
_FLASH_PULL = 6.0  # a flash sale draws this many times the session's usual traffic
_FLASH_CROWD = 3  # ... and holds this many times its usual audience
_VIEWS, _ORDERS = 0, 1  # buffer slot offsets: each session has one buffer per topic
_QUANTITIES = (1, 2, 3, 4, 5)
_QUANTITY_CUM = tuple(accumulate((60, 22, 10, 5, 3)))
_VARIANT = "89ab"  # RFC 4122 variant nibble of a version-4 uuid


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka record: ``events`` is what ``value`` decodes to (empty when invalid)::

    for m in fair.messages:
        topic = views_topic if m.topic_kind == "views" else orders_topic
        await producer.send(topic, m.value, key=m.key.encode())

    ``due_ms`` is the simulated time the record is handed over; a paced producer waits
    for the wall clock to reach it, and a recorded feed uses it as the Kafka timestamp.
    """

    topic_kind: TopicKind
    key: str
    value: bytes
    events: list[Event]
    invalid_reason: str | None = None
    due_ms: int = 0


@dataclass(frozen=True, slots=True)
class FairConfig:
    """What to generate: ``events`` events with times spread over [start, start + span]::

    FairConfig(start_ms=now_ms - 3_600_000, span_ms=3_600_000, events=200_000, seed=7)

    ``follow_schedules`` keeps each session within its catalog schedule. ``split_ms``
    with ``events_before`` puts that many events before the split and the rest after it,
    each part spread by activity (a backfilled morning, then a paced afternoon).
    ``refund_delay_ms`` is how long after payment a refund comes, drawn uniformly, and
    ``flush_after_ms`` how long a session's events wait at most for their envelope.
    ``count_share`` is the share of sessions that report viewer counts instead of leaves
    (0, the default, generates what earlier versions did for the same seed).
    """

    start_ms: int
    span_ms: int
    events: int = 200_000
    seed: int = 0
    envelope_size: int = 20
    invalid_rate: float = 0.002
    follow_schedules: bool = False
    split_ms: int | None = None
    events_before: int = 0
    refund_delay_ms: tuple[int, int] = (_MINUTE, 15 * _MINUTE)
    flush_after_ms: int = FLUSH_AFTER_MS
    count_share: float = 0.0

    def __post_init__(self) -> None:
        """Reject settings that cannot describe a fair."""
        if self.events < 1 or self.span_ms < 0 or self.envelope_size < 1:
            raise ValueError("events and envelope_size must be >= 1 and span_ms >= 0")
        if self.flush_after_ms < 0:
            raise ValueError(f"flush_after_ms must be >= 0, not {self.flush_after_ms}")
        if not 0.0 <= self.invalid_rate <= 0.5:
            raise ValueError("invalid_rate must be within [0, 0.5]")
        if not 0.0 <= self.count_share <= 1.0:
            raise ValueError(f"count_share must be within [0, 1], not {self.count_share}")
        if self.split_ms is not None and not (
            self.start_ms <= self.split_ms <= self.start_ms + self.span_ms
            and 0 <= self.events_before <= self.events
        ):
            raise ValueError(f"split_ms {self.split_ms} must lie within the span and "
                             f"events_before {self.events_before} within [0, events]")
        low, high = self.refund_delay_ms
        if not 0 <= low <= high:
            raise ValueError(f"refund_delay_ms {self.refund_delay_ms} is not a range")


@dataclass(frozen=True, slots=True)
class Fair:
    """A generated fair: the simulated sessions and the messages in delivery order::

    fair = generate(catalog, FairConfig(start_ms=t0, span_ms=600_000, events=10_000))
    truth = compute_truth(fair.messages, fair.catalog, seed=fair.config.seed)

    ``later`` holds what falls due after the span (status changes, re-sends), one event
    per message in due order; it is not part of ``messages``.
    """

    config: FairConfig
    catalog: Catalog
    messages: list[Message]
    later: list[Message] = field(default_factory=list)


def new_event_id(rng: random.Random) -> str:
    """A uuid4-shaped event id drawn from a seeded generator."""
    # Formatted by hand: uuid.UUID costs a third of the whole generation time.
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def rfc3339_ms(value: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp with an offset (as the catalog has)."""
    return (datetime.fromisoformat(value) - _EPOCH) // timedelta(milliseconds=1)


def format_ts(ms: int, style: int) -> str | int:
    """Render epoch ms as RFC 3339 in +07:00 (style 0), in Z (style 1) or as epoch ms (2)."""
    if style == 2:
        return ms
    moment = _EPOCH + timedelta(milliseconds=ms)
    if style == 0:
        return moment.astimezone(_ICT).isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Live:
    """Mutable state of one simulated session."""

    __slots__ = ("audience", "base_weight", "changes", "counts", "discount", "index", "info",
                 "next_count", "seats", "target")

    def __init__(self, index: int, info: SessionInfo, base_weight: float, target: int) -> None:
        self.index = index
        self.counts = False  # the platform reports room counts, not leaves
        self.next_count = 0  # when it reports the next count
        self.changes = 0  # joins and leaves since its last count
        self.info = info
        self.base_weight = base_weight
        self.target = target
        self.discount = 0.0  # > 0 while a flash sale runs
        self.audience: list[int] = []  # viewer indexes now watching
        self.seats: dict[int, int] = {}  # viewer index -> position in audience


class _Part(NamedTuple):
    """One part of a time map: its events, in order, spread over its active segments."""

    first: int
    steps: int
    starts: list[int]
    ends: list[int]
    density: list[float]
    mass_before: list[float]
    mass: float


class _TimeMap:
    """Maps the k-th event to its time, spreading events by activity.

    Activity at a moment is the summed pull of the sessions on schedule then, so a busy
    hour gets more events and an hour without a session none. Each piece is
    (first event, count, from, to): ``count`` events from ``first`` on fall within
    [from, to], at a moment some session is on schedule (boundaries included).
    """

    def __init__(self, windows: list[tuple[int, int, float]],
                 pieces: list[tuple[int, int, int, int]]) -> None:
        self.firsts: list[int] = []
        self.parts: list[_Part] = []
        for first, count, low, high in pieces:
            if count == 0:
                continue
            edges = sorted({low, high} | {t for s, e, _ in windows for t in (s, e)
                                          if low < t < high})
            segments = [(a, b, sum(w for s, e, w in windows if s <= a and e >= b))
                        for a, b in pairwise(edges)]
            active = [(a, b, d) for a, b, d in segments if d > 0]
            if not active:
                raise ValueError(f"no session is on schedule between {low} and {high} ms")
            masses = [(b - a) * d for a, b, d in active]
            self.firsts.append(first)
            self.parts.append(_Part(
                first, max(count - 1, 1), [a for a, _, _ in active], [b for _, b, _ in active],
                [d for _, _, d in active], [0.0, *accumulate(masses)][:-1], sum(masses),
            ))

    def at(self, k: int) -> int:
        """The time of the k-th event (k counts from 0 over all pieces)."""
        part = self.parts[bisect_right(self.firsts, k) - 1]
        mass = (k - part.first) * part.mass / part.steps
        i = min(bisect_right(part.mass_before, mass) - 1, len(part.starts) - 1)
        moment = part.starts[i] + int((mass - part.mass_before[i]) / part.density[i])
        return min(moment, part.ends[i])


class _Builder:
    """Runs the simulation loop; one instance per ``generate`` call."""

    def __init__(self, catalog: Catalog, cfg: FairConfig, viewers: Sequence[str] | None) -> None:
        if not catalog.sessions:
            raise ValueError("the catalog has no sessions to simulate")
        self.cfg = cfg
        # Seeded PRNG on purpose: reproducible test data, never used for security.
        self.rng = random.Random(cfg.seed)  # noqa: S311
        rng = self.rng
        self.end_ms = cfg.start_ms + cfg.span_ms
        # A global viewer pool, so one viewer may watch several sessions; a campaign
        # passes one pool to all its fairs, so regulars come back.
        if viewers is None:
            pool_size = max(100, cfg.events // 6)
            self.pool = [f"v{i:06d}-{rng.getrandbits(24):06x}" for i in range(pool_size)]
        elif viewers:
            self.pool = list(viewers)
        else:
            raise ValueError("the viewer pool is empty")
        ranks = list(range(len(catalog.sessions)))
        rng.shuffle(ranks)
        weights = [1.0 / (rank + 1) ** 1.1 for rank in ranks]
        total_target = max(10, len(self.pool) // 5)
        self.live = [
            _Live(i, info, w, max(2, round(total_target * w / sum(weights))))
            for i, (info, w) in enumerate(zip(catalog.sessions, weights, strict=True))
        ]
        if cfg.count_share:
            # A generator of its own, so that the main one draws what it always drew.
            picker = random.Random(f"counts-{cfg.seed}")  # noqa: S311
            for index in picker.sample(range(len(self.live)),
                                       round(cfg.count_share * len(self.live))):
                self.live[index].counts = True
        # Where each session may have events: its schedule within the span, or the span.
        self.windows: list[tuple[int, int] | None] = [
            self._window(live.info) if cfg.follow_schedules else (cfg.start_ms, self.end_ms)
            for live in self.live
        ]
        if all(window is None for window in self.windows):
            raise ValueError(f"no session is scheduled between {cfg.start_ms} and "
                             f"{self.end_ms} ms")
        self.on = [not cfg.follow_schedules] * len(self.live)
        opened = [(w[0], i) for i, w in enumerate(self.windows) if w is not None]
        self.openings = sorted(opened) if cfg.follow_schedules else []
        # Only a schedule that ends within the span ends its stream here.
        self.closings = sorted(
            (w[1], i) for i, w in enumerate(self.windows)
            if cfg.follow_schedules and w is not None
            and rfc3339_ms(self.live[i].info.scheduled_end) <= self.end_ms
        )
        self.timemap: _TimeMap | None = None
        if cfg.follow_schedules or cfg.split_ms is not None:
            self.timemap = self._timemap()
        self.cum: list[float] = []
        self._reweigh()
        self.flash_edges = self._plan_flash_sales()
        self.pending: list[tuple[int, int, int, int, Event, bool]] = []
        self.seq = 0
        self.buffers: list[list[Event]] = [[] for _ in range(2 * len(self.live))]
        self.first_due = [0] * len(self.buffers)
        self.next_sweep = cfg.start_ms
        self.clock = cfg.start_ms  # following schedules: the newest moment handed over
        self.messages: list[Message] = []
        self.later: list[Message] = []
        self.emitted = 0
        self.encode = msgspec.json.Encoder().encode

    def _window(self, info: SessionInfo) -> tuple[int, int] | None:
        """A session's schedule clipped to the span; None when they do not overlap."""
        start = max(rfc3339_ms(info.scheduled_start), self.cfg.start_ms)
        end = min(rfc3339_ms(info.scheduled_end), self.end_ms)
        return (start, end) if start < end else None

    def _timemap(self) -> _TimeMap:
        """Spread the events by activity, in one piece or split before/after ``split_ms``."""
        cfg = self.cfg
        windows = [(w[0], w[1], live.base_weight if cfg.follow_schedules else 1.0)
                   for live, w in zip(self.live, self.windows, strict=True) if w is not None]
        if cfg.split_ms is None:
            return _TimeMap(windows, [(0, cfg.events, cfg.start_ms, self.end_ms)])
        before = cfg.events_before
        return _TimeMap(windows, [(0, before, cfg.start_ms, cfg.split_ms),
                                  (before, cfg.events - before, cfg.split_ms, self.end_ms)])

    def _plan_flash_sales(self) -> list[tuple[int, int, float]]:
        """Pick flash-sale windows: (time, session index, discount) edges, sorted."""
        rng, cfg = self.rng, self.cfg
        edges: list[tuple[int, int, float]] = []
        for live, window in zip(self.live, self.windows, strict=True):
            if window is None:
                continue
            # Within the session's own schedule when it has one, else within the span.
            start, span = (window[0], window[1] - window[0]) if cfg.follow_schedules else (
                cfg.start_ms, cfg.span_ms)
            length = max(span // 25, 1)
            if rng.random() < 0.6:
                begin = start + rng.randrange(max(span - length, 1))
                discount = rng.choice((0.1, 0.15, 0.2, 0.25, 0.3))
                edges += [(begin, live.index, discount), (begin + length, live.index, 0.0)]
        edges.sort()
        return edges

    def _reweigh(self) -> None:
        """Recompute the session-choice table; a flash sale multiplies a session's pull.

        A session off schedule has no pull, so it is never chosen.
        """
        pulls = (s.base_weight * (_FLASH_PULL if s.discount else 1.0) if self.on[s.index]
                 else 0.0 for s in self.live)
        self.cum = list(accumulate(pulls))

    def _pick(self) -> _Live:
        """A session chosen by its pull."""
        pick = bisect(self.cum, self.rng.random() * self.cum[-1])
        return self.live[min(pick, len(self.live) - 1)]

    def run(self) -> list[Message]:
        """Emit exactly ``cfg.events`` events, one per loop step that emits."""
        cfg, rng = self.cfg, self.rng
        steps = max(1, cfg.events - 1)
        timemap = self.timemap
        while self.emitted < cfg.events:
            if timemap is None:
                now = cfg.start_ms + self.emitted * cfg.span_ms // steps
            else:
                now = timemap.at(self.emitted)
            if cfg.follow_schedules:
                self._drain(now)
                if self.emitted >= cfg.events:
                    break
            self._advance(now)
            if rng.random() < cfg.invalid_rate:
                self._invalid(now)
            elif self.pending and self.pending[0][0] <= now:
                _, _, index, kind, event, resent = heapq.heappop(self.pending)
                self._emit(index, kind, event, now, resend_ok=not resent)
            else:
                live = self._pick()
                if rng.random() < (_P_ORDER_FLASH if live.discount else _P_ORDER):
                    self._order(live, now)
                else:
                    self._view(live, now)
        slots: list[int] = list(range(len(self.buffers)))
        if cfg.follow_schedules:
            self.next_sweep = self.end_ms
            self._advance(self.end_ms, closing_at_end=True)
            # What is still buffered goes at the end, oldest first, like the rest.
            slots = sorted(slots, key=lambda slot: self.first_due[slot])
        for slot in slots:
            self._flush(slot, self.end_ms)
        for due, _, index, kind, event, _ in sorted(self.pending):
            topic: TopicKind = "orders" if kind == _ORDERS else "views"
            sid = self.live[index].info.session_id
            self.later.append(Message(topic, sid, self.encode(event), [event], None, due))
        return self.messages

    def _advance(self, now: int, *, closing_at_end: bool = False) -> None:
        """Open and close sessions, start or stop flash sales due by ``now`` and flush
        buffers held too long."""
        changed = False
        while self.openings and self.openings[0][0] <= now:
            self.on[self.openings.pop(0)[1]] = True
            changed = True
        while self.flash_edges and self.flash_edges[0][0] <= now:
            _, index, discount = self.flash_edges.pop(0)
            self.live[index].discount = discount
            changed = True
        if self.cfg.follow_schedules:
            changed = self._hand_over(now, closing_at_end) or changed
        elif now >= self.next_sweep:
            self.next_sweep = now + _SWEEP_EVERY_MS
            for slot, buffer in enumerate(self.buffers):
                if buffer and self.first_due[slot] + self.cfg.flush_after_ms <= now:
                    self._flush(slot, now)
        if changed:
            self._reweigh()

    def _hand_over(self, now: int, closing_at_end: bool) -> bool:
        """Following schedules: close the streams and flush the buffers due by ``now``,
        each at its own moment (never before the clock), oldest first; True if a session
        closed.

        Events are sparse then (seconds or minutes apart), and a buffer flushed only at the
        next event would hold its events past those of the session's other buffer.
        """
        actions: list[tuple[int, int, int]] = []  # (moment, 0 = close / 1 = flush, index)
        # A schedule ends after its last moment, so an event at the end still belongs.
        while self.closings and (self.closings[0][0] < now
                                 or (closing_at_end and self.closings[0][0] <= now)):
            at, index = self.closings.pop(0)
            actions.append((at, 0, index))
        if now >= self.next_sweep:
            self.next_sweep = now + _SWEEP_EVERY_MS
            wait = self.cfg.flush_after_ms
            actions += [(self.first_due[slot] + wait, 1, slot)
                        for slot, buffer in enumerate(self.buffers)
                        if buffer and self.first_due[slot] + wait <= now]
        for at, what, index in sorted(actions):
            self.clock = max(self.clock, at)
            if what == 0:
                self._close(self.live[index], self.clock)
            else:
                self._flush(index, self.clock)
        self.clock = max(self.clock, now)
        return any(what == 0 for _, what, _ in actions)

    def _drain(self, now: int) -> None:
        """Following schedules: deliver everything due by ``now``, each at its moment.

        Events of a fair day are sparse, so handing over one due event per step would let
        status changes pile up and trail their partition.
        """
        while self.pending and self.pending[0][0] <= now and self.emitted < self.cfg.events:
            self._advance(self.pending[0][0])
            _, _, index, kind, event, resent = heapq.heappop(self.pending)
            self._emit(index, kind, event, self.clock, resend_ok=not resent)

    def _event_ms(self, now: int, live: _Live) -> int:
        """A fresh event's time: mostly now, sometimes 1-20 minutes late.

        Following schedules, never before the session's schedule (or the span) opens.
        """
        rng = self.rng
        if rng.random() >= _P_LATE:
            return now
        late = now - rng.randint(_MINUTE, 20 * _MINUTE)
        window = self.windows[live.index]
        return max(late, window[0]) if self.cfg.follow_schedules and window else late

    def _new_id(self) -> str:
        """A uuid4-shaped event id drawn from the seeded generator."""
        return new_event_id(self.rng)

    def _close(self, live: _Live, at: int) -> None:
        """The session's stream ended: everyone still watching leaves at ``at``.

        A counting platform reports an empty room instead.
        """
        self.on[live.index] = False
        slot = 2 * live.index + _VIEWS
        sid = live.info.session_id
        if live.counts:
            live.audience.clear()
            self.buffers[slot].append(self._count(live, at))
        for viewer in live.audience:
            event: Event = {
                "event_id": self._new_id(), "session_id": sid, "viewer_id": self.pool[viewer],
                "kind": "leave", "ts": format_ts(at, self.rng.randrange(3)),
            }
            if not self.buffers[slot]:
                self.first_due[slot] = at
            self.buffers[slot].append(event)
            if len(self.buffers[slot]) >= self.cfg.envelope_size:
                self._flush(slot, at)
        live.audience.clear()
        live.seats.clear()
        self._flush(slot, at)
        self._flush(slot + _ORDERS - _VIEWS, at)

    def _schedule(self, due: int, index: int, kind: int, event: Event, resent: bool) -> None:
        """Queue an event for delivery once the simulated clock reaches ``due``."""
        self.seq += 1
        heapq.heappush(self.pending, (due, self.seq, index, kind, event, resent))

    def _emit(self, index: int, kind: int, event: Event, now: int, resend_ok: bool = True) -> None:
        """Buffer a valid event for its session's next envelope; maybe plan a re-send."""
        slot = 2 * index + kind
        buffer = self.buffers[slot]
        if not buffer:
            self.first_due[slot] = now
        buffer.append(event)
        self.emitted += 1
        if resend_ok and self.rng.random() < _P_RESEND:
            self._schedule(now + self.rng.randint(500, 30 * _SECOND), index, kind, event, True)
        if len(buffer) >= self.cfg.envelope_size:
            self._flush(slot, now)

    def _flush(self, slot: int, now: int) -> None:
        """Turn a buffer into one message: an object or an envelope array."""
        buffer = self.buffers[slot]
        if not buffer:
            return
        single = len(buffer) == 1 and (self.cfg.envelope_size == 1 or self.rng.random() < 0.5)
        value = self.encode(buffer[0] if single else buffer)
        kind: TopicKind = "orders" if slot % 2 == _ORDERS else "views"
        key = self.live[slot // 2].info.session_id
        self.messages.append(Message(kind, key, value, buffer, None, now))
        self.buffers[slot] = []

    def _count(self, live: _Live, ts_ms: int) -> Event:
        """A counting platform's room count event, stamped ``ts_ms``."""
        return {
            "event_id": self._new_id(), "session_id": live.info.session_id, "kind": "viewers",
            "viewers": len(live.audience), "ts": format_ts(ts_ms, self.rng.randrange(3)),
        }

    def _view(self, live: _Live, now: int) -> None:
        """A join or a leave; leaves grow with the audience so it hovers near its target.

        A counting platform reports its count when one is due, and sends no leaves.
        """
        rng = self.rng
        if live.counts:
            if live.changes >= _COUNT_AFTER and now >= live.next_count:
                live.next_count = now + rng.randint(*_COUNT_EVERY_MS)
                live.changes = 0
                self._emit(live.index, _VIEWS, self._count(live, self._event_ms(now, live)), now)
                return
            live.changes += 1
        audience = len(live.audience)
        target = live.target * (_FLASH_CROWD if live.discount else 1)
        pool = len(self.pool)
        # Never let one session hold over half the pool, so the search for a free viewer
        # below stays short.
        crowded = audience >= pool // 2
        if audience and (crowded or rng.random() * (audience + target) < audience):
            viewer, kind = live.audience[rng.randrange(audience)], "leave"
            last = live.audience.pop()
            if last != viewer:
                live.audience[live.seats[viewer]] = last
                live.seats[last] = live.seats[viewer]
            del live.seats[viewer]
            if live.counts:
                return
        else:
            # Skewed activity: a core of fans hops between sessions and comes back often.
            viewer = int(pool * rng.random() ** 1.5)
            while viewer in live.seats:
                viewer = int(pool * rng.random() ** 1.5)
            kind = "join"
            live.seats[viewer] = len(live.audience)
            live.audience.append(viewer)
        event: Event = {
            "event_id": self._new_id(), "session_id": live.info.session_id,
            "viewer_id": self.pool[viewer], "kind": kind,
            "ts": format_ts(self._event_ms(now, live), rng.randrange(3)),
        }
        self._emit(live.index, _VIEWS, event, now)

    def _order(self, live: _Live, now: int) -> None:
        """Place an order and plan its later status changes (paid, cancelled, refunded)."""
        rng = self.rng
        products = live.info.products
        product = products[min(int(len(products) * rng.random() ** 2), len(products) - 1)]
        quantity = _QUANTITIES[bisect(_QUANTITY_CUM, rng.randrange(_QUANTITY_CUM[-1]))]
        unit = product.price_vnd
        if live.discount:
            unit = max(1_000, round(unit * (1 - live.discount) / 1_000) * 1_000)
        base: Event = {
            "order_id": f"od-{rng.getrandbits(48):012x}", "session_id": live.info.session_id,
            "product_id": product.product_id, "quantity": quantity, "amount_vnd": quantity * unit,
        }
        placed_ms = self._event_ms(now, live)
        # 80% get paid (5% of those refunded later), 8% are cancelled, the rest stay placed.
        plan: list[tuple[str, int]] = []
        roll = rng.random()
        if roll < 0.80:
            paid_ms = placed_ms + rng.randint(3 * _SECOND, 2 * _MINUTE)
            plan.append(("paid", paid_ms))
            if rng.random() < 0.05:
                plan.append(("refunded", paid_ms + rng.randint(*self.cfg.refund_delay_ms)))
        elif roll < 0.88:
            plan.append(("cancelled", placed_ms + rng.randint(10 * _SECOND, 5 * _MINUTE)))
        placed: Event = {
            "event_id": self._new_id(), **base, "status": "placed",
            "ts": format_ts(placed_ms, rng.randrange(3)),
        }
        if plan and plan[0][0] == "paid" and rng.random() < _P_OUT_OF_ORDER:
            late_by = rng.randint(500, 10 * _SECOND)
            self._schedule(plan[0][1] + late_by, live.index, _ORDERS, placed, False)
        else:
            self._emit(live.index, _ORDERS, placed, now)
            self._maybe_repeat(live.index, placed, now)
        for status, ms in plan:
            event: Event = {
                "event_id": self._new_id(), **base, "status": status,
                "ts": format_ts(ms, rng.randrange(3)),
            }
            self._schedule(ms, live.index, _ORDERS, event, False)
            self._maybe_repeat(live.index, event, ms)

    def _maybe_repeat(self, index: int, event: Event, due: int) -> None:
        """Sometimes the platform reports the same status change again under a new id."""
        if self.rng.random() < _P_REPEAT:
            again = {**event, "event_id": self._new_id()}
            self._schedule(due + self.rng.randint(_SECOND, _MINUTE), index, _ORDERS, again, False)

    def _invalid(self, now: int) -> None:
        """Emit one deliberately broken record as its own message."""
        rng = self.rng
        reason = rng.choice(INVALID_REASONS)
        # Following schedules, only a session on schedule sends anything.
        if self.cfg.follow_schedules:
            live = self._pick()
        else:
            live = self.live[rng.randrange(len(self.live))]
        sid = live.info.session_id
        orders = reason in _ORDER_REASONS or (reason != "unknown_kind" and rng.random() < 0.5)
        product = rng.choice(live.info.products)
        event: dict[str, object] = {"event_id": self._new_id(), "session_id": sid}
        if orders:
            event |= {
                "order_id": f"od-{rng.getrandbits(48):012x}", "product_id": product.product_id,
                "quantity": 2, "amount_vnd": 2 * product.price_vnd, "status": "placed",
            }
        else:
            event |= {"viewer_id": rng.choice(self.pool), "kind": "join"}
        event["ts"] = format_ts(now, rng.randrange(3))
        if reason == "missing_field":
            del event[rng.choice(sorted(event))]
        elif reason == "wrong_type":
            field = rng.choice(("quantity", "amount_vnd"))
            event[field] = str(event[field])
        elif reason == "negative_amount":
            event["amount_vnd"] = -2 * product.price_vnd
        elif reason == "zero_quantity":
            event["quantity"] = 0
        elif reason == "unknown_status":
            event["status"] = rng.choice(("shipped", "PAID", "refund"))
        elif reason == "unknown_kind":
            event["kind"] = rng.choice(("like", "share", "JOIN"))
        elif reason == "future_ts":
            event["ts"] = format_ts(self.end_ms + 2 * _DAY, rng.randrange(3))
        elif reason == "past_ts":
            # Beyond the worker's 7-day age limit, so it is refused whatever the stream time.
            event["ts"] = format_ts(now - 10 * _DAY, rng.randrange(3))
        elif reason == "key_mismatch":
            others = [s.info.session_id for s in self.live if s.info.session_id != sid]
            event["session_id"] = rng.choice(others) if others else f"{sid}-other"
        value = self.encode(event)
        if reason == "malformed_json":
            value = value[: -rng.randint(1, 12)]  # a cut-off object never parses
        kind: TopicKind = "orders" if orders else "views"
        self.messages.append(Message(kind, sid, value, [], reason, now))
        self.emitted += 1


def generate(catalog: Catalog, config: FairConfig, *, viewers: Sequence[str] | None = None
             ) -> Fair:
    """Generate a whole fair over every session of ``catalog``, deterministically.

    ``viewers`` is the pool of viewer ids to draw from (default: one drawn for this fair,
    of ``max(100, events // 6)`` ids); the first ones are the most active.
    """
    builder = _Builder(catalog, config, viewers)
    messages = builder.run()
    return Fair(config, catalog, messages, builder.later)
