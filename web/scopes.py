"""The read side's four scopes: live now, this fair, today and the campaign (pure, no I/O).

- **live now**: a session whose schedule covers now, or that counted an event within the
  live grace (``OCOP_LIVE_GRACE_S``): sessions start early and overrun;
- **this fair**: the sessions of one fair. Without a choice, the fair live now (the
  earliest start when several are), else the next one to start, else the last one ended;
- **today**: the Asia/Ho_Chi_Minh day, read from the day buckets;
- **campaign**: everything counted.

Fairs come from the fairs hash (fair id → fair JSON) and each session names its fair in
the catalog hash. A catalog without fairs is one implicit fair, ``IMPLICIT_FAIR_ID``,
holding every session (catalogued or only counted), scheduled over the span of its
sessions. With fairs, a session that names no known fair belongs to no fair: it counts
in the campaign only.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from common.catalog import IMPLICIT_FAIR_ID

Json = dict[str, Any]
# OCOP_LIVE_GRACE_S's default, for callers without settings (tests, tools).
DEFAULT_LIVE_GRACE_S = 300
FairStatus = Literal["upcoming", "live", "ended"]
SessionStatus = Literal["live", "next", "ended"]


class UnknownFair(LookupError):
    """A fair id that the fairs hash does not hold (``fair_id`` names it)."""

    def __init__(self, fair_id: str) -> None:
        super().__init__(f"unknown fair {fair_id!r}")
        self.fair_id = fair_id


def parse_time_ms(text: object) -> int | None:
    """Epoch ms of an RFC 3339 timestamp with an offset; None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def fair_status(start_ms: int | None, end_ms: int | None, now_ms: int) -> FairStatus:
    """Upcoming before its start, live until its end, ended from then on.

    A fair with no schedule (the implicit fair of a catalog that lists no session yet)
    is live: it is the only fair there is.
    """
    if start_ms is None or end_ms is None:
        return "live"
    if now_ms < start_ms:
        return "upcoming"
    if now_ms < end_ms:
        return "live"
    return "ended"


def is_live(start_ms: int | None, end_ms: int | None, last_at_ms: int | None, *,
            now_ms: int, grace_ms: int) -> bool:
    """Whether a session is live now: its schedule covers now, or it counted lately."""
    scheduled = start_ms is not None and end_ms is not None and start_ms <= now_ms < end_ms
    recent = last_at_ms is not None and last_at_ms >= now_ms - grace_ms
    return scheduled or recent


def session_status(start_ms: int | None, end_ms: int | None, last_at_ms: int | None, *,
                   now_ms: int, grace_ms: int) -> SessionStatus:
    """``live`` (live now), ``next`` (not started yet) or ``ended``."""
    if is_live(start_ms, end_ms, last_at_ms, now_ms=now_ms, grace_ms=grace_ms):
        return "live"
    if start_ms is not None and now_ms < start_ms:
        return "next"
    return "ended"


@dataclass(frozen=True, slots=True)
class Fair:
    """One fair day at one venue; ``start``/``end`` as the catalog wrote them."""

    fair_id: str
    title: str | None = None
    place: str | None = None
    province: str | None = None
    start: str | None = None
    end: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def status(self, now_ms: int) -> FairStatus:
        """This fair's status at ``now_ms``."""
        return fair_status(self.start_ms, self.end_ms, now_ms)


def default_fair(fairs: Iterable[Fair], now_ms: int) -> str | None:
    """The fair a board shows without a choice: live (earliest start), else the next
    one to start, else the last one ended; ties by id. None when there is no fair."""
    live: list[Fair] = []
    upcoming: list[Fair] = []
    ended: list[Fair] = []
    for fair in fairs:
        {"live": live, "upcoming": upcoming, "ended": ended}[fair.status(now_ms)].append(fair)
    if live:
        return min(live, key=lambda f: (f.start_ms or 0, f.fair_id)).fair_id
    if upcoming:
        return min(upcoming, key=lambda f: (f.start_ms or 0, f.fair_id)).fair_id
    if ended:
        return min(ended, key=lambda f: (-(f.end_ms or 0), f.fair_id)).fair_id
    return None


@dataclass(frozen=True, slots=True)
class Listing:
    """A catalogued session: its catalog JSON, the fair it names and its schedule."""

    session_id: str
    info: Json
    fair_id: str | None
    start_ms: int | None
    end_ms: int | None


def _loads(text: str) -> Json | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(slots=True)
class Directory:
    """Who belongs where: fairs by id, catalogued sessions and each fair's sessions.

    Usage::

        directory = Directory.parse(catalog_hash, fairs_hash)
        fair_id = directory.default_fair(now_ms)
        directory.members(fair_id, counted=session_ids_counted)
    """

    fairs: dict[str, Fair]
    listings: dict[str, Listing]
    implicit: bool
    _catalogued: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._catalogued = {fair_id: [] for fair_id in self.fairs}
        for sid in sorted(self.listings):
            fair_id = self.fair_of(sid)
            if fair_id is not None:
                self._catalogued[fair_id].append(sid)

    @classmethod
    def parse(cls, catalog: Mapping[str, str], fairs: Mapping[str, str]) -> Directory:
        """Build from the raw hashes (values that are not JSON objects are skipped)."""
        listings: dict[str, Listing] = {}
        for sid, text in catalog.items():
            info = _loads(text)
            if info is None:
                continue
            listings[sid] = Listing(sid, info, _text(info.get("fair_id")),
                                    parse_time_ms(info.get("scheduled_start")),
                                    parse_time_ms(info.get("scheduled_end")))
        found: dict[str, Fair] = {}
        for fair_id, text in fairs.items():
            info = _loads(text)
            if info is None:
                continue
            found[fair_id] = Fair(fair_id, _text(info.get("title")), _text(info.get("place")),
                                  _text(info.get("province")), _text(info.get("start")),
                                  _text(info.get("end")), parse_time_ms(info.get("start")),
                                  parse_time_ms(info.get("end")))
        if found:
            return cls(found, listings, implicit=False)
        return cls({IMPLICIT_FAIR_ID: _implicit_fair(listings.values())}, listings,
                   implicit=True)

    def fair_of(self, session_id: str) -> str | None:
        """The fair ``session_id`` belongs to; None when it belongs to none."""
        if self.implicit:
            return IMPLICIT_FAIR_ID
        listing = self.listings.get(session_id)
        if listing is None or listing.fair_id not in self.fairs:
            return None
        return listing.fair_id

    def members(self, fair_id: str, counted: Collection[str]) -> list[str]:
        """The sessions of a fair, sorted: its catalogued ones, and in the implicit fair
        also the counted sessions the catalog does not list (yet)."""
        catalogued = self._catalogued.get(fair_id, [])
        if not self.implicit:
            return list(catalogued)
        return sorted({*catalogued, *(sid for sid in counted if sid not in self.listings)})

    def default_fair(self, now_ms: int) -> str:
        """The fair a board shows without a choice (see ``default_fair``)."""
        chosen = default_fair(self.fairs.values(), now_ms)
        if chosen is None:
            raise AssertionError("unreachable: a directory always has a fair")
        return chosen


def _implicit_fair(listings: Collection[Listing]) -> Fair:
    """The one fair of a catalog without fairs, scheduled over its sessions' span."""
    starts = [(s.start_ms, s.info["scheduled_start"]) for s in listings
              if s.start_ms is not None]
    ends = [(s.end_ms, s.info["scheduled_end"]) for s in listings if s.end_ms is not None]
    if not starts or not ends:
        return Fair(IMPLICIT_FAIR_ID)
    (start_ms, start), (end_ms, end) = min(starts), max(ends)
    return Fair(IMPLICIT_FAIR_ID, start=start, end=end, start_ms=start_ms, end_ms=end_ms)
