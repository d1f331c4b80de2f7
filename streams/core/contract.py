"""The input data contract: strict decoding of view and order messages.

A message value is one event object or a JSON array of events of one session (an
envelope). Each element is decoded on its own, so one bad event in an envelope is
dead-lettered alone and the valid ones around it still count.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import msgspec

# Identifiers are short printable strings: no control characters, no absurd lengths.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
# 1 ms after 2000-01-01 up to 2100-01-01: anything else is a unit mistake (s vs ms, µs).
_EpochMs = Annotated[int, msgspec.Meta(ge=946_684_800_000, lt=4_102_444_800_000)]
_Ts = Annotated[str, msgspec.Meta(max_length=40)] | _EpochMs

MAX_QUANTITY = 100_000
MAX_AMOUNT_VND = 10_000_000_000  # 10 tỷ ₫ for one order is already absurd at a fair


class Reason(enum.StrEnum):
    """Dead-letter reason codes: stable strings a person can search for."""

    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    BAD_ENVELOPE = "bad_envelope"
    INVALID_FIELD = "invalid_field"
    BAD_TIMESTAMP = "bad_timestamp"
    KEY_MISMATCH = "key_mismatch"
    FUTURE_EVENT = "future_event"
    TOO_LATE = "too_late"
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


class _WireView(msgspec.Struct, frozen=True):
    event_id: _Id
    session_id: _Id
    viewer_id: _Id
    kind: Literal["join", "leave"]
    ts: _Ts


class _WireOrder(msgspec.Struct, frozen=True):
    event_id: _Id
    order_id: _Id
    session_id: _Id
    product_id: _Id
    quantity: Annotated[int, msgspec.Meta(gt=0, le=MAX_QUANTITY)]
    amount_vnd: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_VND)]
    status: Literal["placed", "paid", "cancelled", "refunded"]
    ts: _Ts


@dataclass(frozen=True, slots=True)
class ViewEvent:
    """A decoded viewer action."""

    event_id: str
    session_id: str
    viewer_id: str
    join: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A decoded order status change."""

    event_id: str
    order_id: str
    session_id: str
    product_id: str
    quantity: int
    amount_vnd: int
    status: Status
    ts_ms: int


Event = ViewEvent | OrderEvent


@dataclass(frozen=True, slots=True)
class Rejected:
    """One record that cannot count: its original bytes, why, and its envelope position."""

    raw: bytes
    reason: Reason
    detail: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A valid event with its own bytes and its position in the envelope."""

    event: Event
    raw: bytes
    index: int


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one Kafka message turned into: events with their own bytes, and rejects."""

    events: list[DecodedEvent]
    rejected: list[Rejected]


class TimestampError(ValueError):
    """A ``ts`` field that is neither RFC 3339 with an offset nor epoch milliseconds."""


def parse_ts(value: str | int) -> int:
    """Return epoch milliseconds for an RFC 3339 string (with offset) or epoch-ms int."""
    if isinstance(value, int):
        return value
    if "T" not in value and " " not in value:
        raise TimestampError(f"ts={value!r} has no time part (RFC 3339 expected)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError(f"ts={value!r} is not RFC 3339") from exc
    if parsed.tzinfo is None:
        raise TimestampError(f"ts={value!r} has no UTC offset")
    ms = int(parsed.timestamp() * 1000)
    if not 946_684_800_000 <= ms < 4_102_444_800_000:
        raise TimestampError(f"ts={value!r} is outside 2000..2100")
    return ms


_view_decoder = msgspec.json.Decoder(_WireView)
_order_decoder = msgspec.json.Decoder(_WireOrder)
_envelope_decoder = msgspec.json.Decoder(list[msgspec.Raw] | dict[str, msgspec.Raw])


def _view(wire: _WireView) -> ViewEvent:
    return ViewEvent(
        event_id=wire.event_id,
        session_id=wire.session_id,
        viewer_id=wire.viewer_id,
        join=wire.kind == "join",
        ts_ms=parse_ts(wire.ts),
    )


def _order(wire: _WireOrder) -> OrderEvent:
    return OrderEvent(
        event_id=wire.event_id,
        order_id=wire.order_id,
        session_id=wire.session_id,
        product_id=wire.product_id,
        quantity=wire.quantity,
        amount_vnd=wire.amount_vnd,
        status=Status[wire.status.upper()],
        ts_ms=parse_ts(wire.ts),
    )


class MessageDecoder:
    """Decodes the values of one input topic.

    Usage::

        decoder = MessageDecoder(kind="views", max_bytes=1_048_576)
        decoded = decoder.decode(value=b'{"event_id": ...}', key=b"cp-01")
    """

    def __init__(self, *, kind: Literal["views", "orders"], max_bytes: int = 1_048_576) -> None:
        self.kind = kind
        self.max_bytes = max_bytes

    def decode(self, *, value: bytes | None, key: bytes | None) -> Decoded:
        """Decode one message value; never raises on bad input."""
        raw = value or b""
        if len(raw) > self.max_bytes:
            return _reject(raw, Reason.TOO_LARGE, f"{len(raw)} bytes > limit {self.max_bytes}")
        if raw[:1] == b"{":
            # One event per message is the common case: decode it once, straight into its
            # type, instead of first as an envelope.
            return self._decode_elements([raw], key)
        try:
            outer = _envelope_decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a string and
            # RecursionError for absurdly deep nesting: both are bad JSON to us.
            return _reject(raw, Reason.BAD_JSON, f"{type(exc).__name__}: {exc}")
        if isinstance(outer, dict):
            return self._decode_elements([raw], key)
        if not outer:
            return _reject(raw, Reason.BAD_ENVELOPE, "empty array")
        return self._decode_elements([bytes(element) for element in outer], key)

    def _decode_elements(self, elements: list[bytes], key: bytes | None) -> Decoded:
        events: list[DecodedEvent] = []
        rejected: list[Rejected] = []
        expected_session = key.decode("utf-8", "replace") if key is not None else None
        for index, element in enumerate(elements):
            try:
                event = self._decode_one(element)
            except msgspec.ValidationError as exc:
                rejected.append(Rejected(element, Reason.INVALID_FIELD, str(exc), index))
                continue
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                rejected.append(Rejected(element, Reason.BAD_JSON, str(exc), index))
                continue
            except TimestampError as exc:
                rejected.append(Rejected(element, Reason.BAD_TIMESTAMP, str(exc), index))
                continue
            if expected_session is None:
                expected_session = event.session_id
            if event.session_id != expected_session:
                detail = (f"session_id={event.session_id!r} but message is for "
                          f"{expected_session!r}")
                rejected.append(Rejected(element, Reason.KEY_MISMATCH, detail, index))
                continue
            events.append(DecodedEvent(event, element, index))
        return Decoded(events, rejected)

    def _decode_one(self, element: bytes) -> Event:
        if self.kind == "views":
            return _view(_view_decoder.decode(element))
        return _order(_order_decoder.decode(element))


def _reject(raw: bytes, reason: Reason, detail: str) -> Decoded:
    return Decoded([], [Rejected(raw, reason, detail)])
