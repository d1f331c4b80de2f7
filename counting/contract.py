"""The input data contract: strict decoding of view and order messages.

A message value is one event object or a JSON array of events of one session (an
envelope). Each element is decoded on its own, so one bad event in an envelope is
dead-lettered alone and the valid ones around it still count.

The wire structs below are the contract itself: the decoders are built from them and the
published JSON Schemas (``counting/schema.py``, ``docs/contract/``) are generated from
them, so the two cannot drift apart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec

from common.catalog import hidden_character

# Identifiers are short printable strings: no control, format or separator characters
# (checked in each wire type's __post_init__, see _check_ids), no absurd lengths.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# 1 ms after 2000-01-01 up to 2100-01-01: anything else is a unit mistake (s vs ms, µs).
_MIN_MS, _END_MS = 946_684_800_000, 4_102_444_800_000
_EpochMs = Annotated[int, msgspec.Meta(ge=_MIN_MS, lt=_END_MS)]
_Ts = Annotated[str, msgspec.Meta(max_length=40)] | _EpochMs

MAX_QUANTITY = 100_000
MAX_AMOUNT_VND = 10_000_000_000  # 10 tỷ ₫ for one order is already absurd at a fair
# No room holds a billion viewers: a larger count is a unit or encoding mistake.
MAX_VIEWERS = 1_000_000_000


class Reason(enum.StrEnum):
    """Dead-letter reason codes: stable strings a person can search for."""

    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    BAD_ENVELOPE = "bad_envelope"
    INVALID_FIELD = "invalid_field"
    BAD_TIMESTAMP = "bad_timestamp"
    KEY_MISMATCH = "key_mismatch"
    WRONG_PARTITION = "wrong_partition"
    FUTURE_EVENT = "future_event"
    TOO_LATE = "too_late"
    ORDER_HORIZON = "order_horizon"
    HANDLER_ERROR = "handler_error"


class Status(enum.IntEnum):
    """Order statuses, ranked: a higher rank supersedes a lower one."""

    PLACED = 0
    PAID = 1
    CANCELLED = 2
    REFUNDED = 3

    @property
    def precedence(self) -> int:
        """Cancelled and refunded are both terminal and equal in precedence."""
        return min(int(self), 2)


def _check_ids(names: tuple[str, ...], values: tuple[str, ...]) -> None:
    # A plain ASCII id is the common case and two C calls prove it clean; anything else
    # (Vietnamese with diacritics, or a look-alike) goes through the category check.
    for name, value in zip(names, values, strict=True):
        if value.isascii() and value.isprintable():
            continue
        hidden = hidden_character(value)
        if hidden is not None:
            raise ValueError(f"Expected `str` without control, format or separator "
                             f"characters, got {value!r} with {hidden} - at `$.{name}`")


_VIEW_IDS = ("event_id", "session_id", "viewer_id")
_COUNT_IDS = ("event_id", "session_id")
_ORDER_IDS = ("event_id", "order_id", "session_id", "product_id")


# A views-topic event is told apart by its "kind" (a msgspec tagged union), so each kind
# has exactly its own required fields, in the decoder and in the schema alike.
class _WireViewBase(msgspec.Struct, frozen=True, gc=False, tag_field="kind"):
    event_id: _Id
    session_id: _Id
    viewer_id: _Id
    ts: _Ts

    def __post_init__(self) -> None:
        _check_ids(_VIEW_IDS, (self.event_id, self.session_id, self.viewer_id))


class _WireJoin(_WireViewBase, frozen=True, gc=False, tag="join"):
    """A viewer entered the session's room: counts a view and a unique viewer."""


class _WireLeave(_WireViewBase, frozen=True, gc=False, tag="leave"):
    """A viewer left the room (optional: platforms rarely report leaves)."""


class _WireViewers(msgspec.Struct, frozen=True, gc=False, tag_field="kind", tag="viewers"):
    """The platform's own count of viewers in the room at ``ts``."""

    event_id: _Id
    session_id: _Id
    viewers: Annotated[int, msgspec.Meta(ge=0, le=MAX_VIEWERS)]
    ts: _Ts

    def __post_init__(self) -> None:
        _check_ids(_COUNT_IDS, (self.event_id, self.session_id))


_WireView = _WireJoin | _WireLeave | _WireViewers


class _WireOrder(msgspec.Struct, frozen=True, gc=False):
    """A change of an order's status."""

    event_id: _Id
    order_id: _Id
    session_id: _Id
    product_id: _Id
    quantity: Annotated[int, msgspec.Meta(gt=0, le=MAX_QUANTITY)]
    amount_vnd: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_VND)]
    status: Literal["placed", "paid", "cancelled", "refunded"]
    ts: _Ts

    def __post_init__(self) -> None:
        _check_ids(_ORDER_IDS, (self.event_id, self.order_id, self.session_id, self.product_id))


# Events are msgspec structs rather than dataclasses: one is built per event, and a
# frozen dataclass costs several times more to construct.
class ViewEvent(msgspec.Struct, frozen=True, gc=False):
    """A decoded viewer action."""

    event_id: str
    session_id: str
    viewer_id: str
    join: bool
    ts_ms: int


class ViewerCount(msgspec.Struct, frozen=True, gc=False):
    """A decoded platform count of the viewers in a session's room."""

    event_id: str
    session_id: str
    viewers: int
    ts_ms: int


class OrderEvent(msgspec.Struct, frozen=True, gc=False):
    """A decoded order status change."""

    event_id: str
    order_id: str
    session_id: str
    product_id: str
    quantity: int
    amount_vnd: int
    status: Status
    ts_ms: int


Event = ViewEvent | ViewerCount | OrderEvent

# The wire types, by the name the published schemas give them (counting/schema.py).
WIRE_EVENTS: dict[str, type[msgspec.Struct]] = {
    "view-join": _WireJoin, "view-leave": _WireLeave, "view-viewers": _WireViewers,
    "order": _WireOrder,
}
# What one message value of each topic holds: one event (its kind picks the struct).
WIRE_EVENT: dict[str, Any] = {"views": _WireView, "orders": _WireOrder}


def envelope(event: Any) -> Any:
    """The envelope type of an event type: a non-empty JSON array of such events."""
    return Annotated[list[event], msgspec.Meta(min_length=1)]


@dataclass(frozen=True, slots=True)
class Rejected:
    """One record that cannot count: its original bytes, why, and its envelope position."""

    raw: bytes
    reason: Reason
    detail: str
    index: int = 0


@dataclass(slots=True)
class Decoded:
    """What one Kafka message turned into: valid events and rejects.

    ``indexes[i]`` is the envelope position of ``events[i]``; ``element(index)`` gives an
    element's own bytes (split on demand: only a dead letter needs them).
    """

    value: bytes
    events: list[Event] = field(default_factory=list)
    indexes: list[int] | range = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    elements: list[bytes] | None = None

    def element(self, index: int) -> bytes:
        """The bytes of the envelope element at ``index`` (the whole value if not an array)."""
        if self.elements is None:
            self.elements = _split(self.value)
        return self.elements[index]


class TimestampError(ValueError):
    """A ``ts`` field that is neither RFC 3339 with an offset nor epoch milliseconds."""


def parse_ts(value: str | int) -> int:
    """Return epoch milliseconds for an RFC 3339 string (with offset) or epoch-ms int."""
    if isinstance(value, int):
        return value
    fast = _parse_common(value)
    return fast if fast is not None else _parse_any(value)


def _parse_common(value: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` then ``Z`` or ``±HH:MM``: what live feeds send.

    The hour's start is parsed once and cached; minutes, seconds and milliseconds are
    added as integers. Anything else (or anything odd) returns None for the full parser.
    """
    if len(value) not in (24, 29) or not value.isascii() or value[19] != ".":
        return None
    digits = value[14:16] + value[17:19] + value[20:23]
    if not digits.isdigit() or value[13] != ":" or value[16] != ":":
        return None
    minute, second = int(value[14:16]), int(value[17:19])
    if minute > 59 or second > 59:
        return None
    hour_ms = _hour_start_ms(value[:13], value[23:])
    if hour_ms is None:
        return None
    ms = hour_ms + minute * 60_000 + second * 1000 + int(value[20:23])
    return ms if _MIN_MS <= ms < _END_MS else None


@lru_cache(maxsize=1024)
def _hour_start_ms(hour: str, offset: str) -> int | None:
    try:
        return _parse_any(f"{hour}:00:00{offset}")
    except TimestampError:
        return None


def _parse_any(value: str) -> int:
    if "T" not in value and " " not in value:
        raise TimestampError(f"ts={value!r} has no time part (RFC 3339 expected)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError(f"ts={value!r} is not RFC 3339") from exc
    if parsed.tzinfo is None:
        raise TimestampError(f"ts={value!r} has no UTC offset")
    ms = int(parsed.timestamp() * 1000)
    if not _MIN_MS <= ms < _END_MS:
        raise TimestampError(f"ts={value!r} is outside 2000..2100")
    return ms


_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_envelope_decoder = msgspec.json.Decoder(list[msgspec.Raw] | dict[str, msgspec.Raw])


def _split(value: bytes) -> list[bytes]:
    outer = _envelope_decoder.decode(value)
    return [value] if isinstance(outer, dict) else [bytes(element) for element in outer]


def _view(wire: _WireJoin | _WireLeave | _WireViewers) -> ViewEvent | ViewerCount:
    if isinstance(wire, _WireViewers):
        return ViewerCount(wire.event_id, wire.session_id, wire.viewers, parse_ts(wire.ts))
    return ViewEvent(wire.event_id, wire.session_id, wire.viewer_id, isinstance(wire, _WireJoin),
                     parse_ts(wire.ts))


_STATUS = {status.name.lower(): status for status in Status}


def _order(wire: _WireOrder) -> OrderEvent:
    return OrderEvent(wire.event_id, wire.order_id, wire.session_id, wire.product_id,
                      wire.quantity, wire.amount_vnd, _STATUS[wire.status], parse_ts(wire.ts))


class MessageDecoder:
    """Decodes the values of one input topic.

    A whole envelope is first decoded in one call; only when that fails (a bad element,
    a bad timestamp, another session's event) is it decoded element by element, so each
    bad element is rejected alone with its own reason.

    Usage::

        decoder = MessageDecoder(kind="views", max_bytes=1_048_576)
        decoded = decoder.decode(value=b'{"event_id": ...}', key=b"cp-01")
    """

    def __init__(self, *, kind: Literal["views", "orders"], max_bytes: int = 1_048_576) -> None:
        self.kind = kind
        self.max_bytes = max_bytes
        wire = WIRE_EVENT[kind]
        self._one = msgspec.json.Decoder(wire)
        self._many = msgspec.json.Decoder(envelope(wire))
        self._convert = _view if kind == "views" else _order

    def decode(self, *, value: bytes | None, key: bytes | None) -> Decoded:
        """Decode one message value; never raises on bad input."""
        raw = value or b""
        if len(raw) > self.max_bytes:
            return _reject(raw, Reason.TOO_LARGE, f"{len(raw)} bytes > limit {self.max_bytes}")
        session = key.decode("utf-8", "replace") if key is not None else None
        try:
            wires = [self._one.decode(raw)] if raw[:1] == b"{" else self._many.decode(raw)
            events = [self._convert(wire) for wire in wires]
        except (TimestampError, *_DECODE_ERRORS):
            # An empty envelope lands here too: the envelope type wants one element.
            return self._one_by_one(raw, session)
        expected = events[0].session_id if session is None else session
        for event in events:
            if event.session_id != expected:
                return self._one_by_one(raw, session)
        return Decoded(raw, events, range(len(events)))

    def _one_by_one(self, raw: bytes, session: str | None) -> Decoded:
        try:
            elements = _split(raw)
        except _DECODE_ERRORS as exc:
            # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string and
            # RecursionError for absurdly deep nesting: both are bad JSON to us.
            return _reject(raw, Reason.BAD_JSON, f"{type(exc).__name__}: {exc}")
        if not elements:
            return _reject(raw, Reason.BAD_ENVELOPE, "empty array")
        decoded = Decoded(raw, elements=elements)
        indexes: list[int] = []
        for index, element in enumerate(elements):
            try:
                event = self._convert(self._one.decode(element))
            except msgspec.ValidationError as exc:
                decoded.rejected.append(_invalid(element, exc, index))
                continue
            except _DECODE_ERRORS as exc:
                decoded.rejected.append(Rejected(element, Reason.BAD_JSON, str(exc), index))
                continue
            except TimestampError as exc:
                decoded.rejected.append(Rejected(element, Reason.BAD_TIMESTAMP, str(exc), index))
                continue
            if session is None:
                session = event.session_id
            if event.session_id != session:
                detail = f"session_id={event.session_id!r} but message is for {session!r}"
                decoded.rejected.append(Rejected(element, Reason.KEY_MISMATCH, detail, index))
                continue
            decoded.events.append(event)
            indexes.append(index)
        decoded.indexes = indexes
        return decoded


def _invalid(element: bytes, exc: msgspec.ValidationError, index: int) -> Rejected:
    # Looking for the "kind" tag, msgspec skips the other strings without reading them,
    # so a views object without a kind can fail validation before its bad UTF-8 is seen.
    try:
        element.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejected(element, Reason.BAD_JSON, f"{type(bad).__name__}: {bad}", index)
    return Rejected(element, Reason.INVALID_FIELD, str(exc), index)


def _reject(raw: bytes, reason: Reason, detail: str) -> Decoded:
    return Decoded(raw, rejected=[Rejected(raw, reason, detail)])
