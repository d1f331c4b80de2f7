"""Reference model: the exact numbers a correct pipeline must show for a list of messages.

Deliberately plain and slow: decode each message with the standard library, walk the
events once in delivery order and count, so that every rule is visible in a few lines
and can be checked by reading. The streaming code is tested against this, never the
reverse.

Inputs are the messages (as they will be sent) and the catalog of the simulated
sessions. The model does not use the generator's internal state, with one exception:
a message whose ``invalid_reason`` is set was broken on purpose and is trusted to be a
dead letter without re-deriving why (some reasons, such as a far-future timestamp,
depend on the wall clock at consumption time). Every other message must hold only
valid events; if one does not, ``compute_truth`` raises ``ValueError``, because the
expected numbers would otherwise be ambiguous.

Viewers now and the peak follow joins - leaves in delivery order, except for a session
with platform counts (``"kind": "viewers"``): its latest count by event time (ties to the
higher count) and its highest count at the earliest time it was reported, whatever the
delivery order.

One time rule is the model's own, because the generator keeps every event within the
others: the order horizon. An accepted status change of a known order (one with an
earlier accepted event) later than that order's anchor (its earliest accepted event) plus
``order_horizon_ms`` is a dead letter ``order_horizon``, changes nothing and is not
remembered, so a verbatim re-send of it is another one.

Besides the run's totals the truth holds each fair's totals and leaderboards, each
Asia/Ho_Chi_Minh day's counts, the campaign's headline figures and the dead letters by
reason code, in the shapes the APIs return (provinces grouped as ``province_now`` names
them).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.catalog import IMPLICIT_FAIR_ID, Catalog
from common.provinces import province_now
from devtools.simulator.fair import DEAD_LETTER_REASONS, DEFAULT_ORDER_HORIZON_MS, Message

Truth = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAIR_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_MINUTE_MS = 60_000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
# Cancelled and refunded share a rank: either one ends the order, whichever came first.
_RANK = {"placed": 0, "paid": 1, "cancelled": 2, "refunded": 2}
_VIEW_FIELDS: dict[str, type] = {"event_id": str, "session_id": str, "viewer_id": str, "kind": str}
_COUNT_FIELDS: dict[str, type] = {"event_id": str, "session_id": str, "kind": str, "viewers": int}
_ORDER_FIELDS = {
    "event_id": str, "order_id": str, "session_id": str, "product_id": str,
    "quantity": int, "amount_vnd": int, "status": str,
}


def ts_to_ms(ts: object) -> int:
    """Epoch milliseconds of an event ``ts``: an int of epoch ms or RFC 3339 with offset."""
    if type(ts) is int:
        return ts
    if isinstance(ts, str) and _RFC3339.match(ts):
        return (datetime.fromisoformat(ts) - _EPOCH) // timedelta(milliseconds=1)
    raise ValueError(f"bad ts {ts!r}")


def local_day(ms: int) -> str:
    """The Asia/Ho_Chi_Minh calendar day (YYYY-MM-DD) of an epoch-ms instant."""
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(_FAIR_TZ).date().isoformat()


def _check_event(kind: str, key: str, event: object) -> dict[str, Any]:
    """Return the event if it satisfies the data contract, else raise ValueError."""
    if not isinstance(event, dict):
        raise ValueError(f"{kind} event is not an object: {event!r}")
    if kind == "orders":
        fields = _ORDER_FIELDS
    else:
        fields = _COUNT_FIELDS if event.get("kind") == "viewers" else _VIEW_FIELDS
    for name, wanted in fields.items():
        if type(event.get(name)) is not wanted:
            raise ValueError(f"{kind} event field {name!r} missing or not {wanted.__name__}")
    ts_to_ms(event.get("ts"))
    if event["session_id"] != key:
        raise ValueError(f"event session_id {event['session_id']!r} differs from key {key!r}")
    if kind == "views" and event["kind"] not in ("join", "leave", "viewers"):
        raise ValueError(f"unknown view kind {event['kind']!r}")
    if event.get("kind") == "viewers" and event["viewers"] < 0:
        raise ValueError(f"negative viewer count in {event!r}")
    if kind == "orders":
        if event["status"] not in _RANK:
            raise ValueError(f"unknown order status {event['status']!r}")
        if event["quantity"] <= 0 or event["amount_vnd"] < 0:
            raise ValueError(f"bad quantity or amount in {event!r}")
    return event


def _counts() -> dict[str, int]:
    """A fresh bucket of the four windowed counters."""
    return {"views": 0, "orders": 0, "units": 0, "gmv_vnd": 0}


def _bucket(table: dict[str, dict[str, int]], key: str) -> dict[str, int]:
    """The bucket ``key`` of a minute or day table, created on first use."""
    if key not in table:
        table[key] = _counts()
    return table[key]


def _minute(ms: int) -> str:
    """The key of the minute bucket holding an epoch-ms instant."""
    return str(ms - ms % _MINUTE_MS)


def _ranked(rows: Iterable[dict[str, Any]], by: str, key: str) -> list[dict[str, Any]]:
    """The rows with a positive ``by``, highest first, ties broken by ``key`` (as the APIs)."""
    return sorted((r for r in rows if r[by] > 0), key=lambda r: (-r[by], r[key]))


class _Tally:
    """Accumulates one run; ``add`` each message in delivery order, then ``result``."""

    def __init__(self, catalog: Catalog, order_horizon_ms: int) -> None:
        self.catalog = catalog.by_id()
        self.horizon = order_horizon_ms
        self.fair_of = {s.session_id: s.fair_id or IMPLICIT_FAIR_ID for s in catalog.sessions}
        # The catalog's fairs in its order, then any its sessions name that it lacks.
        self.fair_ids = list(dict.fromkeys([*(f.fair_id for f in catalog.fairs),
                                            *self.fair_of.values()]))
        self.fair_days: dict[str, dict[str, dict[str, int]]] = {f: {} for f in self.fair_ids}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, int]] = {}
        self.provinces: dict[str, dict[str, int]] = {}
        for sid, info in self.catalog.items():
            self.sessions[sid] = {
                "views": 0, "unique_viewers": 0, "viewers_now": 0, "peak_viewers": 0,
                "peak_at": None, "orders": 0, "units": 0, "gmv_vnd": 0,
                "products": {p.product_id: {"units": 0, "gmv_vnd": 0} for p in info.products},
                "minutes": {}, "fair_id": self.fair_of[sid], "counted_events": 0,
                "last_at": None,
            }
            for product in info.products:
                self.products[product.product_id] = {"units": 0, "gmv_vnd": 0}
            self.provinces[info.province] = {"gmv_vnd": 0, "orders": 0}
        self.minutes: dict[str, dict[str, int]] = {}
        self.days: dict[str, dict[str, int]] = {}
        self.accepted_ids: dict[str, set[str]] = {"views": set(), "orders": set()}
        self.viewers: dict[str, set[str]] = {sid: set() for sid in self.catalog}
        self.net = dict.fromkeys(self.catalog, 0)
        # Joins - leaves: the peak reached in delivery order, with its event time.
        self.net_peak: dict[str, tuple[int, int | None]] = dict.fromkeys(self.catalog, (0, None))
        # Platform counts: the latest as (event time, count), the highest count at its
        # earliest time as (count, -event time); a session with counts shows those.
        self.latest_count: dict[str, tuple[int, int]] = {}
        self.count_peak: dict[str, tuple[int, int]] = {}
        self.orders: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.anchors: dict[tuple[str, str], int] = {}
        self.counts = dict.fromkeys(
            ("messages", "events", "dead_letters", "accepted_events", "duplicates"), 0
        )
        self.reasons: Counter[str] = Counter()

    def add(self, message: Message) -> None:
        """Count one message: a dead letter, or each of its events in order."""
        self.counts["messages"] += 1
        if message.invalid_reason is not None:
            self.counts["events"] += 1
            self.counts["dead_letters"] += 1
            # A label the generator does not know is taken as the reason code itself.
            label = message.invalid_reason
            self.reasons[DEAD_LETTER_REASONS.get(label, label)] += 1
            return
        decoded = json.loads(message.value)
        batch = decoded if isinstance(decoded, list) else [decoded]
        if not batch:
            raise ValueError(f"empty envelope for key {message.key!r}")
        if message.key not in self.catalog:
            raise ValueError(f"session {message.key!r} is not in the catalog")
        for raw in batch:
            self.counts["events"] += 1
            event = _check_event(message.topic_kind, message.key, raw)
            seen = self.accepted_ids[message.topic_kind]
            if event["event_id"] in seen:
                self.counts["duplicates"] += 1
                continue
            ts = ts_to_ms(event["ts"])
            key = (event["session_id"], event.get("order_id", ""))
            if message.topic_kind == "orders":
                anchor = self.anchors.get(key)
                if anchor is not None and ts > anchor + self.horizon:
                    self.counts["dead_letters"] += 1
                    self.reasons["order_horizon"] += 1
                    continue
                self.anchors[key] = ts if anchor is None else min(anchor, ts)
            seen.add(event["event_id"])
            self.counts["accepted_events"] += 1
            row = self.sessions[message.key]
            row["counted_events"] += 1
            row["last_at"] = ts if row["last_at"] is None else max(row["last_at"], ts)
            if message.topic_kind == "views":
                self._view(event)
            else:
                # An order's fate depends on all its events, so it is settled at the end.
                self.orders.setdefault(key, []).append(event)

    def _view(self, event: dict[str, Any]) -> None:
        """Apply an accepted join, leave or count: views, viewers now and the peak."""
        sid, ts = event["session_id"], ts_to_ms(event["ts"])
        row = self.sessions[sid]
        if event["kind"] == "viewers":
            count = event["viewers"]
            self.latest_count[sid] = max(self.latest_count.get(sid, (ts, count)), (ts, count))
            self.count_peak[sid] = max(self.count_peak.get(sid, (count, -ts)), (count, -ts))
        elif event["kind"] == "join":
            self.net[sid] += 1
            row["views"] += 1
            self.viewers[sid].add(event["viewer_id"])
            for table, key in (
                (row["minutes"], _minute(ts)), (self.minutes, _minute(ts)),
                (self.days, local_day(ts)), (self.fair_days[row["fair_id"]], local_day(ts)),
            ):
                _bucket(table, key)["views"] += 1
        else:
            self.net[sid] -= 1
        if self.net[sid] > self.net_peak[sid][0]:
            self.net_peak[sid] = (self.net[sid], ts)
        if sid in self.latest_count:
            row["viewers_now"] = self.latest_count[sid][1]
            peak, minus_at = self.count_peak[sid]
            row["peak_viewers"], row["peak_at"] = peak, -minus_at
        else:
            row["viewers_now"] = max(0, self.net[sid])
            row["peak_viewers"], row["peak_at"] = self.net_peak[sid]

    def _settle(self, sid: str, order_id: str, events: list[dict[str, Any]]) -> None:
        """Count an order if it never reached cancelled/refunded, at its anchor event."""
        if len({(e["product_id"], e["quantity"], e["amount_vnd"]) for e in events}) != 1:
            raise ValueError(f"order {order_id!r} changes product, quantity or amount")
        if max(_RANK[e["status"]] for e in events) > 1:
            return
        anchor = min(events, key=lambda e: (ts_to_ms(e["ts"]), _RANK[e["status"]], e["event_id"]))
        ts, units, gmv = ts_to_ms(anchor["ts"]), anchor["quantity"], anchor["amount_vnd"]
        row = self.sessions[sid]
        for target in (
            row, _bucket(row["minutes"], _minute(ts)), _bucket(self.minutes, _minute(ts)),
            _bucket(self.days, local_day(ts)),
            _bucket(self.fair_days[row["fair_id"]], local_day(ts)),
        ):
            target["orders"] += 1
            target["units"] += units
            target["gmv_vnd"] += gmv
        pid = anchor["product_id"]
        for table in (row["products"], self.products):
            product = table.setdefault(pid, {"units": 0, "gmv_vnd": 0})
            product["units"] += units
            product["gmv_vnd"] += gmv
        province = self.provinces[self.catalog[sid].province]
        province["orders"] += 1
        province["gmv_vnd"] += gmv

    def _totals(self, sids: list[str]) -> dict[str, int]:
        """The board's totals over some sessions; unique viewers exact."""
        names = ("views", "viewers_now", "orders", "units", "gmv_vnd")
        totals = {name: sum(self.sessions[sid][name] for sid in sids) for name in names}
        totals["unique_viewers"] = len(set().union(*(self.viewers[sid] for sid in sids)))
        return totals

    def _fair(self, fair_id: str) -> dict[str, Any]:
        """One fair's totals, days and leaderboards, over its sessions."""
        sids = sorted(sid for sid, fid in self.fair_of.items() if fid == fair_id)
        entries = []
        products: dict[str, dict[str, Any]] = {}
        provinces: dict[str, dict[str, Any]] = {}
        for sid in sids:
            info, row = self.catalog[sid], self.sessions[sid]
            entries.append({
                "session_id": sid, "title": info.title, "host": info.host, "shop": info.shop,
                "province": info.province, "gmv_vnd": row["gmv_vnd"], "orders": row["orders"],
                "viewers_now": row["viewers_now"],
            })
            for product in info.products:
                entry = products.setdefault(product.product_id, {
                    "product_id": product.product_id, "name": product.name,
                    "stars": product.stars, "units": 0, "gmv_vnd": 0,
                })
                entry["units"] += row["products"][product.product_id]["units"]
                entry["gmv_vnd"] += row["products"][product.product_id]["gmv_vnd"]
            name = province_now(info.province)
            province = provinces.setdefault(name, {"province": name, "gmv_vnd": 0, "orders": 0})
            province["gmv_vnd"] += row["gmv_vnd"]
            province["orders"] += row["orders"]
        return {
            "sessions": sids, "totals": self._totals(sids), "days": self.fair_days[fair_id],
            "top_sessions_gmv": _ranked(entries, "gmv_vnd", "session_id"),
            "top_sessions_viewers": _ranked(entries, "viewers_now", "session_id"),
            "top_products": _ranked(products.values(), "units", "product_id"),
            "top_products_gmv": _ranked(products.values(), "gmv_vnd", "product_id"),
            "top_provinces": _ranked(provinces.values(), "gmv_vnd", "province"),
        }

    def result(self, seed: int) -> Truth:
        """Settle all orders and assemble the ground-truth document."""
        for (sid, order_id), events in self.orders.items():
            self._settle(sid, order_id, events)
        for sid, row in self.sessions.items():
            row["unique_viewers"] = len(self.viewers[sid])
        totals = self._totals(list(self.sessions))
        counted = [sid for sid, row in self.sessions.items() if row["counted_events"] > 0]
        campaign = {
            "sessions": len(counted),
            "provinces": len({province_now(self.catalog[sid].province) for sid in counted}),
            "fairs": len({self.fair_of[sid] for sid in counted}),
            **{name: totals[name] for name in ("views", "orders", "gmv_vnd", "unique_viewers")},
        }
        return {
            "seed": seed, **self.counts, "order_horizon_ms": self.horizon, "totals": totals,
            "sessions": self.sessions, "minutes": self.minutes, "days": self.days,
            "products": self.products, "provinces": self.provinces,
            "fairs": {fid: self._fair(fid) for fid in self.fair_ids}, "campaign": campaign,
            "dead_letter_reasons": dict(sorted(self.reasons.items())),
        }


def compute_truth(messages: Iterable[Message], catalog: Catalog, *, seed: int,
                  order_horizon_ms: int = DEFAULT_ORDER_HORIZON_MS) -> Truth:
    """Compute the ground truth of a run from its messages, in delivery order."""
    tally = _Tally(catalog, order_horizon_ms)
    for message in messages:
        tally.add(message)
    return tally.result(seed)


def truth_json(truth: Truth) -> bytes:
    """Serialize a ground truth as UTF-8 JSON with sorted keys."""
    return json.dumps(truth, sort_keys=True, ensure_ascii=False, indent=1).encode()


def write_truth(truth: Truth, path: Path) -> None:
    """Write a ground truth JSON file (sorted keys, Vietnamese names kept readable)."""
    path.write_bytes(truth_json(truth) + b"\n")
