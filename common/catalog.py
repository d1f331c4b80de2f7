"""Session catalog: which live sessions a fair has, who hosts them and what they sell.

The catalog is loaded from a JSON file (``{"sessions": [...]}``) and each session is also
published, one value per session, on the compacted ``ocop.sessions`` topic (key =
``session_id``). Decoding is strict either way: a bad catalog must fail loudly at startup,
naming the file, the session and the field, instead of mislabelling a live board.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec

# Ids end up inside Redis keys and URLs, so they are restricted to a safe slug alphabet.
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, msgspec.Meta(pattern=_ID_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]

# RFC 3339 demands an explicit offset; ``datetime.fromisoformat`` alone would accept a
# naive local time, which is ambiguous for a fair that spans several time zones of viewers.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
# msgspec reports where a value failed as "... - at `$.sessions[3].products[0].stars`".
_WHERE = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_SESSION_PATH = re.compile(r"^\.sessions\[(?P<index>\d+)\]\.?(?P<field>.*)$")
_NAMED_FIELD = re.compile(r"field `(?P<name>[^`]+)`")

SAMPLE_CATALOG = Path(__file__).with_name("data") / "catalog.json"

# Characters that show as nothing or rearrange the text around them on a screen: controls
# (Cc: C0, DEL, C1 with NEL), format characters (Cf: bidi overrides, zero-width spaces and
# joiners, the BOM, soft hyphen) and the line and paragraph separators (Zl, Zp). With them
# two different ids look alike, or a name shows what it does not say. Letters with
# diacritics (Vietnamese) are none of these.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_TEXT_FIELDS = ("title", "host", "shop", "province")


class CatalogError(ValueError):
    """A catalog file or session value that does not match the catalog schema.

    ``source`` names the file (or "session value"), ``index`` the session's position and
    ``field`` the offending field, e.g. ``products[2].stars``::

        try:
            load_catalog(path)
        except CatalogError as exc:
            sys.exit(str(exc))
    """

    def __init__(self, source: str, index: int | None, field: str | None, problem: str) -> None:
        self.source = source
        self.index = index
        self.field = field
        self.problem = problem
        where = [source]
        if index is not None:
            where.append(f"session #{index}")
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


class SessionInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Metadata of one live session; times are RFC 3339 strings with an offset::

    s = decode_session(value)
    s.province, [p.product_id for p in s.products]
    """

    session_id: Id
    title: Text
    host: Text
    shop: Text
    province: Text
    scheduled_start: str
    scheduled_end: str
    products: Annotated[list[Product], msgspec.Meta(min_length=1)]


class Catalog(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """All sessions of a fair, in file order::

    catalog = load_catalog(SAMPLE_CATALOG)
    province = catalog.by_id()["cp-2023-bk-01"].province
    """

    sessions: list[SessionInfo]

    def by_id(self) -> dict[str, SessionInfo]:
        """Map each session_id to its session."""
        return {s.session_id: s for s in self.sessions}


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


def _from_validation(source: str, exc: msgspec.DecodeError) -> CatalogError:
    """Turn msgspec's message and JSON path into a CatalogError naming session and field."""
    match = _WHERE.match(str(exc))
    what = match["what"] if match else str(exc)
    path = (match["path"] if match else None) or ""
    index: int | None = None
    field = path.lstrip(".")
    session_match = _SESSION_PATH.match(path)
    if session_match:
        index = int(session_match["index"])
        field = session_match["field"]
    # A missing or unknown key is reported at its parent object; name the key itself.
    named = _NAMED_FIELD.search(what)
    if named and ("missing" in what or "unknown" in what):
        field = f"{field}.{named['name']}" if field else named["name"]
    return CatalogError(source, index, field or None, what)


def _check_session(source: str, index: int | None, session: SessionInfo) -> None:
    """Check what the schema cannot express: shown text, timestamps, unique products."""
    shown = [(name, getattr(session, name)) for name in _TEXT_FIELDS]
    shown += [(f"products[{pos}].name", p.name) for pos, p in enumerate(session.products)]
    for name, text in shown:
        hidden = hidden_character(text)
        if hidden is not None:
            problem = f"{text!r} contains the invisible or control character {hidden}"
            raise CatalogError(source, index, name, problem)
    times: dict[str, datetime] = {}
    for name in ("scheduled_start", "scheduled_end"):
        try:
            times[name] = _parse_rfc3339(getattr(session, name))
        except ValueError as exc:
            raise CatalogError(source, index, name, str(exc)) from None
    if times["scheduled_end"] <= times["scheduled_start"]:
        raise CatalogError(source, index, "scheduled_end", "must be after scheduled_start")
    seen: set[str] = set()
    for pos, product in enumerate(session.products):
        if product.product_id in seen:
            problem = f"duplicate product_id {product.product_id!r}"
            raise CatalogError(source, index, f"products[{pos}].product_id", problem)
        seen.add(product.product_id)


def _check_catalog(source: str, catalog: Catalog) -> None:
    """Check every session, unique session ids and consistent shared products."""
    first_seen: dict[str, int] = {}
    products: dict[str, Product] = {}
    for index, session in enumerate(catalog.sessions):
        _check_session(source, index, session)
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
