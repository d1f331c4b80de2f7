"""Catalog: the fair days of a campaign, their live sessions, hosts and what they sell.

The catalog is loaded from a JSON file (``{"fairs": [...], "sessions": [...]}``) and
published on the compacted ``ocop.sessions`` topic: one value per session (key =
``session_id``) and one per fair (key = ``fair:<fair_id>``; ids cannot contain ':', so
the two never collide). Decoding is strict either way: a bad catalog must fail loudly at
startup, naming the file, the fair or session and the field, instead of mislabelling a
live board.

A catalog without fairs keeps working: its sessions form one implicit fair,
``IMPLICIT_FAIR_ID``. With fairs, every session names one of them and its schedule
overlaps that fair's day.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec

from common.provinces import ProvinceError, province_now

# Ids end up inside Redis keys and URLs, so they are restricted to a safe slug alphabet.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, msgspec.Meta(pattern=_ID_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]

# RFC 3339 demands an explicit offset; ``datetime.fromisoformat`` alone would accept a
# naive local time, which is ambiguous for a fair that spans several time zones of viewers.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
# msgspec reports where a value failed as "... - at `$.sessions[3].products[0].stars`".
_WHERE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_ITEM_PATH = re.compile(r"^\.(?P<items>sessions|fairs)\[(?P<index>\d+)\]\.?(?P<field>.*)$")
_NAMED_FIELD = re.compile(r"field `(?P<name>[^`]+)`")

SAMPLE_CATALOG = Path(__file__).with_name("data") / "catalog.json"

# Characters that show as nothing or rearrange the text around them on a screen: controls
# (Cc: C0, DEL, C1 with NEL), format characters (Cf: bidi overrides, zero-width spaces and
# joiners, the BOM, soft hyphen) and the line and paragraph separators (Zl, Zp). With them
# two different ids look alike, or a name shows what it does not say. Letters with
# diacritics (Vietnamese) are none of these.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_TEXT_FIELDS = ("title", "host", "shop", "province")
_FAIR_TEXT_FIELDS = ("title", "place", "province")

# The one fair of a catalog that lists no fairs.
IMPLICIT_FAIR_ID = "fair"
# Catalog-topic keys of fairs; any other key is a session id.
FAIR_KEY_PREFIX = "fair:"


class CatalogError(ValueError):
    """A catalog file, session value or fair value that does not match the catalog schema.

    ``source`` names the file (or "session value", "fair value"), ``item`` says whether
    ``index`` is a session's or a fair's position, and ``field`` names the offending
    field, e.g. ``products[2].stars``::

        try:
            load_catalog(path)
        except CatalogError as exc:
            sys.exit(str(exc))  # ".../catalog.json: fair #2: field 'end': must be after start"
    """

    def __init__(self, source: str, index: int | None, field: str | None, problem: str,
                 *, item: str = "session") -> None:
        self.source = source
        self.index = index
        self.field = field
        self.problem = problem
        self.item = item
        where = [source]
        if index is not None:
            where.append(f"{item} #{index}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {problem}")


class Product(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One OCOP product offered in a session::

    Product("bk-che-shan-tuyet-500g", "Chè Shan tuyết Bắc Kạn 500g", stars=4, price_vnd=380_000)
    """

    product_id: Id
    name: Text
    stars: Annotated[int, msgspec.Meta(ge=3, le=5)]
    price_vnd: Annotated[int, msgspec.Meta(gt=0)]


class Fair(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One fair day at one venue; ``start``/``end`` are RFC 3339 strings with an offset::

    fair = decode_fair(value)
    fair.place, fair.start
    """

    fair_id: Id
    title: Text
    place: Text
    province: Text
    start: str
    end: str


# omit_defaults: a session without a fair encodes exactly as before fairs existed, so the
# values already on the compacted topic and in Redis stay byte-identical.
class SessionInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Metadata of one live session; times are RFC 3339 strings with an offset::

    s = decode_session(value)
    s.province, s.fair_id, [p.product_id for p in s.products]
    """

    session_id: Id
    title: Text
    host: Text
    shop: Text
    province: Text
    scheduled_start: str
    scheduled_end: str
    products: Annotated[list[Product], msgspec.Meta(min_length=1)]
    fair_id: Id | None = None


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """All fairs and sessions of a campaign, in file order::

    catalog = load_catalog(SAMPLE_CATALOG)
    province = catalog.by_id()["cp-2023-bk-01"].province
    can_gio = catalog.for_fair("cg-2023-11-25")  # that fair and its sessions
    """

    sessions: list[SessionInfo]
    fairs: list[Fair] = msgspec.field(default_factory=list)

    def by_id(self) -> dict[str, SessionInfo]:
        """Map each session_id to its session."""
        return {s.session_id: s for s in self.sessions}

    def fairs_by_id(self) -> dict[str, Fair]:
        """Map each fair_id to its fair."""
        return {f.fair_id: f for f in self.fairs}

    def with_sessions(self, sessions: Sequence[SessionInfo]) -> Catalog:
        """A catalog of ``sessions`` and the fairs they name (in this catalog's order)."""
        named = {s.fair_id for s in sessions}
        return Catalog(list(sessions), [f for f in self.fairs if f.fair_id in named])

    def for_fair(self, fair_id: str) -> Catalog:
        """The catalog of one fair: that fair and its sessions, in file order.

        In a catalog without fairs, ``IMPLICIT_FAIR_ID`` names them all. Raises KeyError
        for a fair the catalog does not list.
        """
        if not self.fairs and fair_id == IMPLICIT_FAIR_ID:
            return self
        fair = self.fairs_by_id().get(fair_id)
        if fair is None:
            raise KeyError(f"the catalog lists no fair {fair_id!r}")
        return Catalog([s for s in self.sessions if s.fair_id == fair_id], [fair])


def hidden_character(value: str) -> str | None:
    """The first control, format or line/paragraph separator in ``value`` as ``U+XXXX (Cat)``.

    None when there is none. The event contract applies the same rule to its ids.
    """
    # isprintable() is one C call, false for every hidden category (and for a few allowed
    # ones: other spaces, private use, unassigned), so only its rare false answers need
    # the scan by category.
    if value.isprintable():
        return None
    for char in value:
        category = unicodedata.category(char)
        if category in _HIDDEN_CATEGORIES:
            return f"U+{ord(char):04X} ({category})"
    return None


def _parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset, or raise ValueError."""
    if not _RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 timestamp with offset: {value!r}")
    return datetime.fromisoformat(value)


def _from_validation(
    source: str, exc: msgspec.DecodeError, *, item: str = "session"
) -> CatalogError:
    """Turn msgspec's message and JSON path into a CatalogError naming item and field."""
    match = _WHERE.match(str(exc))
    what = match["what"] if match else str(exc)
    path = (match["path"] if match else None) or ""
    index: int | None = None
    field = path.lstrip(".")
    item_match = _ITEM_PATH.match(path)
    if item_match:
        index = int(item_match["index"])
        field = item_match["field"]
        item = "fair" if item_match["items"] == "fairs" else "session"
    # A missing or unknown key is reported at its parent object; name the key itself.
    named = _NAMED_FIELD.search(what)
    if named and ("missing" in what or "unknown" in what):
        field = f"{field}.{named['name']}" if field else named["name"]
    return CatalogError(source, index, field or None, what, item=item)


def _check_shown(
    source: str, index: int | None, shown: list[tuple[str, str]], *, item: str
) -> None:
    """Refuse text that hides characters on a screen (see ``hidden_character``)."""
    for name, text in shown:
        hidden = hidden_character(text)
        if hidden is not None:
            problem = f"{text!r} contains the invisible or control character {hidden}"
            raise CatalogError(source, index, name, problem, item=item)


def _check_province(source: str, index: int | None, province: str, *, item: str) -> None:
    """Refuse a province that names no provincial unit (old or new) or several."""
    try:
        province_now(province)
    except ProvinceError as exc:
        raise CatalogError(source, index, "province", str(exc), item=item) from None


def _check_schedule(
    source: str, index: int | None, names: tuple[str, str], values: tuple[str, str],
    *, item: str,
) -> tuple[datetime, datetime]:
    """Parse a start and an end field; the end must come after the start."""
    times: list[datetime] = []
    for name, value in zip(names, values, strict=True):
        try:
            times.append(_parse_rfc3339(value))
        except ValueError as exc:
            raise CatalogError(source, index, name, str(exc), item=item) from None
    start, end = times
    if end <= start:
        raise CatalogError(source, index, names[1], f"must be after {names[0]}", item=item)
    return start, end


def _check_fair(source: str, index: int | None, fair: Fair) -> tuple[datetime, datetime]:
    """Check what the schema cannot express: shown text, province, times; return them."""
    _check_shown(source, index, [(name, getattr(fair, name)) for name in _FAIR_TEXT_FIELDS],
                 item="fair")
    _check_province(source, index, fair.province, item="fair")
    return _check_schedule(source, index, ("start", "end"), (fair.start, fair.end),
                           item="fair")


def _check_session(
    source: str, index: int | None, session: SessionInfo
) -> tuple[datetime, datetime]:
    """Check what the schema cannot express: shown text, province, timestamps, unique
    products; return the schedule."""
    shown = [(name, getattr(session, name)) for name in _TEXT_FIELDS]
    shown += [(f"products[{pos}].name", p.name) for pos, p in enumerate(session.products)]
    _check_shown(source, index, shown, item="session")
    _check_province(source, index, session.province, item="session")
    schedule = _check_schedule(source, index, ("scheduled_start", "scheduled_end"),
                               (session.scheduled_start, session.scheduled_end),
                               item="session")
    seen: set[str] = set()
    for pos, product in enumerate(session.products):
        if product.product_id in seen:
            problem = f"duplicate product_id {product.product_id!r}"
            raise CatalogError(source, index, f"products[{pos}].product_id", problem)
        seen.add(product.product_id)
    return schedule


def _check_fairs(source: str, fairs: list[Fair]) -> dict[str, tuple[Fair, datetime, datetime]]:
    """Check every fair and unique fair ids; map each id to its fair and its day."""
    days: dict[str, tuple[Fair, datetime, datetime]] = {}
    first_seen: dict[str, int] = {}
    for index, fair in enumerate(fairs):
        start, end = _check_fair(source, index, fair)
        if fair.fair_id in first_seen:
            problem = (f"duplicate fair_id {fair.fair_id!r} "
                       f"(first at fair #{first_seen[fair.fair_id]})")
            raise CatalogError(source, index, "fair_id", problem, item="fair")
        first_seen[fair.fair_id] = index
        days[fair.fair_id] = (fair, start, end)
    return days


def _check_membership(
    source: str, index: int, session: SessionInfo, schedule: tuple[datetime, datetime],
    days: dict[str, tuple[Fair, datetime, datetime]],
) -> None:
    """With fairs, a session names one of them and overlaps its day; without, none."""
    if not days:
        if session.fair_id is not None:
            problem = f"names fair {session.fair_id!r}, but the catalog lists no fairs"
            raise CatalogError(source, index, "fair_id", problem)
        return
    if session.fair_id is None:
        raise CatalogError(source, index, "fair_id",
                           "missing: the catalog lists fairs, so every session names one")
    day = days.get(session.fair_id)
    if day is None:
        raise CatalogError(source, index, "fair_id", f"unknown fair {session.fair_id!r}")
    fair, start, end = day
    if not (schedule[0] < end and start < schedule[1]):
        problem = (f"scheduled {session.scheduled_start} to {session.scheduled_end}, which "
                   f"does not overlap fair {fair.fair_id!r} ({fair.start} to {fair.end})")
        raise CatalogError(source, index, "fair_id", problem)


def _check_catalog(source: str, catalog: Catalog) -> None:
    """Check every fair and session, unique ids, each session's fair and consistent
    shared products."""
    days = _check_fairs(source, catalog.fairs)
    first_seen: dict[str, int] = {}
    products: dict[str, Product] = {}
    for index, session in enumerate(catalog.sessions):
        schedule = _check_session(source, index, session)
        _check_membership(source, index, session, schedule, days)
        if session.session_id in first_seen:
            problem = (
                f"duplicate session_id {session.session_id!r} "
                f"(first at session #{first_seen[session.session_id]})"
            )
            raise CatalogError(source, index, "session_id", problem)
        first_seen[session.session_id] = index
        # A shop running two sessions shares product ids; product leaderboards sum over
        # sessions by id, so a shared id must mean the same product at the same price.
        for pos, product in enumerate(session.products):
            known = products.setdefault(product.product_id, product)
            if known != product:
                problem = f"product {product.product_id!r} differs from an earlier session's"
                raise CatalogError(source, index, f"products[{pos}]", problem)


def load_catalog(path: Path) -> Catalog:
    """Load and strictly validate a catalog JSON file."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(source, None, None, f"cannot read: {exc.strerror}") from exc
    try:
        catalog = msgspec.json.decode(raw, type=Catalog, strict=True)
    except msgspec.DecodeError as exc:
        raise _from_validation(source, exc) from None
    _check_catalog(source, catalog)
    return catalog


def encode_session(session: SessionInfo) -> bytes:
    """Encode a session as the JSON value of the compacted sessions topic."""
    return msgspec.json.encode(session)


def decode_session(value: bytes) -> SessionInfo:
    """Strictly decode one sessions-topic value, raising CatalogError when it is bad."""
    source = "session value"
    try:
        session = msgspec.json.decode(value, type=SessionInfo, strict=True)
    except msgspec.DecodeError as exc:
        error = _from_validation(source, exc)
        raise CatalogError(source, None, error.field, error.problem) from None
    _check_session(source, None, session)
    return session


def encode_fair(fair: Fair) -> bytes:
    """Encode a fair as its JSON value on the catalog topic (key ``fair_key(fair_id)``)."""
    return msgspec.json.encode(fair)


def decode_fair(value: bytes) -> Fair:
    """Strictly decode one fair value of the catalog topic, raising CatalogError when bad."""
    source = "fair value"
    try:
        fair = msgspec.json.decode(value, type=Fair, strict=True)
    except msgspec.DecodeError as exc:
        error = _from_validation(source, exc, item="fair")
        raise CatalogError(source, None, error.field, error.problem, item="fair") from None
    _check_fair(source, None, fair)
    return fair


def fair_key(fair_id: str) -> str:
    """The catalog-topic key of a fair: ``fair:<fair_id>``."""
    return FAIR_KEY_PREFIX + fair_id


def fair_id_of_key(key: str) -> str | None:
    """The fair id a catalog-topic key names; None for a session's key."""
    return key[len(FAIR_KEY_PREFIX):] if key.startswith(FAIR_KEY_PREFIX) else None
