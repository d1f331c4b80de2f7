"""A request body into events: split it, decode each event strictly, group the valid ones.

Each element goes through the worker's own ``MessageDecoder`` (views when it has a
``kind``, orders otherwise), alone, so an event the gateway accepts is one the worker
counts, and a bad one is refused with the decoder's reason and field.

Usage::

    elements = split_body(body, ndjson=False)
    checked = check_events(elements, decoders)
    records = envelopes(checked.valid, views_topic="ocop.views", orders_topic="ocop.orders")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from counting.contract import MessageDecoder, Reason
from ingest.producer import Record

MAX_EVENTS = 500
MAX_BODY_BYTES = 1_048_576
# An envelope stays well under the broker's default record limit (about 1 MiB).
_ENVELOPE_BYTES = 256 * 1024
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_FIELD = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)")


class BadBody(ValueError):
    """A body that holds no events at all (not JSON, not an array, empty)."""


class _Kind(msgspec.Struct):
    kind: object = None


_probe = msgspec.json.Decoder(_Kind)


def split_body(body: bytes, *, ndjson: bool) -> list[bytes]:
    """The events' own bytes: the elements of a JSON array, or the non-blank lines."""
    if ndjson:
        elements = [line for line in (raw.strip() for raw in body.split(b"\n")) if line]
    else:
        try:
            elements = [bytes(e) for e in msgspec.json.decode(body, type=list[msgspec.Raw])]
        except _DECODE_ERRORS as exc:
            raise BadBody(f"body is not a JSON array of events: {exc}") from exc
    if not elements:
        raise BadBody("body holds no events")
    return elements


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the event at ``index`` of the body was refused."""

    index: int
    reason: Reason
    field: str | None
    detail: str

    def as_json(self) -> dict[str, object]:
        """The per-event error of the response."""
        return {"index": self.index, "field": self.field, "reason": self.reason.value,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Valid:
    """An event that decoded: where it goes and its bytes."""

    index: int
    topic_kind: str
    session_id: str
    raw: bytes


@dataclass(slots=True)
class Checked:
    """The body's events, split into valid and refused."""

    valid: list[Valid] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def decoders(max_bytes: int) -> dict[str, MessageDecoder]:
    """One strict decoder per input topic."""
    return {kind: MessageDecoder(kind=kind, max_bytes=max_bytes)
            for kind in ("views", "orders")}


def _topic_kind(element: bytes) -> str:
    try:
        probed = _probe.decode(element)
    except (msgspec.ValidationError, *_DECODE_ERRORS):
        return "views"
    return "orders" if probed.kind is None else "views"


def check_events(elements: list[bytes], by_kind: dict[str, MessageDecoder]) -> Checked:
    """Decode every element alone; a body none of whose elements is JSON is junk."""
    checked = Checked()
    for index, element in enumerate(elements):
        kind = _topic_kind(element)
        decoded = by_kind[kind].decode(value=element, key=None)
        if decoded.rejected:
            rejected = decoded.rejected[0]
            found = _FIELD.search(rejected.detail)
            name = "ts" if rejected.reason is Reason.BAD_TIMESTAMP else (
                found.group(1) if found else None)
            checked.problems.append(Problem(index, rejected.reason, name, rejected.detail))
            continue
        (event,) = decoded.events
        checked.valid.append(Valid(index, kind, event.session_id, element))
    if not checked.valid and all(p.reason is Reason.BAD_JSON for p in checked.problems):
        raise BadBody(f"no line of the body is a JSON event: {checked.problems[0].detail}")
    return checked


def envelopes(valid: list[Valid], *, views_topic: str, orders_topic: str) -> list[Record]:
    """The valid events as envelopes of one session and topic each, in body order."""
    groups: dict[tuple[str, str], list[list[bytes]]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for event in valid:
        group = (event.topic_kind, event.session_id)
        chunks = groups.setdefault(group, [[]])
        # Brackets and commas: an envelope of n elements adds n + 1 bytes.
        size = sizes.get(group, 1) + len(event.raw) + 1
        if chunks[-1] and size > _ENVELOPE_BYTES:
            chunks.append([])
            size = len(event.raw) + 2
        sizes[group] = size
        chunks[-1].append(event.raw)
    return [
        Record(views_topic if kind == "views" else orders_topic, session.encode("utf-8"),
               b"[" + b",".join(chunk) + b"]")
        for (kind, session), chunks in groups.items() for chunk in chunks
    ]
