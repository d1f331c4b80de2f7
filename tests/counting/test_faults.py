"""A failing handler dead-letters its one event; the rest of the batch still counts."""

from __future__ import annotations

import json

from counting.aggregate import Aggregator, Record
from counting.contract import Reason
from counting.state import ShardState

NOW = 1_795_748_400_000


def test_an_event_that_fails_in_the_handler_is_dead_lettered_alone() -> None:
    events = [{"event_id": eid, "session_id": "s1", "viewer_id": "u", "kind": "join",
               "ts": NOW} for eid in ("ok-1", "boom-2", "ok-3")]
    record = Record("v", 0, 0, b"s1", json.dumps(events).encode())
    agg = Aggregator(topics={"v": "views"}, fault_event_prefix="boom-")
    delta = agg.batch(ShardState(shard=0), [record], now_ms=NOW)
    assert delta.totals["views"] == 2
    [letter] = delta.dead_letters
    assert letter.rejected.reason is Reason.HANDLER_ERROR
    assert json.loads(letter.rejected.raw)["event_id"] == "boom-2"
    assert "InjectedFault" in letter.rejected.detail
