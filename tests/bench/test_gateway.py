"""The gateway scenario's pure parts: batches, the send loops, figures, check and report."""

from __future__ import annotations

import json
import math

import pytest

from bench.config import BenchConfig
from bench.report import Meta, gateway_section, render
from bench.scenarios.gateway import Batch, Check, Sent, batches, checked, drive, side_by_side
from bench.scenarios.gateway import summary as path_summary
from bench.targets import Results
from devtools.simulator.fair import Message, TopicKind


def _message(i: int, session: str, kind: TopicKind = "views") -> Message:
    event: dict[str, str | int] = {"event_id": f"e{i}", "session_id": session}
    return Message(kind, session, json.dumps(event).encode(), [event])


def test_batches_cut_the_fair_in_order_and_count_the_gateways_envelopes() -> None:
    sessions = ("a", "b")
    messages = [_message(i, sessions[i % 2]) for i in range(1_000)]
    messages.append(_message(1_000, "a", "orders"))
    cut = batches(messages)
    assert [len(b.events) for b in cut] == [500, 500, 1]
    assert [e["event_id"] for e in json.loads(cut[0].body)] == [f"e{i}" for i in range(500)]
    assert [(v.index, v.topic_kind, v.session_id) for v in cut[2].events] == [(0, "orders", "a")]
    # One envelope per session and topic of a batch.
    assert [b.records for b in cut] == [2, 2, 1]


def test_batches_refuse_a_message_without_exactly_one_event() -> None:
    empty = Message("views", "a", b"{", [])
    with pytest.raises(ValueError, match="message 1 holds 0 events"):
        batches([_message(0, "a"), empty])


async def test_drive_sends_every_item_once_and_keeps_what_was_taken() -> None:
    sent: list[int] = []

    async def send(item: int) -> bool:
        sent.append(item)
        return item % 3 != 0

    latencies, taken, seconds = await drive(range(10), 4, send)
    assert sorted(sent) == list(range(10))
    assert sorted(taken) == [1, 2, 4, 5, 7, 8]
    assert len(latencies) == 10
    assert seconds >= 0


async def test_drive_stops_each_loop_after_its_send_once_time_is_up() -> None:
    async def send(item: int) -> bool:
        return True

    latencies, taken, _ = await drive(iter(range(1_000)), 3, send, seconds=0.0)
    assert sorted(taken) == [0, 1, 2]
    assert len(latencies) == 3


def _batch(events: int, records: int) -> Batch:
    return Batch(b"[]", tuple(batches([_message(i, "a") for i in range(events)])[0].events),
                 records)


def test_summary_times_only_the_batches_after_the_warm_up() -> None:
    warm, timed = _batch(500, 2), _batch(500, 3)
    sent = Sent([10.0, 20.0, 30.0, 40.0], [warm], [timed] * 4, refused=0, seconds=2.0)
    figures = path_summary(sent, cpu_s=0.5)
    assert figures["events_s"] == 1_000.0
    assert figures["p50_ms"] == 25.0
    assert figures["p99_ms"] == pytest.approx(39.7)
    assert figures["cpu_per_1k"] == 0.25
    assert figures["cpu_share"] == 0.25
    assert figures["batches"] == 4.0
    assert sent.accepted == [warm, timed, timed, timed, timed]


def test_a_path_whose_topics_disagree_reports_no_figures() -> None:
    figures = {"events_s": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "cpu_per_1k": 0.1,
               "batches": 5.0}
    good = checked(figures, Check(3, 3, 1_000, 1_000))
    assert good["events_s"] == 100.0
    assert good["checked"] == 1.0
    short = checked(figures, Check(3, 3, 1_000, 999))
    assert all(math.isnan(short[k]) for k in ("events_s", "p50_ms", "p99_ms", "cpu_per_1k"))
    assert (short["batches"], short["checked"], short["events_found"]) == (5.0, 0.0, 999.0)


def _figures(events_s: float, p99: float, ok: bool = True) -> dict[str, float]:
    check = Check(10, 10, 1_000, 1_000 if ok else 900)
    return checked({"events_s": events_s, "p50_ms": p99 / 2, "p99_ms": p99,
                    "cpu_per_1k": 0.01, "cpu_share": 0.5, "batches": 40.0, "refused": 0.0,
                    "seconds": 10.0}, check)


def test_side_by_side_prefixes_both_paths_and_forms_the_ratios() -> None:
    both = side_by_side(_figures(50_000.0, 60.0), _figures(100_000.0, 20.0))
    assert both["gateway_events_s"] == 50_000.0
    assert both["straight_p99_ms"] == 20.0
    assert both["ratio_events_s"] == 0.5
    assert both["ratio_p99_ms"] == 3.0
    assert both["ratio_cpu_per_1k"] == 1.0


def _gateway_results(gateway_ok: bool = True) -> Results:
    figures = side_by_side(_figures(50_000.0, 60.0, gateway_ok), _figures(100_000.0, 20.0))
    return Results(once={"gateway": figures | {"clients": 4.0, "batch_events": 500.0}})


def test_gateway_section_puts_both_paths_and_the_ratio_in_one_table() -> None:
    text = "\n\n".join(gateway_section(_gateway_results()))
    assert "| gateway (HTTP → Kafka) | 50,000 | 30.0 | 60.0 | 10.0 |" in text
    assert "| straight to Kafka | 100,000 | 10.0 | 20.0 | 10.0 |" in text
    assert "| gateway / straight | 0.50x | 3.00x | 3.00x | 1.00x |" in text
    assert "10 records holding 1,000 events, exactly what was accepted" in text
    assert gateway_section(Results()) == []


def test_gateway_section_says_when_the_topics_disagree() -> None:
    text = "\n\n".join(gateway_section(_gateway_results(gateway_ok=False)))
    assert "| gateway (HTTP → Kafka) | - | - | - | - |" in text
    assert "not the 10 records holding 1,000 events accepted" in text


def test_a_gateway_only_run_measures_no_capacity_and_judges_no_target() -> None:
    meta = Meta(command="BENCH_ONLY=gateway make bench", started="2024-01-01T00:00:00",
                minutes=1.0, runs=0, quick=True, only=("gateway",))
    text = render(_gateway_results(), meta)
    assert "BENCH_ONLY=gateway: only gateway, each once." in text
    assert "## Targets" not in text
    assert "## Ingest gateway" in text


def test_bench_only_gateway_gets_its_own_results_folder() -> None:
    config = BenchConfig.from_env({"BENCH_ONLY": "gateway", "BENCH_QUICK": "1"})
    assert config.only == ("gateway",)
    assert config.results_dir.name == "only-gateway"
    assert config.gateway_s < BenchConfig().gateway_s
