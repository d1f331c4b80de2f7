"""Catalog records → catalog changes (pure): what the store keeps, what is dead-lettered.

The live catalog agent and the rebuild both decode catalog records here, so a bad
record is judged the same way by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.catalog import CatalogError, decode_session
from counting.aggregate import Record
from counting.contract import Reason, Rejected
from counting.delta import DeadLetter


@dataclass(slots=True)
class CatalogChanges:
    """Session id → catalog JSON to store, or None to remove (a tombstone), in order."""

    sessions: dict[str, str | None] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def catalog_changes(records: Sequence[Record]) -> CatalogChanges:
    """Decode catalog records: the last value per session wins, bad values dead-letter."""
    out = CatalogChanges()
    for record in records:
        if record.value is None:
            # A tombstone's session is its key: there is no value to read it from.
            sid = record.key.decode("utf-8", "replace") if record.key else ""
            out.sessions.pop(sid, None)
            out.sessions[sid] = None
            continue
        try:
            session = decode_session(record.value)
        except CatalogError as exc:
            out.dead_letters.append(DeadLetter(
                record.topic, record.partition, record.offset, record.key,
                Rejected(record.value, Reason.INVALID_FIELD, str(exc)),
            ))
            continue
        out.sessions.pop(session.session_id, None)
        out.sessions[session.session_id] = record.value.decode()
    return out
