"""Catalog records → catalog changes (pure): what the store keeps, what is dead-lettered.

The catalog topic holds sessions (key = session id) and fairs (key = ``fair:<fair_id>``).
The live catalog agent and the rebuild both decode catalog records here, so a bad
record is judged the same way by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.catalog import CatalogError, decode_fair, decode_session, fair_id_of_key, fair_key
from counting.aggregate import Record
from counting.contract import Reason, Rejected
from counting.delta import DeadLetter


@dataclass(slots=True)
class CatalogChanges:
    """Session id → session JSON and fair id → fair JSON to store, or None to remove
    (a tombstone), each in the order of their last record."""

    sessions: dict[str, str | None] = field(default_factory=dict)
    fairs: dict[str, str | None] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def _set(changes: dict[str, str | None], key: str, value: str | None) -> None:
    """Record the latest change of ``key``, moved to the end (its order is the last one)."""
    changes.pop(key, None)
    changes[key] = value


def _reject(out: CatalogChanges, record: Record, value: bytes, reason: Reason,
            detail: str) -> None:
    out.dead_letters.append(DeadLetter(
        record.topic, record.partition, record.offset, record.key,
        Rejected(value, reason, detail),
    ))


def _fair_record(out: CatalogChanges, record: Record, fair_id: str) -> None:
    if record.value is None:
        _set(out.fairs, fair_id, None)
        return
    try:
        fair = decode_fair(record.value)
    except CatalogError as exc:
        _reject(out, record, record.value, Reason.INVALID_FIELD, str(exc))
        return
    # A fair stored under another id than its key names could never be removed by that
    # key's tombstone, and compaction would keep both records.
    if fair.fair_id != fair_id:
        _reject(out, record, record.value, Reason.KEY_MISMATCH,
                f"key {fair_key(fair_id)!r} but the value is fair {fair.fair_id!r}")
        return
    _set(out.fairs, fair.fair_id, record.value.decode())


def _session_record(out: CatalogChanges, record: Record, key: str) -> None:
    if record.value is None:
        # A tombstone's session is its key: there is no value to read it from.
        _set(out.sessions, key, None)
        return
    try:
        session = decode_session(record.value)
    except CatalogError as exc:
        _reject(out, record, record.value, Reason.INVALID_FIELD, str(exc))
        return
    _set(out.sessions, session.session_id, record.value.decode())


def catalog_changes(records: Sequence[Record]) -> CatalogChanges:
    """Decode catalog records: the last value per session and per fair wins, bad values
    dead-letter."""
    out = CatalogChanges()
    for record in records:
        key = record.key.decode("utf-8", "replace") if record.key else ""
        fair_id = fair_id_of_key(key)
        if fair_id is None:
            _session_record(out, record, key)
        else:
            _fair_record(out, record, fair_id)
    return out
