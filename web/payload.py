"""Store rows → the messages screens and APIs receive. One pure function per payload.

Every adapter (websocket snapshot, change feed, HTTP API) calls these, so the board a
screen shows and the JSON an API returns cannot drift apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from store.fields import (
    COUNT_FIELDS,
    GMV,
    ORDERS,
    PEAK,
    PEAK_AT,
    UNITS,
    VIEWERS_NOW,
    VIEWS,
    product_field,
    product_of,
)
from store.windows import WINDOW_MINUTES
from web.reader import BoardRows, Scores, SessionRows

Json = dict[str, Any]


def _int(value: str | float | None) -> int:
    return int(float(value)) if value not in (None, "") else 0


def _counts(hashes: Iterable[Mapping[str, str | None]]) -> Json:
    out = dict.fromkeys(COUNT_FIELDS, 0)
    for h in hashes:
        for name in COUNT_FIELDS:
            out[name] += _int(h.get(name))
    return out


def _catalog(raw: Mapping[str, str]) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for sid, text in raw.items():
        try:
            out[sid] = json.loads(text)
        except json.JSONDecodeError:
            continue
    return out


def _summed(per_shard: Iterable[Scores]) -> dict[str, int]:
    total: defaultdict[str, int] = defaultdict(int)
    for scores in per_shard:
        for member, score in scores:
            total[member] += int(score)
    return total


def _ranked(scores: Mapping[str, int], top_n: int) -> list[tuple[str, int]]:
    # Ties broken by id so every reader (and the ground truth) agrees on the order.
    return sorted(((m, s) for m, s in scores.items() if s > 0), key=lambda kv: (-kv[1], kv[0]))[
        :top_n
    ]


def _session_entry(sid: str, counters: Mapping[str, str], info: Json | None) -> Json:
    info = info or {}
    return {
        "session_id": sid,
        "title": info.get("title"),
        "host": info.get("host"),
        "shop": info.get("shop"),
        "province": info.get("province"),
        GMV: _int(counters.get(GMV)),
        ORDERS: _int(counters.get(ORDERS)),
        VIEWERS_NOW: _int(counters.get(VIEWERS_NOW)),
    }


def _products(catalog: Mapping[str, Json]) -> dict[str, tuple[str, Json]]:
    found: dict[str, tuple[str, Json]] = {}
    for sid, info in sorted(catalog.items()):
        for product in info.get("products", []):
            found.setdefault(product.get("product_id", ""), (sid, product))
    return found


def _series(minutes: Mapping[int, Sequence[Mapping[str, str | None]]]) -> list[Json]:
    return [{"minute": m, **_counts(hashes)} for m, hashes in sorted(minutes.items())]


def _windows(series: list[Json], today: Json, fair: Json) -> Json:
    windows: Json = {}
    for name, n in WINDOW_MINUTES.items():
        windows[name] = {f: sum(row[f] for row in series[-n:]) for f in COUNT_FIELDS}
    windows["today"] = today
    windows["fair"] = {f: fair[f] for f in COUNT_FIELDS}
    return windows


def unique_viewers(estimate: int, *, views: int) -> int:
    """The HyperLogLog's estimate, never above views.

    Every distinct viewer joined at least once and each accepted join is a view, so the
    exact count cannot exceed views; HyperLogLog's small overestimates can (140 unique
    viewers against 139 views was seen on a host page). The clamp only moves the figure
    toward the exact count.
    """
    return min(estimate, views)


def build_board(rows: BoardRows, *, top_n: int, title: str, place: str) -> Json:
    """The whole board a screen shows (and ``GET /api/board`` returns)."""
    catalog = _catalog(rows.catalog)
    totals = _counts(rows.totals)
    totals[VIEWERS_NOW] = sum(_int(h.get(VIEWERS_NOW)) for h in rows.totals)
    totals["unique_viewers"] = unique_viewers(rows.unique_viewers, views=totals[VIEWS])
    gmv_by_session = _summed(rows.top_gmv)
    viewers_by_session = _summed(rows.top_viewers)
    units = _summed(rows.product_units)
    product_gmv = _summed(rows.product_gmv)
    products = _products(catalog)
    provinces: defaultdict[str, Json] = defaultdict(lambda: {GMV: 0, ORDERS: 0})
    for sid, counters in rows.sessions.items():
        province = (catalog.get(sid) or {}).get("province") or "?"
        provinces[province][GMV] += _int(counters.get(GMV))
        provinces[province][ORDERS] += _int(counters.get(ORDERS))
    series = _series(rows.minutes)
    return {
        "fair": {"title": title, "place": place},
        "as_of": rows.now_ms,
        "newest_event_ms": rows.newest_event_ms,
        "totals": totals,
        "windows": _windows(series, _counts(rows.today), totals),
        "top_sessions_gmv": [
            _session_entry(sid, rows.sessions.get(sid, {}), catalog.get(sid))
            for sid, _ in _ranked(gmv_by_session, top_n)
        ],
        "top_sessions_viewers": [
            _session_entry(sid, rows.sessions.get(sid, {}), catalog.get(sid))
            for sid, _ in _ranked(viewers_by_session, top_n)
        ],
        "top_products": [
            {
                "product_id": pid,
                "name": products.get(pid, ("", {}))[1].get("name"),
                "stars": products.get(pid, ("", {}))[1].get("stars"),
                "session_id": products.get(pid, (None, {}))[0],
                UNITS: n,
                GMV: product_gmv.get(pid, 0),
            }
            for pid, n in _ranked(units, top_n)
        ],
        "top_provinces": [
            {"province": name, GMV: p[GMV], ORDERS: p[ORDERS]}
            for name, p in sorted(provinces.items(), key=lambda kv: (-kv[1][GMV], kv[0]))
            if p[GMV] > 0
        ][:top_n],
        "series": series,
    }


def build_session(rows: SessionRows) -> Json:
    """One host's session page (``GET /api/sessions/{id}``)."""
    info: Json = json.loads(rows.catalog) if rows.catalog else {}
    c = rows.counters
    product_info = {p.get("product_id"): p for p in info.get("products", [])}
    products = []
    for name in c:
        if (pid := product_of(name, UNITS)) is not None:
            products.append({
                "product_id": pid,
                "name": product_info.get(pid, {}).get("name"),
                "stars": product_info.get(pid, {}).get("stars"),
                UNITS: _int(c[name]),
                GMV: _int(c.get(product_field(pid, GMV))),
            })
    products.sort(key=lambda p: (-p[UNITS], p["product_id"]))
    series = [
        {"minute": m, **{f: _int(v) for f, v in zip(COUNT_FIELDS, values, strict=True)}}
        for m, values in sorted(rows.minutes.items())
    ]
    fair = {f: _int(c.get(f)) for f in COUNT_FIELDS}
    today = {f: _int(v) for f, v in zip(COUNT_FIELDS, rows.today, strict=True)} if rows.today \
        else dict.fromkeys(COUNT_FIELDS, 0)
    peak_at = c.get(PEAK_AT)
    unique = unique_viewers(rows.unique_viewers, views=fair[VIEWS])
    return {
        "session_id": rows.session_id,
        "title": info.get("title"),
        "host": info.get("host"),
        "shop": info.get("shop"),
        "province": info.get("province"),
        "as_of": rows.now_ms,
        VIEWS: fair[VIEWS],
        "unique_viewers": unique,
        VIEWERS_NOW: _int(c.get(VIEWERS_NOW)),
        "peak_viewers": _int(c.get(PEAK)),
        "peak_at": int(peak_at) if peak_at else None,
        ORDERS: fair[ORDERS],
        UNITS: fair[UNITS],
        GMV: fair[GMV],
        # Orders per unique viewer: how many of the people who watched went on to buy.
        "conversion": round(fair[ORDERS] / unique, 4) if unique > 0 else None,
        "rank_gmv": rows.rank_above + 1 if fair[GMV] > 0 else None,
        "sessions_ranked": rows.sessions_ranked,
        "gap_to_next_vnd": (rows.next_gmv_above - fair[GMV]
                            if rows.next_gmv_above is not None else None),
        "series": series,
        "windows": _windows(series, today, fair),
        "products": products,
    }


def board_changes(old: Json | None, new: Json) -> Json:
    """Top-level board keys whose value changed (``as_of`` alone is not a change)."""
    if old is None:
        return dict(new)
    changed = {k: v for k, v in new.items() if k != "as_of" and old.get(k) != v}
    if changed:
        changed["as_of"] = new["as_of"]
    return changed

