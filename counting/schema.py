"""The published contract: JSON Schemas generated from the decoder's own wire types.

Pure text, no I/O: ``devtools/contract.py`` writes the files under ``docs/contract/`` and
``tests/counting/test_schema.py`` fails when the committed files differ from these.
What a schema cannot say (hidden characters in ids, the timestamp text, one session per
envelope) is listed in ``docs/contract/README.md``.

Usage::

    for name, text in schema_files().items():
        print(name, len(text))
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from counting.contract import WIRE_EVENT, WIRE_EVENTS, envelope

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The wire structs' names are private; the schemas call them by what they describe.
_TITLES = {
    "_WireJoin": "Join", "_WireLeave": "Leave", "_WireViewers": "ViewerCount",
    "_WireOrder": "OrderStatusChange",
}
_MESSAGES = {
    "views": "A views-topic message value: one join, leave or viewer-count event, or a "
             "non-empty JSON array of them (an envelope), all of one session.",
    "orders": "An orders-topic message value: one order status change, or a non-empty "
              "JSON array of them (an envelope), all of one session.",
}


def _renamed(node: Any) -> Any:
    """The schema with the private struct names replaced in titles, $defs and $refs."""
    if isinstance(node, dict):
        return {_TITLES.get(key, key): _renamed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(item) for item in node]
    if isinstance(node, str):
        if node in _TITLES:
            return _TITLES[node]
        head, _, name = node.rpartition("/")
        if head == "#/$defs" and name in _TITLES:
            return f"{head}/{_TITLES[name]}"
    return node


def _document(schema: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"$schema": DIALECT, **extra, **_renamed(schema)}


def schemas() -> dict[str, dict[str, Any]]:
    """Every published schema by file stem: one per event kind, one per topic's message."""
    out = {name: _document(msgspec.json.schema(wire), title=name)
           for name, wire in WIRE_EVENTS.items()}
    for topic, description in _MESSAGES.items():
        event = WIRE_EVENT[topic]
        schema = msgspec.json.schema(event | envelope(event))
        out[f"{topic}-message"] = _document(schema, title=f"{topic}-message",
                                            description=description)
    return out


def schema_files() -> dict[str, str]:
    """The files of ``docs/contract/`` by name: stable formatting, one newline at the end."""
    return {f"{name}.schema.json": json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
            for name, schema in schemas().items()}
