"""Records in, deltas out: the whole counting logic, with no I/O.

Steps per record, in partition order:
1. skip it if the store already covers its offset (redelivery after a crash);
2. dead-letter it if it has no key or its key does not hash to its partition (it would
   split a session across shards), when the partition count is known;
3. decode it (bad bytes become dead letters);
4. apply the time rules (future beyond the skew, older than the lateness horizon);
5. drop exact duplicates (same event id, remembered over the lateness horizon);
6. dead-letter an order's status change past the order horizon;
7. fold the event into the shard state and the batch delta.

Every rule decides from stream time (the partition's newest event, the record's Kafka
timestamp), never from the clock of the process, so a rebuild weeks later decides
exactly as the live run did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from counting.contract import (
    Event,
    MessageDecoder,
    OrderEvent,
    Reason,
    Rejected,
    Status,
    ViewerCount,
    ViewEvent,
)
from counting.delta import DeadLetter, ShardDelta
from counting.orders import OrderState
from counting.partitioner import partition_for
from counting.state import SessionLive, ShardState, id_hash
from store.fields import GMV, ORDERS, UNITS, VIEWERS_NOW, VIEWS
from store.windows import iso_utc, local_day, minute_of, quarter_of

TopicKind = Literal["views", "orders"]


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as the worker received it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The Kafka record timestamp (producer CreateTime, or the broker's LogAppendTime):
    # when the record entered the log, the same in every replay. None when the record
    # has none (Kafka's -1); such records are judged against ``batch``'s ``now_ms``.
    timestamp_ms: int | None = None


def record_time_ms(timestamp: float | None) -> int | None:
    """A Kafka record's timestamp in epoch ms; None for Kafka's "no timestamp" (-1)."""
    if timestamp is None or timestamp < 0:
        return None
    # faust hands the timestamp over in float seconds: round, not truncate, back to ms.
    return round(timestamp)


@dataclass(frozen=True, slots=True)
class Rules:
    """Time rules, in milliseconds.

    - ``max_future_skew_ms``: an event stamped later than its record's timestamp + this
      is dead-lettered (``future_event``);
    - ``max_lateness_ms``: an event older than the newest event of its partition minus
      this is dead-lettered (``too_late``);
    - ``max_age_ms``: an event stamped earlier than its record's timestamp minus this is
      dead-lettered (``too_late``), whatever the partition's stream time (guards the
      first events of an empty partition);
    - ``order_horizon_ms``: an order's status changes count for this long after its
      placement; a later one is dead-lettered (``order_horizon``), and order states
      past the horizon are forgotten.

    The record's timestamp is written once, when the record enters Kafka, so a replay
    judges every event against the same times the live run did.
    """

    max_future_skew_ms: int = 120_000
    max_lateness_ms: int = 3_600_000
    max_age_ms: int = 7 * 86_400_000
    order_horizon_ms: int = 7 * 86_400_000
    # Only for the late-event metric: events of one live feed interleave by milliseconds;
    # an event is "late" when it trails its partition's newest event by more than this.
    late_after_ms: int = 60_000


class InjectedFault(RuntimeError):
    """Raised for events matching ``fault_event_prefix`` (fault-injection tests only)."""


class Aggregator:
    """Turns one shard's records into a :class:`ShardDelta`, advancing its state.

    ``partitions`` is the partition count of the input topics: with it, a record that is
    keyless or not on the partition Kafka's default partitioner gives its key is
    dead-lettered as ``wrong_partition`` before it is decoded. None (the default) skips
    that check, for callers that place records on shards of their own choosing.

    ``fault_event_prefix`` makes events whose id starts with it fail inside the handler,
    so tests can prove a failing event is dead-lettered while the rest still counts.

    Usage::

        agg = Aggregator(topics={"ocop.views": "views", "ocop.orders": "orders"},
                         partitions=6)
        delta = agg.batch(state, records, now_ms=clock_ms())
    """

    def __init__(
        self,
        *,
        topics: Mapping[str, TopicKind],
        rules: Rules | None = None,
        max_message_bytes: int = 1_048_576,
        fault_event_prefix: str = "",
        partitions: int | None = None,
    ) -> None:
        if partitions is not None and partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        self.rules = rules or Rules()
        self.partitions = partitions
        self.fault_event_prefix = fault_event_prefix
        self._order_topics = sorted(t for t, kind in topics.items() if kind == "orders")
        self._decoders = {
            topic: MessageDecoder(kind=kind, max_bytes=max_message_bytes)
            for topic, kind in topics.items()
        }

    def batch(self, state: ShardState, records: Sequence[Record], *, now_ms: int) -> ShardDelta:
        """Fold ``records`` (all of ``state.shard``, in partition order) into a delta.

        ``now_ms`` only stands in for the timestamp of a record that has none.
        """
        delta = ShardDelta(shard=state.shard)
        tally = _Tally()
        partitions = self.partitions
        for record in records:
            covered = state.offsets.get(record.topic)
            if covered is not None and record.offset <= covered:
                delta.redelivered += 1
                continue
            if record.topic not in delta.first_offsets:
                delta.first_offsets[record.topic] = record.offset
                delta.prev_offsets[record.topic] = covered
            delta.last_offsets[record.topic] = record.offset
            if partitions is not None and (
                record.key is None or partition_for(record.key, partitions) != record.partition
            ):
                delta.dead_letters.append(_letter(record, Rejected(
                    record.value or b"", Reason.WRONG_PARTITION, _misplaced(record, partitions)
                )))
                continue
            try:
                decoded = self._decoders[record.topic].decode(value=record.value, key=record.key)
            except Exception as exc:  # input the decoder did not foresee must not stop a shard
                detail = f"{type(exc).__name__}: {exc}"
                delta.dead_letters.append(
                    _letter(record, Rejected(record.value or b"", Reason.HANDLER_ERROR, detail))
                )
                continue
            for rejected in decoded.rejected:
                delta.dead_letters.append(_letter(record, rejected))
            written_ms = now_ms if record.timestamp_ms is None else record.timestamp_ms
            for index, event in zip(decoded.indexes, decoded.events, strict=True):
                reason = self._time_reason(state, record.topic, event.ts_ms, written_ms)
                if reason is not None:
                    delta.dead_letters.append(_letter(
                        record, Rejected(decoded.element(index), *reason, index)))
                    continue
                try:
                    refused = self._fold(state, delta, tally, record.topic, event)
                    if refused is not None:
                        delta.dead_letters.append(_letter(record, Rejected(
                            decoded.element(index), Reason.ORDER_HORIZON, refused, index)))
                except Exception as exc:  # one failing event must not stop its shard
                    detail = f"{type(exc).__name__}: {exc}"
                    delta.dead_letters.append(_letter(
                        record,
                        Rejected(decoded.element(index), Reason.HANDLER_ERROR, detail, index),
                    ))
        tally.into(delta)
        state.offsets.update(delta.last_offsets)
        if state.watermarks:
            horizon = min(state.watermarks.values()) - self.rules.max_lateness_ms
            delta.forgotten_minutes = state.seen.forget_before(horizon)
        state.seen.pack()
        self._forget_orders(state, delta)
        return delta

    def _fold(
        self, state: ShardState, delta: ShardDelta, tally: _Tally, topic: str, event: Event
    ) -> str | None:
        """Fold one event in; returns why it is past the order horizon, if it is."""
        if self.fault_event_prefix and event.event_id.startswith(self.fault_event_prefix):
            raise InjectedFault(f"event_id {event.event_id!r} matches the injected fault")
        ts = event.ts_ms
        if not isinstance(event, OrderEvent):
            fingerprint = id_hash("views", event.event_id)
            if not state.seen.add(fingerprint, ts):
                delta.duplicates += 1
                return None
        else:
            fingerprint = id_hash("orders", event.event_id)
            if (fingerprint, ts) in state.seen:
                delta.duplicates += 1
                return None
            # Judged after the duplicate check and before remembering the id: a refused
            # change is not "seen", so its re-send is refused (and shown) again.
            refused = self._past_horizon(state, event)
            if refused is not None:
                return refused
            state.seen.add(fingerprint, ts)
        delta.seen.append((fingerprint, ts))
        mark = state.watermarks.get(topic)
        if mark is None or ts > mark:
            state.watermarks[topic] = ts
            delta.watermarks[topic] = ts
        elif ts < mark - self.rules.late_after_ms:
            delta.late += 1
        delta.accepted[topic] += 1
        sid = event.session_id
        last = state.last_at.get(sid)
        if last is None or ts > last:
            state.last_at[sid] = delta.last_at[sid] = ts
        if isinstance(event, OrderEvent):
            _order(state, delta, tally, event)
        else:
            _view(state, delta, tally, event)
        return None

    def _past_horizon(self, state: ShardState, event: OrderEvent) -> str | None:
        """Why an order status change comes too long after the order's placement, if so.

        A known order is judged by its own placement (its anchor). Forgetting a session's
        orders waits until the stream is past the session's newest order activity F by
        the horizon plus the lateness horizon, so a change to a forgotten order that is
        still on time for the lateness rule is later than F + horizon: that is how it is
        recognised. A ``placed`` event of an unknown order is a new order; any other
        status of an unknown order later than F + horizon is taken as past the horizon,
        even if it belonged to a new order whose placement has not arrived yet.
        """
        horizon = self.rules.order_horizon_ms
        old = state.orders.get((event.session_id, event.order_id))
        if old is not None:
            if event.ts_ms <= old.ts_ms + horizon:
                return None
            return (f"order {event.order_id!r} of session {event.session_id!r} was placed at "
                    f"{iso_utc(old.ts_ms)}; its status changes count for {horizon} ms, this "
                    f"one is at {iso_utc(event.ts_ms)}")
        forgotten = state.orders_forgotten.get(event.session_id)
        if event.status is Status.PLACED or forgotten is None or event.ts_ms <= forgotten + horizon:
            return None
        return (f"order {event.order_id!r} of session {event.session_id!r} is not known and its "
                f"session's orders up to {iso_utc(forgotten)} are past the horizon of "
                f"{horizon} ms; this change is at {iso_utc(event.ts_ms)}")

    def _forget_orders(self, state: ShardState, delta: ShardDelta) -> None:
        """Forget the order states of sessions with no order activity for the horizon.

        Stream time, so a rebuild forgets at the same point of the feed as the live run.
        """
        marks = [state.watermarks[t] for t in self._order_topics if t in state.watermarks]
        if not marks or not state.order_sessions:
            return
        line = min(marks) - self.rules.max_lateness_ms - self.rules.order_horizon_ms
        done = {sid for sid in state.order_sessions if state.order_activity[sid] < line}
        if not done:
            return
        state.order_sessions -= done
        for sid in done:
            state.orders_forgotten[sid] = delta.orders_forgotten[sid] = state.order_activity[sid]
        for key in [key for key in state.orders if key[0] in done]:
            del state.orders[key]
            delta.orders.pop(key, None)
            delta.forgotten_orders.append(key)

    def _time_reason(
        self, state: ShardState, topic: str, ts_ms: int, written_ms: int
    ) -> tuple[Reason, str] | None:
        rules = self.rules
        mark = state.watermarks.get(topic)
        if (written_ms - rules.max_age_ms <= ts_ms <= written_ms + rules.max_future_skew_ms
                and (mark is None or ts_ms >= mark - rules.max_lateness_ms)):
            return None
        if ts_ms > written_ms + rules.max_future_skew_ms:
            return Reason.FUTURE_EVENT, (
                f"ts {iso_utc(ts_ms)} is more than {rules.max_future_skew_ms} ms after "
                f"its record was written to Kafka ({iso_utc(written_ms)})"
            )
        if ts_ms < written_ms - rules.max_age_ms:
            return Reason.TOO_LATE, (
                f"ts {iso_utc(ts_ms)} is more than {rules.max_age_ms} ms before its record "
                f"was written to Kafka ({iso_utc(written_ms)})"
            )
        if mark is not None and ts_ms < mark - rules.max_lateness_ms:
            return Reason.TOO_LATE, (
                f"ts {iso_utc(ts_ms)} is more than {rules.max_lateness_ms} ms before the "
                f"partition's newest event {iso_utc(mark)}"
            )
        return None


def _misplaced(record: Record, partitions: int) -> str:
    """A ``wrong_partition`` dead letter's detail: the key, its partition and its home."""
    if record.key is None:
        return (f"no key, came on partition {record.partition} of {partitions}: a keyless "
                f"record has no session to shard by")
    # Keys are not validated yet: show at most a session id's length of them, escaped.
    text = record.key.decode("utf-8", "backslashreplace")
    shown = repr(text if len(text) <= 128 else text[:128] + "…")
    return (f"key {shown} came on partition {record.partition} but hashes to partition "
            f"{partition_for(record.key, partitions)} of {partitions}")


def _letter(record: Record, rejected: Rejected) -> DeadLetter:
    return DeadLetter(record.topic, record.partition, record.offset, record.key, rejected)


class _Tally:
    """Per-batch counts at the finest grain an event touches, expanded once per batch.

    A view touches eight counters (fair, session, fair and session minute, quarter hour
    and day) and an order three fields of each of those plus four product counters;
    counting once per (session, minute[, product]) and expanding at the end of the batch
    does the same sums with a fraction of the dictionary updates.
    """

    __slots__ = ("orders", "views")

    def __init__(self) -> None:
        self.views: Counter[tuple[str, int]] = Counter()
        # (session, minute, product) -> [orders, units, gmv]
        self.orders: dict[tuple[str, int, str], list[int]] = {}

    def into(self, delta: ShardDelta) -> None:
        """Add every count to the delta's counters."""
        for (sid, minute), n in self.views.items():
            day, quarter = local_day(minute), quarter_of(minute)
            delta.totals[VIEWS] += n
            delta.sessions[sid][VIEWS] += n
            delta.minutes[minute, None][VIEWS] += n
            delta.minutes[minute, sid][VIEWS] += n
            delta.quarters[quarter, None][VIEWS] += n
            delta.quarters[quarter, sid][VIEWS] += n
            delta.days[day, None][VIEWS] += n
            delta.days[day, sid][VIEWS] += n
        for (sid, minute, pid), (orders, units, gmv) in self.orders.items():
            day, quarter = local_day(minute), quarter_of(minute)
            for counter in (
                delta.totals,
                delta.sessions[sid],
                delta.minutes[minute, None],
                delta.minutes[minute, sid],
                delta.quarters[quarter, None],
                delta.quarters[quarter, sid],
                delta.days[day, None],
                delta.days[day, sid],
            ):
                counter[ORDERS] += orders
                counter[UNITS] += units
                counter[GMV] += gmv
            delta.session_products[sid][pid] += units
            delta.session_product_gmv[sid][pid] += gmv
            delta.product_units[pid] += units
            delta.product_gmv[pid] += gmv


def _view(
    state: ShardState, delta: ShardDelta, tally: _Tally, event: ViewEvent | ViewerCount
) -> None:
    sid = event.session_id
    live = state.sessions.get(sid)
    if live is None:
        live = state.sessions[sid] = SessionLive()
    before = live.viewers_now
    if isinstance(event, ViewerCount):
        live.report(event.viewers, event.ts_ms)
    else:
        live.join_or_leave(event.join, event.ts_ms)
    delta.live[sid] = live
    delta.totals[VIEWERS_NOW] += live.viewers_now - before
    if isinstance(event, ViewerCount) or not event.join:
        return
    tally.views[sid, minute_of(event.ts_ms)] += 1
    delta.viewers[sid].add(event.viewer_id)


def _order(state: ShardState, delta: ShardDelta, tally: _Tally, event: OrderEvent) -> None:
    sid = event.session_id
    active = state.order_activity.get(sid)
    if active is None or event.ts_ms > active:
        state.order_activity[sid] = delta.order_activity[sid] = event.ts_ms
    key = (sid, event.order_id)
    old = state.orders.get(key)
    new = OrderState.of(event) if old is None else old.merge(event)
    if new == old:
        return
    state.orders[key] = new
    state.order_sessions.add(sid)
    delta.orders[key] = new
    if old is not None and old.counts:
        _contribute(tally, event.session_id, old, -1)
    if new.counts:
        _contribute(tally, event.session_id, new, +1)


def _contribute(tally: _Tally, sid: str, order: OrderState, sign: int) -> None:
    slot = (sid, minute_of(order.ts_ms), order.product_id)
    counts = tally.orders.get(slot)
    if counts is None:
        counts = tally.orders[slot] = [0, 0, 0]
    counts[0] += sign
    counts[1] += sign * order.quantity
    counts[2] += sign * order.amount_vnd
