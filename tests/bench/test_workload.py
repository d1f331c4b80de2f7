import json

import pytest

from bench.config import BenchConfig, ConfigError
from bench.paced import EventFactory, Rotation, deal_groups, events_due, rate_at
from bench.prefill import count_events, envelopes, singles
from bench.procfs import parse_stat
from bench.profiler import package_of, summarize, summarize_inclusive
from bench.scenarios.flash import recovery_floor
from bench.scenarios.soak import Horizons
from bench.throughput import Progress, window
from devtools.simulator.fair import Message


def _message(kind: str, key: str, n: int) -> Message:
    event: dict[str, str | int] = {"event_id": f"{key}-{n}", "session_id": key}
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


def test_bench_only_picks_scenarios_and_its_own_results_folder() -> None:
    config = BenchConfig.from_env({"BENCH_ONLY": "soak, flash"})
    assert config.only == ("flash", "soak")
    assert config.results_dir.name == "only-flash-soak"
    assert config.results_dir.parent == BenchConfig().results_dir
    assert BenchConfig.from_env({}).only == ()


def test_soak_horizons_are_settings_of_the_soak_rig() -> None:
    assert BenchConfig().soak_overrides == {
        "max_lateness_s": 120, "order_horizon_s": 180, "minute_retention_s": 300}
    assert BenchConfig.short().soak_overrides["order_horizon_s"] == 60


def test_soak_rotation_must_outlast_the_order_horizon() -> None:
    with pytest.raises(ConfigError, match="quiet 240 s"):
        BenchConfig(soak_groups=3, soak_live_s=120)


@pytest.mark.parametrize("env", [{"BENCH_RUNS": "two"}, {"BENCH_RUNS": "1.5"},
                                 {"BENCH_SOAK_S": "0"}, {"BENCH_ONLY": "soak,naive"}])
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


def test_rotation_gives_each_group_its_turn() -> None:
    rotation = Rotation(groups=3, live_s=10.0, epoch_s=1000.0)
    assert [rotation.live_group(t) for t in (1000.0, 1009.9, 1010.0, 1025.0, 1030.0)] == [
        0, 0, 1, 2, 0]
    assert rotation.live_group(900.0) == 0
    assert (rotation.quiet_s, rotation.cycle_s) == (20.0, 30.0)


def test_rotation_lists_the_turns_that_ended() -> None:
    rotation = Rotation(groups=4, live_s=10.0, epoch_s=100.0)
    assert rotation.turns_ended(100.0, 135.0) == [110.0, 120.0, 130.0]
    assert rotation.turns_ended(110.0, 130.0) == [120.0, 130.0]
    assert rotation.turns_ended(0.0, 105.0) == []


def test_rotation_round_trips_its_argument_and_names_a_bad_one() -> None:
    rotation = Rotation(groups=4, live_s=120.0, epoch_s=1.5)
    assert Rotation.from_json(rotation.to_json()) == rotation
    with pytest.raises(ValueError, match="--rotation"):
        Rotation.from_json('{"groups": 4}')
    with pytest.raises(ValueError, match="at least 2 groups"):
        Rotation(groups=1, live_s=1.0)


def test_deal_groups_puts_every_partition_in_every_group() -> None:
    partitions = [0, 1, 0, 1, 0, 1, 2, 2, 2, 0, 1, 2]
    dealt = deal_groups(partitions, 3)
    for group in range(3):
        assert {p for p, g in zip(partitions, dealt, strict=True) if g == group} == {0, 1, 2}
    assert sorted(dealt.count(g) for g in range(3)) == [4, 4, 4]


def test_rotating_factory_feeds_only_the_live_group() -> None:
    rotation = Rotation(groups=4, live_s=60.0, epoch_s=0.0)
    factory = EventFactory(7, rotation, partitions=6)
    groups = {}
    for group, _ in enumerate(factory.by_group):
        members = factory.by_group[group][0]
        groups[group] = {factory.sessions[i].session_id for i in members}
    for minute in range(8):
        at_ms = minute * 60_000 + 30_000
        keys = {factory.make(at_ms)[1].decode() for _ in range(300)}
        assert keys <= groups[minute % 4]


def test_factory_without_rotation_keeps_its_load() -> None:
    # The other scenarios' load: the same seed gives the same events as before rotations.
    plain, rotating = EventFactory(3), EventFactory(3, None, partitions=6)
    plain.prefix = rotating.prefix = "p"
    assert [plain.make(1_000) for _ in range(200)] == [rotating.make(1_000) for _ in range(200)]


def test_soak_warm_up_lasts_past_the_longest_horizon() -> None:
    horizons = Horizons.of(BenchConfig())
    assert horizons.orders_after_s == 300
    # First group's orders go at 120 + 300 s; rounded up to a whole turn of 120 s.
    assert horizons.warmup_s == 480
    assert horizons.window_s == 480
    rotation = Rotation(groups=4, live_s=120.0, epoch_s=0.0)
    assert horizons.orders_forgotten(rotation, 0.0, 700.0) == [420.0, 540.0, 660.0]


def test_soak_knows_when_each_minute_passes_its_horizon() -> None:
    horizons = Horizons.of(BenchConfig())
    # The load began 30 s into a minute: that minute's fingerprints go 60 s + 120 s after
    # its start, its bucket 300 s after it.
    origin = 600.0 + 30.0
    assert horizons.fingerprints_forgotten(origin, 0.0, 900.0) == [780.0, 840.0, 900.0]
    assert horizons.fingerprints_forgotten(origin, 800.0, 900.0) == [840.0, 900.0]
    assert horizons.buckets_expired(origin, 0.0, 1000.0) == [900.0, 960.0]
    assert horizons.buckets_expired(origin, 0.0, 800.0) == []
