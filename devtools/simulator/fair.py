"""Seeded, pure generator of a realistic livestream fair as a list of Kafka messages.

No clock reads and no I/O: the start time, length and seed are parameters, so a run is
reproducible and ``truth.py`` can compute its exact expected numbers. The fair has
Zipf-skewed session popularity, a global viewer pool with churn, flash-sale spikes,
order lifecycles delivered out of order or repeated, exact re-sends, late events and a
share of deliberately invalid records, each sent alone so it is exactly one dead letter.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from typing import Literal

import msgspec

from common.catalog import Catalog, SessionInfo

TopicKind = Literal["views", "orders"]
Event = dict[str, str | int]

INVALID_REASONS: tuple[str, ...] = (
    "malformed_json", "missing_field", "wrong_type", "negative_amount", "zero_quantity",
    "unknown_status", "unknown_kind", "future_ts", "past_ts", "key_mismatch",
)
_ORDER_REASONS = frozenset({"wrong_type", "negative_amount", "zero_quantity", "unknown_status"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ICT = timezone(timedelta(hours=7))
_SECOND = 1_000
_MINUTE = 60 * _SECOND
_DAY = 24 * 60 * _MINUTE
# Platform feeds hand over a session's events in small batches at least every ~2 s.
_FLUSH_AFTER_MS = 2 * _SECOND
_SWEEP_EVERY_MS = 250
_P_LATE = 0.01  # share of fresh events whose ts lags 1-20 minutes (slow client upload)
_P_RESEND = 0.01  # share of events re-sent verbatim later, like a producer retry
_P_REPEAT = 0.03  # share of status changes the platform reports twice with a new event id
_P_OUT_OF_ORDER = 0.05  # share of paid orders whose "placed" arrives after "paid"
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
    for the wall clock to reach it.
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
    """

    start_ms: int
    span_ms: int
    events: int = 200_000
    seed: int = 0
    envelope_size: int = 20
    invalid_rate: float = 0.002

    def __post_init__(self) -> None:
        """Reject settings that cannot describe a fair."""
        if self.events < 1 or self.span_ms < 0 or self.envelope_size < 1:
            raise ValueError("events and envelope_size must be >= 1 and span_ms >= 0")
        if not 0.0 <= self.invalid_rate <= 0.5:
            raise ValueError("invalid_rate must be within [0, 0.5]")


@dataclass(frozen=True, slots=True)
class Fair:
    """A generated fair: the simulated sessions and the messages in delivery order::

    fair = generate(catalog, FairConfig(start_ms=t0, span_ms=600_000, events=10_000))
    truth = compute_truth(fair.messages, fair.catalog, seed=fair.config.seed)
    """

    config: FairConfig
    catalog: Catalog
    messages: list[Message]


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

    __slots__ = ("audience", "base_weight", "discount", "index", "info", "seats", "target")

    def __init__(self, index: int, info: SessionInfo, base_weight: float, target: int) -> None:
        self.index = index
        self.info = info
        self.base_weight = base_weight
        self.target = target
        self.discount = 0.0  # > 0 while a flash sale runs
        self.audience: list[int] = []  # viewer indexes now watching
        self.seats: dict[int, int] = {}  # viewer index -> position in audience


class _Builder:
    """Runs the simulation loop; one instance per ``generate`` call."""

    def __init__(self, catalog: Catalog, cfg: FairConfig) -> None:
        if not catalog.sessions:
            raise ValueError("the catalog has no sessions to simulate")
        self.cfg = cfg
        # Seeded PRNG on purpose: reproducible test data, never used for security.
        self.rng = random.Random(cfg.seed)  # noqa: S311
        rng = self.rng
        self.end_ms = cfg.start_ms + cfg.span_ms
        # A global viewer pool, so one viewer may watch several sessions.
        pool_size = max(100, cfg.events // 6)
        self.pool = [f"v{i:06d}-{rng.getrandbits(24):06x}" for i in range(pool_size)]
        ranks = list(range(len(catalog.sessions)))
        rng.shuffle(ranks)
        weights = [1.0 / (rank + 1) ** 1.1 for rank in ranks]
        total_target = max(10, len(self.pool) // 5)
        self.live = [
            _Live(i, info, w, max(2, round(total_target * w / sum(weights))))
            for i, (info, w) in enumerate(zip(catalog.sessions, weights, strict=True))
        ]
        self.cum: list[float] = []
        self._reweigh()
        self.flash_edges = self._plan_flash_sales()
        self.pending: list[tuple[int, int, int, int, Event, bool]] = []
        self.seq = 0
        self.buffers: list[list[Event]] = [[] for _ in range(2 * len(self.live))]
        self.first_due = [0] * len(self.buffers)
        self.next_sweep = cfg.start_ms
        self.messages: list[Message] = []
        self.emitted = 0
        self.encode = msgspec.json.Encoder().encode

    def _plan_flash_sales(self) -> list[tuple[int, int, float]]:
        """Pick flash-sale windows: (time, session index, discount) edges, sorted."""
        rng, cfg = self.rng, self.cfg
        length = max(cfg.span_ms // 25, 1)
        edges: list[tuple[int, int, float]] = []
        for live in self.live:
            if rng.random() < 0.6:
                begin = cfg.start_ms + rng.randrange(max(cfg.span_ms - length, 1))
                discount = rng.choice((0.1, 0.15, 0.2, 0.25, 0.3))
                edges += [(begin, live.index, discount), (begin + length, live.index, 0.0)]
        edges.sort()
        return edges

    def _reweigh(self) -> None:
        """Recompute the session-choice table; a flash sale multiplies a session's pull."""
        pulls = (s.base_weight * (_FLASH_PULL if s.discount else 1.0) for s in self.live)
        self.cum = list(accumulate(pulls))

    def run(self) -> list[Message]:
        """Emit exactly ``cfg.events`` events, one per loop step that emits."""
        cfg, rng = self.cfg, self.rng
        steps = max(1, cfg.events - 1)
        while self.emitted < cfg.events:
            now = cfg.start_ms + self.emitted * cfg.span_ms // steps
            self._advance(now)
            if rng.random() < cfg.invalid_rate:
                self._invalid(now)
            elif self.pending and self.pending[0][0] <= now:
                _, _, index, kind, event, resent = heapq.heappop(self.pending)
                self._emit(index, kind, event, now, resend_ok=not resent)
            else:
                pick = bisect(self.cum, rng.random() * self.cum[-1])
                live = self.live[min(pick, len(self.live) - 1)]
                if rng.random() < (_P_ORDER_FLASH if live.discount else _P_ORDER):
                    self._order(live, now)
                else:
                    self._view(live, now)
        for slot in range(len(self.buffers)):
            self._flush(slot, self.end_ms)
        return self.messages

    def _advance(self, now: int) -> None:
        """Start or stop flash sales due by ``now`` and flush buffers held too long."""
        changed = False
        while self.flash_edges and self.flash_edges[0][0] <= now:
            _, index, discount = self.flash_edges.pop(0)
            self.live[index].discount = discount
            changed = True
        if changed:
            self._reweigh()
        if now >= self.next_sweep:
            self.next_sweep = now + _SWEEP_EVERY_MS
            for slot, buffer in enumerate(self.buffers):
                if buffer and self.first_due[slot] + _FLUSH_AFTER_MS <= now:
                    self._flush(slot, now)

    def _event_ms(self, now: int) -> int:
        """A fresh event's time: mostly now, sometimes 1-20 minutes late."""
        rng = self.rng
        return now - rng.randint(_MINUTE, 20 * _MINUTE) if rng.random() < _P_LATE else now

    def _new_id(self) -> str:
        """A uuid4-shaped event id drawn from the seeded generator."""
        # Formatted by hand: uuid.UUID costs a third of the whole generation time.
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

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

    def _view(self, live: _Live, now: int) -> None:
        """A join or a leave; leaves grow with the audience so it hovers near its target."""
        rng = self.rng
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
            "ts": format_ts(self._event_ms(now), rng.randrange(3)),
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
        placed_ms = self._event_ms(now)
        # 80% get paid (5% of those refunded later), 8% are cancelled, the rest stay placed.
        plan: list[tuple[str, int]] = []
        roll = rng.random()
        if roll < 0.80:
            paid_ms = placed_ms + rng.randint(3 * _SECOND, 2 * _MINUTE)
            plan.append(("paid", paid_ms))
            if rng.random() < 0.05:
                plan.append(("refunded", paid_ms + rng.randint(_MINUTE, 15 * _MINUTE)))
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


def generate(catalog: Catalog, config: FairConfig) -> Fair:
    """Generate a whole fair over every session of ``catalog``, deterministically."""
    return Fair(config, catalog, _Builder(catalog, config).run())
