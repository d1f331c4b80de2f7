"""A seeded corpus of hostile input records, every one of which must be dead-lettered."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

HUGE = 100_000  # bytes: above the test's message limit


@dataclass(frozen=True, slots=True)
class Hostile:
    """One bad record: where it goes and what it is.

    ``partition`` None leaves the choice to the producer's partitioner (the key's own
    partition; a random one for a record without a key).
    """

    topic_kind: str  # "views" or "orders"
    key: bytes | None
    value: bytes
    kind: str
    partition: int | None = None


def _view(rng: random.Random, sid: str) -> dict[str, Any]:
    return {"event_id": f"bad-{rng.getrandbits(64):x}", "session_id": sid,
            "viewer_id": f"u{rng.randrange(1000)}", "kind": "join",
            "ts": "2026-11-27T10:00:00+07:00"}


def _order(rng: random.Random, sid: str) -> dict[str, Any]:
    return {"event_id": f"bad-{rng.getrandbits(64):x}", "order_id": f"o{rng.randrange(10**6)}",
            "session_id": sid, "product_id": "p1", "quantity": 1, "amount_vnd": 100_000,
            "status": "placed", "ts": 1_795_748_400_000}


def _mutations() -> dict[str, Callable[[random.Random, dict[str, Any]], Any]]:
    def set_field(name: str, value: Any) -> Callable[[random.Random, dict[str, Any]], Any]:
        return lambda rng, e: {**e, name: value}

    def drop(rng: random.Random, e: dict[str, Any]) -> Any:
        victim = rng.choice(sorted(e))
        return {k: v for k, v in e.items() if k != victim}

    return {
        "missing_key": drop,
        "id_wrong_type": set_field("event_id", 12345),
        "id_empty": set_field("event_id", ""),
        "id_huge": lambda rng, e: {**e, "event_id": "x" * rng.randrange(129, 5000)},
        "id_control_chars": set_field("event_id", "ev\x00\x1b[31m"),
        "session_newline": lambda rng, e: {**e, "session_id": e["session_id"] + "\n"},
        # Look-alike ids: they print like another id (or reorder the text around them).
        "id_bidi_override": set_field("event_id", "ev-\u202e10-ve"),
        "id_zero_width": lambda rng, e: {**e, "event_id": e["event_id"] + "\u200b"},
        "id_bom": lambda rng, e: {**e, "event_id": "\ufeff" + e["event_id"]},
        "id_line_separator": set_field("event_id", "ev\u2028ev"),
        "id_nel": set_field("event_id", "ev\u0085ev"),
        "session_zero_width_joiner": lambda rng, e: {
            **e, "session_id": e["session_id"] + "\u200d"},
        "ts_bool": set_field("ts", True),
        "ts_garbage": set_field("ts", "hôm qua lúc 10 giờ"),
        "ts_no_offset": set_field("ts", "2026-11-27T10:00:00"),
        "ts_bad_date": set_field("ts", "2026-13-45T25:61:00+07:00"),
        "ts_epoch_seconds": set_field("ts", 1_795_748_400),
        "ts_float": set_field("ts", 1_795_748_400_000.5),
        "ts_far_future": set_field("ts", "2099-12-31T23:59:59Z"),
        "ts_long_ago": set_field("ts", "2001-01-01T00:00:00Z"),
        "nested_object": set_field("event_id", {"$gt": ""}),
        "null_field": lambda rng, e: {**e, rng.choice(sorted(e)): None},
    }


def _view_only() -> dict[str, Callable[[random.Random, dict[str, Any]], Any]]:
    return {
        # Look-alike letters and digits (Cyrillic, full-width) must not pass for ASCII.
        "kind_unknown": lambda rng, e: {**e, "kind": rng.choice(["like", "JOIN", "j\u043ein"])},
        "viewer_list": lambda rng, e: {**e, "viewer_id": ["u1", "u2"]},
        "viewer_rtl_isolate": lambda rng, e: {**e, "viewer_id": "\u2067" + e["viewer_id"]},
    }


def _order_only() -> dict[str, Callable[[random.Random, dict[str, Any]], Any]]:
    return {
        "quantity_string": lambda rng, e: {**e, "quantity": "2"},
        "product_soft_hyphen": lambda rng, e: {**e, "product_id": "p\u00ad1"},
        "order_zero_width": lambda rng, e: {**e, "order_id": e["order_id"] + "\u200b"},
        "quantity_fullwidth": lambda rng, e: {**e, "quantity": "\uff12"},
        "quantity_zero": lambda rng, e: {**e, "quantity": 0},
        "quantity_absurd": lambda rng, e: {**e, "quantity": 10**9},
        "quantity_bool": lambda rng, e: {**e, "quantity": True},
        "amount_negative": lambda rng, e: {**e, "amount_vnd": -rng.randrange(1, 10**6)},
        "amount_absurd": lambda rng, e: {**e, "amount_vnd": 10**13},
        "amount_float": lambda rng, e: {**e, "amount_vnd": 99_000.5},
        "amount_huge_int": lambda rng, e: {**e, "amount_vnd": 10**40},
        "status_unknown": lambda rng, e: {
            **e, "status": rng.choice(["shipped", "PAID", "\u0440\u0430id", "", "placed "])},
    }


_RAW: list[tuple[str, Callable[[random.Random], bytes]]] = [
    ("truncated_json", lambda rng: b'{"event_id": "x", "session_id": '),
    ("not_json", lambda rng: rng.randbytes(rng.randrange(1, 200))),
    ("invalid_utf8", lambda rng: b'{"event_id": "\xff\xfe", "kind": "join"}'),
    ("top_level_string", lambda rng: b'"join"'),
    ("top_level_null", lambda rng: b"null"),
    ("empty_value", lambda rng: b""),
    ("empty_envelope", lambda rng: b"[]"),
    ("nested_arrays", lambda rng: b"[[{}]]"),
    ("oversized", lambda rng: b'{"event_id": "' + b"a" * HUGE + b'"}'),
    ("deep_nesting", lambda rng: b"[" * 5000 + b"]" * 5000),
]


def _home(key: bytes, partitions: int) -> int:
    # aiokafka's own partitioner, not the core's copy: the oracle stays independent.
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def hostile_records(sessions: list[str], n: int, seed: int, *, partitions: int,
                    now_ms: int) -> Iterator[Hostile]:
    """``n`` hostile records for ``sessions``, each one a single-record message.

    ``partitions`` is the input topics' partition count: misplaced records go to any
    partition but the one their key hashes to. They are stamped in the ten minutes before
    ``now_ms`` (the end of the good fair), so on their key's partition they would count:
    only the placement check keeps them out.
    """
    rng = random.Random(seed)
    views = {**_mutations(), **_view_only()}
    orders = {**_mutations(), **_order_only()}
    for _ in range(n):
        sid = rng.choice(sessions)
        roll = rng.random()
        topic_kind = "views" if rng.random() < 0.5 else "orders"
        if roll < 0.15:
            kind, make = rng.choice(_RAW)
            yield Hostile(topic_kind, sid.encode(), make(rng), kind)
            continue
        if roll < 0.19:
            # A valid event that would count on its key's partition: it must not count here.
            valid = _view(rng, sid) if topic_kind == "views" else _order(rng, sid)
            value = json.dumps({**valid, "ts": now_ms - rng.randrange(600_000)}).encode()
            if rng.random() < 0.5:
                home = _home(sid.encode(), partitions)
                wrong = (home + rng.randrange(1, partitions)) % partitions
                yield Hostile(topic_kind, sid.encode(), value, "wrong_partition", wrong)
            else:
                yield Hostile(topic_kind, None, value, "no_key")
            continue
        if roll < 0.29:
            base = _view(rng, rng.choice([s for s in sessions if s != sid]))
            kind = "mismatched_key"
            event: Any = base if topic_kind == "views" else _order(rng, base["session_id"])
        else:
            table = views if topic_kind == "views" else orders
            kind = rng.choice(sorted(table))
            base = _view(rng, sid) if topic_kind == "views" else _order(rng, sid)
            event = table[kind](rng, base)
        yield Hostile(topic_kind, sid.encode(), json.dumps(event).encode(), kind)
