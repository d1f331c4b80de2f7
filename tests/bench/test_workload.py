import json

import pytest

from bench.config import BenchConfig, ConfigError
from bench.paced import events_due, rate_at
from bench.prefill import count_events, envelopes, singles
from bench.procfs import parse_stat
from bench.profiler import package_of, summarize, summarize_inclusive
from bench.scenarios.flash import recovery_floor
from bench.throughput import Progress, window
from devtools.simulator.fair import Message


def _message(kind: str, key: str, n: int) -> Message:
    event = {"event_id": f"{key}-{n}", "session_id": key}
    return Message(kind, key, json.dumps(event).encode(), [event])  # type: ignore[arg-type]


def test_envelopes_keep_each_sessions_order_and_every_event() -> None:
    messages = [_message("views", "a", i) for i in range(5)] + [
        _message("orders", "a", 0), _message("views", "b", 0)]
    out = list(envelopes(messages, 2))
    assert count_events(out) == 7
    ids = [[e["event_id"] for e in json.loads(r.value)] for r in out if r.key == b"a"
           and not r.orders]
    assert ids == [["a-0", "a-1"], ["a-2", "a-3"], ["a-4"]]
    orders = [r for r in out if r.orders]
    assert [(r.key, json.loads(r.value)[0]["event_id"]) for r in orders] == [(b"a", "a-0")]


def test_singles_are_one_event_each() -> None:
    out = list(singles([_message("orders", "a", 1)]))
    assert out[0].orders and count_events(out) == 1


def test_events_due_integrates_the_schedule() -> None:
    schedule = [(0.0, 100.0), (10.0, 1000.0), (15.0, 100.0)]
    assert events_due(schedule, 5.0) == 500.0
    assert events_due(schedule, 12.0) == 1000.0 + 2000.0
    assert events_due(schedule, 20.0) == 1000.0 + 5000.0 + 500.0
    assert events_due(schedule, -1.0) == 0.0
    assert rate_at(schedule, 12.0) == 1000.0
    assert rate_at([(1.0, 5.0)], 0.5) == 0.0


def test_window_starts_after_the_first_progress() -> None:
    samples = [Progress(0.0, 0, 0.0), Progress(1.0, 100, 0.5), Progress(3.0, 500, 2.5)]
    measured = window(samples, events_per_message=2.0)
    assert (measured.messages, measured.events, measured.seconds, measured.cpu_s) == (
        400, 800.0, 2.0, 2.0)
    assert measured.events_per_s == 400.0
    assert measured.cpu_per_1k == 2.5


def test_window_without_progress_is_empty() -> None:
    assert window([Progress(0.0, 0, 0.0)], events_per_message=1.0).messages == 0


def test_parse_stat_handles_spaces_in_the_command_name() -> None:
    fields = ["S"] + ["0"] * 10 + ["300", "100"] + ["0"] * 8 + ["2048"]
    text = "1234 (python -m (x)) " + " ".join(fields)
    got = parse_stat(text, ticks=100, page=4096)
    assert got.cpu_s == 4.0
    assert got.rss_bytes == 2048 * 4096


def test_config_reads_runs_quick_and_soak() -> None:
    config = BenchConfig.from_env({"BENCH_QUICK": "1", "BENCH_RUNS": "2"})
    assert (config.quick, config.runs, config.soak_s) == (True, 2, 60.0)
    assert BenchConfig.from_env({}).runs == 3
    assert BenchConfig.from_env({"BENCH_SOAK_S": "90"}).soak_s == 90.0


@pytest.mark.parametrize("env", [{"BENCH_RUNS": "two"}, {"BENCH_RUNS": "1.5"},
                                 {"BENCH_SOAK_S": "0"}])
def test_config_names_a_bad_variable(env: dict[str, str]) -> None:
    name = next(iter(env))
    with pytest.raises(ConfigError, match=name):
        BenchConfig.from_env(env)


def test_recovery_floor_from_the_backlog() -> None:
    assert recovery_floor(reached=20_000, capacity=10_000, base=7_000, spike_s=30) == 100.0
    assert recovery_floor(reached=9_000, capacity=10_000, base=7_000, spike_s=30) == 0.0


_ROOT = "main (faust/streams.py:10)"
COLLAPSED = "\n".join([
    f"{_ROOT};_run (asyncio/events.py:80) 60",
    f"{_ROOT};batch (counting/aggregate.py:95) 30",
    f"{_ROOT};encode (streams/shardstore.py:88) 10",
])


def test_profile_summary_charges_the_innermost_frame() -> None:
    assert summarize(COLLAPSED) == {"asyncio": 0.6, "counting": 0.3, "streams": 0.1}
    assert summarize_inclusive(COLLAPSED, ("faust/", "counting/")) == {
        "faust/": 1.0, "counting/": 0.3}


@pytest.mark.parametrize(
    ("path", "package"),
    [("/v/lib/python3.11/site-packages/redis/client.py", "redis"),
     ("/p/lib/python3.11/asyncio/base_events.py", "asyncio"),
     ("/p/lib/python3.11/enum.py", "python (stdlib)"), ("web/hub.py", "web"),
     ("faust/transport/consumer.py", "faust"), ("selectors.py", "python (stdlib)"),
     ("<frozen runpy>", "python (stdlib)")],
)
def test_package_of(path: str, package: str) -> None:
    assert package_of(path) == package
