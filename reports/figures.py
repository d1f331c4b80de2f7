"""The report's numbers, arranged from one read of the store by the board's own builders.

Pure: ``BoardRows`` in (``web.reader.StoreReader.board``), figures out. Every total is one
a payload builder returns: the fairs list (``build_fairs``), the campaign
(``build_campaign``) and each fair's board (``build_board``), so the report cannot
disagree with ``/api/fairs``, ``/api/campaign`` or a venue screen. What the builders do
not total (a province's sessions and views, a session's views and units) is summed from
the same session counters the board sums, grouped by ``web.payload.province_of`` as the
board's provinces leaderboard is::

    rows = await reader.board(now_ms=now_ms, fairs=["cg-2023-11-25"])
    figures = fair_figures(rows, "cg-2023-11-25", options=Options.of(settings))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from common.settings import Settings
from store.fields import GMV, ORDERS, UNITS, VIEWS
from web.payload import build_board, build_campaign, build_fairs, province_of
from web.reader import BoardRows

Json = dict[str, Any]
Scope = Literal["fair", "campaign"]
# The boards are built with every row (the report cuts its own lists), so the campaign's
# products can be summed over fairs before they are ranked.
_UNCUT = 1 << 31


@dataclass(frozen=True, slots=True)
class Options:
    """What the board's builders take besides the rows (from the settings)."""

    top_n: int = 10
    title: str = "Chợ phiên OCOP"
    place: str = ""
    live_grace_s: int = 300

    @classmethod
    def of(cls, settings: Settings) -> Options:
        """The options the web process uses, from its settings."""
        return cls(top_n=settings.top_n, title=settings.fair_title, place=settings.fair_place,
                   live_grace_s=settings.live_grace_s)


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures organisers quote; ``fairs`` only for the campaign."""

    sessions: int
    provinces: int
    views: int
    orders: int
    gmv_vnd: int
    unique_viewers: int
    fairs: int | None = None


@dataclass(frozen=True, slots=True)
class FairLine:
    """One fair with its totals (``/api/fairs``) and its sessions that counted."""

    fair_id: str
    title: str
    place: str
    start_ms: int | None
    end_ms: int | None
    status: str
    sessions: int
    views: int
    unique_viewers: int
    orders: int
    gmv_vnd: int


@dataclass(frozen=True, slots=True)
class SessionLine:
    """One session: who, where, when (``province`` as the catalog gives it) and counters."""

    session_id: str
    shop: str | None
    host: str | None
    province: str | None
    fair_title: str | None
    start_ms: int | None
    end_ms: int | None
    views: int
    orders: int
    units: int
    gmv_vnd: int


@dataclass(frozen=True, slots=True)
class ProvinceLine:
    """Today's province (after the 2025 merger) with its sessions' counters summed."""

    province: str
    sessions: int
    views: int
    orders: int
    gmv_vnd: int


@dataclass(frozen=True, slots=True)
class ProductLine:
    """A product with the units and revenue its sessions sold."""

    product_id: str
    name: str | None
    stars: int | None
    shop: str | None
    units: int
    gmv_vnd: int


@dataclass(frozen=True, slots=True)
class Span:
    """The time one fair's timeline covers and the counted sessions it sums (shard, id)."""

    fair_id: str
    start_ms: int
    end_ms: int
    sessions: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything a report shows but its timelines and dead letters.

    ``fair_id`` is None for the campaign; ``campaign`` is the campaign's headline (the
    fair report quotes it for context);
    ``members`` are a fair's sessions, whose dead letters are that fair's (None: the
    campaign's report, whose dead letters are all of them).
    """

    scope: Scope
    fair_id: str | None
    title: str
    place: str | None
    start_ms: int | None
    end_ms: int | None
    status: str | None
    as_of_ms: int
    newest_event_ms: int | None
    headline: Headline
    campaign: Headline
    fairs: list[FairLine]
    sessions: list[SessionLine]
    top_sessions: list[SessionLine]
    top_products: list[ProductLine]
    provinces: list[ProvinceLine]
    spans: list[Span]
    members: frozenset[str] | None = None


def _count(value: object) -> int:
    if isinstance(value, int):
        return value
    return int(float(value)) if isinstance(value, str | float) and value != "" else 0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _campaign(rows: BoardRows) -> Headline:
    c = build_campaign(rows)
    return Headline(sessions=c["sessions"], provinces=c["provinces"], views=c[VIEWS],
                    orders=c[ORDERS], gmv_vnd=c[GMV], unique_viewers=c["unique_viewers"],
                    fairs=c["fairs"])


def _counted_members(rows: BoardRows, fair_id: str) -> list[str]:
    return [sid for sid in rows.directory.members(fair_id, rows.counted) if sid in rows.counted]


def _provinces_of(rows: BoardRows, sessions: Iterable[str]) -> int:
    """Distinct today's provinces of the catalogued ones, as ``build_campaign`` counts."""
    listings = rows.directory.listings
    return len({province_of(p) for sid in sessions if sid in listings
                if isinstance(p := listings[sid].info.get("province"), str)})


def _fair_lines(rows: BoardRows, options: Options) -> list[FairLine]:
    lines = []
    for entry in build_fairs(rows, title=options.title, place=options.place):
        fair = rows.directory.fairs[entry["fair_id"]]
        totals = entry["totals"]
        lines.append(FairLine(
            fair_id=fair.fair_id, title=entry["title"], place=entry["place"],
            start_ms=fair.start_ms, end_ms=fair.end_ms, status=entry["status"],
            sessions=len(_counted_members(rows, fair.fair_id)), views=totals[VIEWS],
            unique_viewers=totals["unique_viewers"], orders=totals[ORDERS],
            gmv_vnd=totals[GMV]))
    return lines


def _session_line(rows: BoardRows, sid: str, fair_title: str | None) -> SessionLine:
    listing = rows.directory.listings.get(sid)
    info: Json = listing.info if listing is not None else {}
    counters = rows.sessions.get(sid, {})
    return SessionLine(
        session_id=sid, shop=_text(info.get("shop")), host=_text(info.get("host")),
        province=_text(info.get("province")), fair_title=fair_title,
        start_ms=None if listing is None else listing.start_ms,
        end_ms=None if listing is None else listing.end_ms,
        views=_count(counters.get(VIEWS)), orders=_count(counters.get(ORDERS)),
        units=_count(counters.get(UNITS)), gmv_vnd=_count(counters.get(GMV)))


def province_lines(rows: BoardRows, sessions: Iterable[str]) -> list[ProvinceLine]:
    """The counted ``sessions`` grouped by today's province, by revenue then name."""
    sums: dict[str, list[int]] = {}
    listings = rows.directory.listings
    for sid in sessions:
        listing = listings.get(sid)
        province = province_of(None if listing is None else listing.info.get("province"))
        counters = rows.sessions.get(sid, {})
        line = sums.setdefault(province, [0, 0, 0, 0])
        line[0] += 1
        line[1] += _count(counters.get(VIEWS))
        line[2] += _count(counters.get(ORDERS))
        line[3] += _count(counters.get(GMV))
    return [ProvinceLine(name, *values) for name, values in
            sorted(sums.items(), key=lambda kv: (-kv[1][3], kv[0]))]


def _product_lines(rows: BoardRows, boards: Iterable[Json], top_n: int) -> list[ProductLine]:
    """The boards' products summed by id (a product may sell at several fairs), ranked by
    units as the board ranks them."""
    units: dict[str, int] = {}
    gmv: dict[str, int] = {}
    first: dict[str, Json] = {}
    for board in boards:
        for product in board["top_products"]:
            pid = product["product_id"]
            first.setdefault(pid, product)
            units[pid] = units.get(pid, 0) + product[UNITS]
            gmv[pid] = gmv.get(pid, 0) + product[GMV]
    ranked = sorted((pid for pid, n in units.items() if n > 0), key=lambda p: (-units[p], p))
    lines = []
    for pid in ranked[:top_n]:
        product = first[pid]
        listing = rows.directory.listings.get(product.get("session_id") or "")
        lines.append(ProductLine(
            product_id=pid, name=_text(product.get("name")),
            stars=product.get("stars") if isinstance(product.get("stars"), int) else None,
            shop=None if listing is None else _text(listing.info.get("shop")),
            units=units[pid], gmv_vnd=gmv[pid]))
    return lines


def _span(rows: BoardRows, fair_id: str) -> Span | None:
    """The fair's start..end, widened to its sessions' schedules (a session may start
    before its fair opens); None without a schedule or a counted session."""
    counted = _counted_members(rows, fair_id)
    fair = rows.directory.fairs[fair_id]
    listings = rows.directory.listings
    starts = [ms for ms in [fair.start_ms, *(listings[s].start_ms for s in counted
                                            if s in listings)] if ms is not None]
    ends = [ms for ms in [fair.end_ms, *(listings[s].end_ms for s in counted
                                        if s in listings)] if ms is not None]
    if not counted or not starts or not ends:
        return None
    return Span(fair_id, min(starts), max(ends),
                tuple((rows.counted[sid], sid) for sid in counted))


def _board(rows: BoardRows, fair_id: str, options: Options) -> Json:
    return build_board(rows, fair_id=fair_id, top_n=_UNCUT, title=options.title,
                       place=options.place, live_grace_s=options.live_grace_s)


def fair_figures(rows: BoardRows, fair_id: str, *, options: Options) -> Figures:
    """One fair's report; ``rows`` must have been read for ``fair_id``."""
    board = _board(rows, fair_id, options)
    fair = rows.directory.fairs[fair_id]
    entry = board["fair"]
    totals = board["totals"]
    members = rows.directory.members(fair_id, rows.counted)
    counted = _counted_members(rows, fair_id)
    listings = rows.directory.listings

    def scheduled(sid: str) -> tuple[bool, int, str]:
        start = listings[sid].start_ms if sid in listings else None
        return (start is None, start or 0, sid)

    span = _span(rows, fair_id)
    return Figures(
        scope="fair", fair_id=fair_id, title=entry["title"], place=entry["place"],
        start_ms=fair.start_ms, end_ms=fair.end_ms, status=entry["status"],
        as_of_ms=rows.now_ms, newest_event_ms=rows.newest_event_ms,
        headline=Headline(sessions=len(counted), provinces=_provinces_of(rows, counted),
                          views=totals[VIEWS], orders=totals[ORDERS], gmv_vnd=totals[GMV],
                          unique_viewers=totals["unique_viewers"]),
        campaign=_campaign(rows),
        fairs=[line for line in _fair_lines(rows, options) if line.fair_id == fair_id],
        sessions=[_session_line(rows, sid, None) for sid in sorted(members, key=scheduled)],
        top_sessions=[_session_line(rows, s["session_id"], None)
                      for s in board["top_sessions_gmv"][:options.top_n]],
        top_products=_product_lines(rows, [board], options.top_n),
        provinces=province_lines(rows, counted),
        spans=[] if span is None else [span],
        members=frozenset(members),
    )


def campaign_figures(rows: BoardRows, *, options: Options) -> Figures:
    """The whole campaign's report; ``rows`` must have been read for every fair."""
    missing = sorted(set(rows.directory.fairs) - set(rows.sums))
    if missing:
        raise ValueError(f"the campaign report needs every fair's rows; not read: {missing}")
    fairs = _fair_lines(rows, options)
    boards = {line.fair_id: _board(rows, line.fair_id, options) for line in fairs}
    ranked = sorted(((s[GMV], s["session_id"], line.title) for line in fairs
                     for s in boards[line.fair_id]["top_sessions_gmv"]),
                    key=lambda item: (-item[0], item[1]))
    spans = [span for line in fairs if (span := _span(rows, line.fair_id)) is not None]
    played = [line for line in fairs if line.sessions] or fairs
    starts = [line.start_ms for line in played if line.start_ms is not None]
    ends = [line.end_ms for line in played if line.end_ms is not None]
    campaign = _campaign(rows)
    return Figures(
        scope="campaign", fair_id=None, title=options.title, place=None,
        start_ms=min(starts, default=None), end_ms=max(ends, default=None), status=None,
        as_of_ms=rows.now_ms, newest_event_ms=rows.newest_event_ms, headline=campaign,
        campaign=campaign, fairs=fairs, sessions=[],
        top_sessions=[_session_line(rows, sid, title)
                      for _, sid, title in ranked[:options.top_n]],
        top_products=_product_lines(rows, boards.values(), options.top_n),
        provinces=province_lines(rows, rows.counted),
        spans=spans,
    )


def known_fairs(rows: BoardRows) -> list[str]:
    """The fair ids the store holds, the latest first (what a person most likely meant)."""
    fairs = rows.directory.fairs.values()
    return [f.fair_id for f in sorted(fairs, key=lambda f: (-(f.start_ms or 0), f.fair_id))]

