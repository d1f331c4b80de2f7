"""Store rows → the messages screens and APIs receive. One pure function per payload.

Every adapter (websocket snapshot, change feed, HTTP API) calls these, so the board a
screen shows and the JSON an API returns cannot drift apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from common.provinces import ProvinceError, province_now
from store.fields import (
    COUNT_FIELDS,
    GMV,
    LAST_AT,
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
from web.reader import BoardRows, SessionRows
from web.scopes import (
    DEFAULT_LIVE_GRACE_S,
    Directory,
    Fair,
    Listing,
    is_live,
    session_status,
)

Json = dict[str, Any]


def _int(value: str | float | None) -> int:
    return int(float(value)) if value not in (None, "") else 0


def _counts(hashes: Iterable[Mapping[str, str | None]]) -> Json:
    out = dict.fromkeys(COUNT_FIELDS, 0)
    for h in hashes:
        for name in COUNT_FIELDS:
            out[name] += _int(h.get(name))
    return out


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


def _products(listings: Iterable[Listing]) -> dict[str, tuple[str, Json]]:
    found: dict[str, tuple[str, Json]] = {}
    for listing in sorted(listings, key=lambda item: item.session_id):
        for product in listing.info.get("products", []):
            found.setdefault(product.get("product_id", ""), (listing.session_id, product))
    return found


def _windows(series: list[Json], today: Mapping[str, int], fair: Json) -> Json:
    windows: Json = {}
    for name, n in WINDOW_MINUTES.items():
        windows[name] = {f: sum(row[f] for row in series[-n:]) for f in COUNT_FIELDS}
    windows["today"] = {f: today.get(f, 0) for f in COUNT_FIELDS}
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


def province_of(name: object) -> str:
    """Today's province for a catalog's province name (the name itself when the library
    knows no such province, "?" when there is none), so one province is one row."""
    if not isinstance(name, str):
        return "?"
    try:
        return province_now(name)
    except ProvinceError:
        return name


def _last_at(counters: Mapping[str, str]) -> int | None:
    value = counters.get(LAST_AT)
    return _int(value) if value not in (None, "") else None


def fair_entry(fair: Fair, *, now_ms: int, title: str, place: str) -> Json:
    """A fair as every payload names it; the implicit fair takes ``title`` and ``place``."""
    return {
        "fair_id": fair.fair_id,
        "title": fair.title or title,
        "place": fair.place or place,
        "province": fair.province,
        "start": fair.start,
        "end": fair.end,
        "status": fair.status(now_ms),
    }


def _fair_rows(rows: BoardRows, fair_id: str) -> list[tuple[str, Mapping[str, str]]]:
    """The counted sessions of a fair with their counters, in id order."""
    members = rows.directory.members(fair_id, rows.counted)
    return [(sid, rows.sessions[sid]) for sid in members if sid in rows.sessions]


def _fair_totals(rows: BoardRows, fair_id: str) -> Json:
    """A fair's totals: its sessions' counters summed, unique viewers over their HLLs."""
    counted = [counters for _, counters in _fair_rows(rows, fair_id)]
    totals = _counts(counted)
    totals[VIEWERS_NOW] = sum(_int(c.get(VIEWERS_NOW)) for c in counted)
    totals["unique_viewers"] = unique_viewers(rows.fair_unique.get(fair_id, 0),
                                              views=totals[VIEWS])
    return totals


def _schedule(rows: BoardRows, fair_id: str, grace_ms: int) -> list[Json]:
    directory = rows.directory
    listings = [directory.listings[sid] for sid in directory.members(fair_id, rows.counted)
                if sid in directory.listings]
    listings.sort(key=lambda item: (item.start_ms is None, item.start_ms or 0,
                                    item.session_id))
    return [
        {
            "session_id": item.session_id,
            "title": item.info.get("title"),
            "host": item.info.get("host"),
            "shop": item.info.get("shop"),
            "scheduled_start": item.info.get("scheduled_start"),
            "scheduled_end": item.info.get("scheduled_end"),
            "status": session_status(item.start_ms, item.end_ms,
                                     _last_at(rows.sessions.get(item.session_id, {})),
                                     now_ms=rows.now_ms, grace_ms=grace_ms),
        }
        for item in listings
    ]


def build_campaign(rows: BoardRows) -> Json:
    """The campaign's headline figures (``GET /api/campaign``, the board's strip).

    ``sessions``: catalogued sessions with at least one counted event; ``provinces``:
    today's provinces (after the 2025 merger) of those; ``fairs``: fairs with at least
    one of them; views, orders and revenue from every shard's totals.
    """
    directory = rows.directory
    listed = [directory.listings[sid] for sid in rows.counted if sid in directory.listings]
    provinces = {province_of(p) for item in listed
                 if isinstance(p := item.info.get("province"), str)}
    fairs = {fair_id for item in listed
             if (fair_id := directory.fair_of(item.session_id)) is not None}
    totals = _counts(rows.totals)
    return {
        "sessions": len(listed),
        "provinces": len(provinces),
        "fairs": len(fairs),
        VIEWS: totals[VIEWS],
        ORDERS: totals[ORDERS],
        GMV: totals[GMV],
        "unique_viewers": unique_viewers(rows.unique_viewers, views=totals[VIEWS]),
    }


def build_fairs(rows: BoardRows, *, title: str, place: str) -> list[Json]:
    """Every fair with its status and totals (``GET /api/fairs``), in schedule order."""
    fairs = sorted(rows.directory.fairs.values(),
                   key=lambda f: (f.start_ms is None, f.start_ms or 0, f.fair_id))
    return [{**fair_entry(fair, now_ms=rows.now_ms, title=title, place=place),
             "totals": _fair_totals(rows, fair.fair_id)} for fair in fairs]


def build_board(rows: BoardRows, *, top_n: int, title: str, place: str,
                fair_id: str | None = None,
                live_grace_s: float = DEFAULT_LIVE_GRACE_S,
                hidden: frozenset[str] = frozenset()) -> Json:
    """The board of one fair a screen shows (and ``GET /api/board?fair=ID`` returns).

    ``fair_id`` None is the default fair; it must be one of the fairs ``rows`` were
    read for. ``title`` and ``place`` name the implicit fair of a catalog without fairs.
    Sessions in ``hidden`` stay out of the leaderboards (sessions, products, provinces)
    and stay in the totals, windows, chart and schedule (``web/controls.py``).
    """
    fair_id = rows.default_fair if fair_id is None else fair_id
    sums = rows.sums.get(fair_id)
    if sums is None:
        raise ValueError(f"fair {fair_id!r} was not read for this board; read: "
                         f"{sorted(rows.sums)}")
    directory = rows.directory
    grace_ms = int(live_grace_s * 1000)
    fair = directory.fairs[fair_id]
    counted = _fair_rows(rows, fair_id)
    totals = _fair_totals(rows, fair_id)
    info = {sid: directory.listings[sid].info for sid, _ in counted
            if sid in directory.listings}
    ranked = [(sid, c) for sid, c in counted if sid not in hidden]
    gmv_by_session = {sid: _int(c.get(GMV)) for sid, c in ranked}
    # Most watched *now*: a session that ended keeps the last count its platform sent.
    viewers_by_session = {
        sid: _int(c.get(VIEWERS_NOW)) for sid, c in ranked
        if is_live(*_schedule_of(directory, sid), _last_at(c), now_ms=rows.now_ms,
                   grace_ms=grace_ms)
    }
    units: defaultdict[str, int] = defaultdict(int)
    product_gmv: defaultdict[str, int] = defaultdict(int)
    provinces: defaultdict[str, Json] = defaultdict(lambda: {GMV: 0, ORDERS: 0})
    for sid, c in ranked:
        for name, value in c.items():
            if (pid := product_of(name, UNITS)) is not None:
                units[pid] += _int(value)
            elif (pid := product_of(name, GMV)) is not None:
                product_gmv[pid] += _int(value)
        # Today's province, so a session listed under a pre-2025 name ("Bắc Kạn") and
        # one under today's ("Thái Nguyên") add up in one row.
        province = province_of((info.get(sid) or {}).get("province"))
        provinces[province][GMV] += _int(c.get(GMV))
        provinces[province][ORDERS] += _int(c.get(ORDERS))
    products = _products(directory.listings[sid] for sid in directory.members(
        fair_id, rows.counted) if sid in directory.listings)
    series = [{"minute": m, **values} for m, values in sorted(sums.minutes.items())]
    return {
        "fair": fair_entry(fair, now_ms=rows.now_ms, title=title, place=place),
        "as_of": rows.now_ms,
        "newest_event_ms": rows.newest_event_ms,
        "totals": totals,
        "windows": _windows(series, sums.today, totals),
        "top_sessions_gmv": [
            _session_entry(sid, rows.sessions.get(sid, {}), info.get(sid))
            for sid, _ in _ranked(gmv_by_session, top_n)
        ],
        "top_sessions_viewers": [
            _session_entry(sid, rows.sessions.get(sid, {}), info.get(sid))
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
        "schedule": _schedule(rows, fair_id, grace_ms),
        "campaign": build_campaign(rows),
    }


def _schedule_of(directory: Directory, sid: str) -> tuple[int | None, int | None]:
    listing = directory.listings.get(sid)
    return (None, None) if listing is None else (listing.start_ms, listing.end_ms)


def build_session(rows: SessionRows, *, title: str = "", place: str = "") -> Json:
    """One host's session page (``GET /api/sessions/{id}``), ranked within its fair.

    ``title`` and ``place`` name the implicit fair of a catalog without fairs.
    """
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
        "fair": (None if rows.fair is None else
                 fair_entry(rows.fair, now_ms=rows.now_ms, title=title, place=place)),
        "rank_gmv": rows.rank_above + 1 if fair[GMV] > 0 and rows.fair is not None else None,
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

