"""The results file: bench/results/results.md, rendered from figures in one pure function."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.config import PACED
from bench.scenarios.scaling import BACKENDS as SCALING_BACKENDS
from bench.scenarios.scaling import WORKERS as SCALING_WORKERS
from bench.scenarios.scaling import key as scaling_key
from bench.stats import ratio
from bench.targets import TARGETS, Results, Verdict, judge

# (scenario, figure, label, unit, scale) rows of the main table, in reading order.
ROWS: Sequence[tuple[str, str, str, str, float]] = (
    ("ceiling.single", "events_s", "ceiling (getmany + json.loads), 1 event/message",
     "events/s", 1),
    ("floor.single", "events_s", "faust floor (do-nothing take_events), 1 event/message",
     "events/s", 1),
    ("pipeline.single", "events_s", "pipeline, 1 event/message", "events/s", 1),
    ("pipeline.single_quiet", "events_s", "pipeline, 1 event/message, metrics off", "events/s", 1),
    ("naive", "events_s", "naive (one awaited HINCRBY per event)", "events/s", 1),
    ("ceiling.envelopes", "events_s", "ceiling, envelopes", "events/s", 1),
    ("floor.envelopes", "events_s", "faust floor, envelopes", "events/s", 1),
    ("pipeline.envelopes", "events_s", "pipeline, envelopes", "events/s", 1),
    ("floor.single", "cpu_per_1k", "faust floor CPU, 1 event/message", "CPU ms / 1k events", 1000),
    ("pipeline.single", "cpu_per_1k", "worker CPU, 1 event/message", "CPU ms / 1k events", 1000),
    ("pipeline.envelopes", "cpu_per_1k", "worker CPU, envelopes", "CPU ms / 1k events", 1000),
    ("naive", "cpu_per_1k", "naive CPU", "CPU ms / 1k events", 1000),
    ("pipeline.single", "round_trips_per_event", "Redis round trips, 1 event/message",
     "per event", 1),
    ("pipeline.envelopes", "round_trips_per_event", "Redis round trips, envelopes", "per event", 1),
    ("pipeline.single", "commands_per_event", "Redis commands (Lua inner ones included), "
     "1 event/message", "per event", 1),
    ("pipeline.envelopes", "commands_per_event", "Redis commands, envelopes", "per event", 1),
    ("pipeline.single", "batch_messages_mean", "messages per worker batch, 1 event/message",
     "messages", 1),
    ("freshness", "rate", "paced load (70 % of the pipeline's 1 event/message rate)",
     "events/s", 1),
    ("freshness", "applied_p50_ms", "event time → applied in Redis, p50", "ms", 1),
    ("freshness", "applied_p99_ms", "event time → applied in Redis, p99", "ms", 1),
    ("freshness", "screen_p50_ms", "event time → on a board screen, p50", "ms", 1),
    ("freshness", "screen_p99_ms", "event time → on a board screen, p99", "ms", 1),
    ("freshness", "delivery_p99_ms", "server_time → screen (delivery only), p99", "ms", 1),
    ("freshness", "worker_cpu_share", "worker CPU at that load", "% of a core", 100),
    ("freshness.half", "rate", "half that load", "events/s", 1),
    ("freshness.half", "applied_p50_ms", "at half load: event time → applied in Redis, p50",
     "ms", 1),
    ("freshness.half", "applied_p99_ms", "at half load: event time → applied in Redis, p99",
     "ms", 1),
    ("freshness.half", "screen_p50_ms", "at half load: event time → on a screen, p50", "ms", 1),
    ("freshness.half", "screen_p99_ms", "at half load: event time → on a screen, p99", "ms", 1),
    ("freshness.half", "worker_cpu_share", "at half load: worker CPU", "% of a core", 100),
    ("fanout", "clients", "fan-out screens (host pages among them)", "clients", 1),
    ("fanout", "host_clients", "… of which host pages", "clients", 1),
    ("fanout", "updates_per_s", "updates per board screen", "per s", 1),
    ("fanout", "board_p50_ms", "fan-out delivery to board screens, p50", "ms", 1),
    ("fanout", "board_p99_ms", "fan-out delivery to board screens, p99", "ms", 1),
    ("fanout", "probe_p50_ms", "… to one more board screen in a process of its own, p50", "ms", 1),
    ("fanout", "probe_p99_ms", "… to one more board screen in a process of its own, p99", "ms", 1),
    ("fanout", "host_p99_ms", "fan-out delivery to host pages, p99", "ms", 1),
    ("fanout", "web_cpu_share", "web process CPU during fan-out", "% of a core", 100),
    ("fanout", "build_ms_mean", "fan-out: board rebuild (read Redis + build), mean", "ms", 1),
    ("fanout", "broadcast_ms_mean", "fan-out: one broadcast to every screen, mean", "ms", 1),
    ("flash", "spike_asked", "flash sale: spike asked", "events/s", 1),
    ("flash", "spike_reached", "flash sale: spike the producer reached", "events/s", 1),
    ("flash", "max_lag_s", "flash sale: worst lag", "s", 1),
    ("flash", "recover_s", "flash sale: spike end → lag < 1 s", "s", 1),
    ("flash", "recover_floor_s", "flash sale: shortest possible drain of its backlog", "s", 1),
    ("recovery", "takeover_s", "SIGKILL → new worker applies again", "s", 1),
    ("recovery", "recover_s", "SIGKILL → lag < 1 s", "s", 1),
    ("recovery", "max_lag_s", "SIGKILL: worst lag", "s", 1),
    ("soak", "seconds", "soak length", "s", 1),
    ("soak", "rate", "soak: paced load (70 % of the pipeline's 1 event/message rate)",
     "events/s", 1),
    ("soak", "warmup_s", "soak: warm-up (past the longest horizon once)", "s", 1),
    ("soak", "window_s", "soak: each window growth compares (one rotation)", "s", 1),
    ("soak", "fingerprint_minutes_forgotten",
     "soak: minutes of fingerprints past the lateness horizon", "times", 1),
    ("soak", "minute_buckets_expired", "soak: minute buckets past their retention (per shard)",
     "times", 1),
    ("soak", "order_groups_forgotten",
     "soak: a group's order states past order horizon + lateness", "times", 1),
    ("soak", "worker_rss_growth", "soak: worker RSS growth after warm-up", "%", 100),
    ("soak", "worker_rss_end_mb", "soak: worker RSS at the end", "MiB", 1),
    ("soak", "redis_memory_growth", "soak: Redis used_memory growth after warm-up", "%", 100),
    ("soak", "redis_memory_end_mb", "soak: Redis used_memory at the end", "MiB", 1),
    ("soak", "web_rss_growth", "soak: web RSS growth after warm-up", "%", 100),
    ("soak", "web_rss_end_mb", "soak: web RSS at the end", "MiB", 1),
    ("soak", "order_states_growth", "soak: worker order states growth after warm-up", "%", 100),
    ("soak", "dedup_ids_growth", "soak: worker dedup ids growth after warm-up", "%", 100),
    ("soak", "lag_p99_s", "soak: lag p99", "s", 1),
)

# (figure stem, label, unit) of the soak's plateau table: peaks of the first and the
# last window after the warm-up.
_PLATEAUS: Sequence[tuple[str, str, str]] = (
    ("worker_order_states", "order states in the worker", "states"),
    ("redis_order_states", "order states in Redis (HLEN of {sN}:orders)", "states"),
    ("worker_dedup_ids", "dedup fingerprints in the worker", "ids"),
    ("redis_dedup_mb", "dedup fingerprints in Redis ({sN}:seen:*)", "MiB"),
    ("minute_buckets", "minute buckets in Redis", "keys"),
)


@dataclass(slots=True)
class Meta:
    """Everything the results file states besides figures."""

    command: str
    started: str
    minutes: float
    runs: int
    quick: bool
    versions: Mapping[str, str] = field(default_factory=dict)
    accelerations: Mapping[str, str] = field(default_factory=dict)
    machine: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    plots: Sequence[str] = ()
    # BENCH_ONLY's scenarios (empty: a whole run).
    only: Sequence[str] = ()


def number(value: float, scale: float = 1.0) -> str:
    """A figure for a table: thousands separated, a sensible number of digits."""
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "never (bounded)"
    v = value * scale
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 0.1:
        return f"{v:.2f}"
    return f"{v:.4f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; pipes inside cells are escaped."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def _figure_rows(results: Results) -> list[list[str]]:
    rows = []
    for scenario, name, label, unit, scale in ROWS:
        runs = results.per_run(scenario, name)
        value = results.median(scenario, name)
        if math.isnan(value) and not runs:
            continue
        each = ", ".join(number(v, scale) for v in runs) if len(runs) > 1 else ""
        rows.append([label, number(value, scale), unit, each])
    return rows


def _verdict_rows(verdicts: Sequence[Verdict]) -> list[list[str]]:
    mark = {True: "met", False: "**missed**", None: "not measured"}
    return [[v.target.text, v.shown(), v.shown(v.target.limit), mark[v.met], v.margin()]
            for v in verdicts]


def soak_section(results: Results) -> list[str]:
    """What the soak did and what levelled off when, from its own figures (empty
    without a soak)."""
    f = results.once.get("soak")
    if f is None:
        return []
    quiet = (f["groups"] - 1) * f["live_s"]
    after = f["order_horizon_s"] + f["lateness_s"]
    measured = not math.isnan(f["worker_rss_growth"])
    compare = (
        f"Growth is measured after a warm-up of {_whole(f['warmup_s'])} s (the first "
        f"group's orders, a whole minute of fingerprints and a minute bucket each "
        f"forgotten once, rounded up to a whole turn), so the figures compare the steady "
        f"state: the median of the first {_whole(f['window_s'])} s after it (one whole "
        f"rotation, so both windows hold the same phases of the sawing load) against the "
        f"median of the last {_whole(f['window_s'])} s."
        if measured else
        f"The soak was too short to compare two windows after its warm-up: that needs "
        f"at least {_whole(f['warmup_s'] + 2 * f['window_s'])} s (BENCH_SOAK_S).")
    parts = [
        "## Soak: bounded state past every horizon",
        f"{_whole(f['seconds'])} s at {number(f['rate'])} events/s with shortened horizons: "
        f"OCOP_MAX_LATENESS_S={_whole(f['lateness_s'])}, "
        f"OCOP_ORDER_HORIZON_S={_whole(f['order_horizon_s'])}, "
        f"OCOP_MINUTE_RETENTION_S={_whole(f['minute_retention_s'])}. The sample catalog's "
        f"sessions are dealt into {_whole(f['groups'])} groups, partition by partition so "
        f"that every shard keeps receiving events, live {_whole(f['live_s'])} s each in "
        f"turn and quiet {_whole(quiet)} s in between, longer than order horizon + "
        f"lateness ({_whole(after)} s), like the fair days of a campaign. The soak is "
        f"{f['seconds'] / f['lateness_s']:.0f} lateness horizons long, "
        f"{f['seconds'] / f['minute_retention_s']:.0f} minute retentions and "
        f"{f['seconds'] / after:.0f} order horizons + lateness: over it "
        f"{_whole(f['fingerprint_minutes_forgotten'])} minutes of fingerprints passed the "
        f"lateness horizon, {_whole(f['minute_buckets_expired'])} minute buckets (of each "
        f"shard) their retention, and {_whole(f['order_groups_forgotten'])} times a "
        f"group's order states their horizon.",
        compare,
        "What levels off when:\n\n"
        f"- **dedup fingerprints** cover the lateness horizon: they level off "
        f"{_whole(f['lateness_s'] + 60)} s after the load begins (the horizon plus the "
        f"minute being filled) and stay there whatever the soak's length.\n"
        f"- **order states** of a session go {_whole(after)} s after its newest order "
        f"(stream time), so from the first group's forgetting at "
        f"{_whole(f['live_s'] + after)} s they saw up and down with the rotation around a "
        f"fixed level: about {after / f['live_s'] + 1:g} groups' worth of orders at "
        f"the peak.\n"
        f"- **minute buckets** expire {_whole(f['minute_retention_s'])} s after their "
        f"minute: {_whole(math.ceil(f['minute_retention_s'] / 60))} per shard.\n"
        "- **quarter-hour and day buckets** have horizons (OCOP_RETENTION_DAYS, 8 days) "
        "longer than any soak: one more key per shard every 15 minutes and every day, a "
        "few KiB each.\n"
        "- **bounded by the catalog**: session counters, products and leaderboards, and "
        "each session's viewer HyperLogLog, which turns from sparse (1-3 KiB) to dense "
        "(about 14 KiB) once the session has gathered enough distinct viewers: the "
        "sessions the Zipf-weighted load reaches least still turn dense during a soak.",
        table(["peak after warm-up", "first window", "last window", "unit"],
              [[label, number(f.get(f"{stem}_peak_first", math.nan)),
                number(f.get(f"{stem}_peak_last", math.nan)), unit]
               for stem, label, unit in _PLATEAUS]),
        table(["memory", "growth after warm-up", "at the end"],
              [["worker RSS", f"{number(f['worker_rss_growth'], 100)} %",
                f"{number(f['worker_rss_end_mb'])} MiB"],
               ["Redis used_memory", f"{number(f['redis_memory_growth'], 100)} %",
                f"{number(f['redis_memory_end_mb'])} MiB"],
               ["web RSS", f"{number(f['web_rss_growth'], 100)} %",
                f"{number(f['web_rss_end_mb'])} MiB"]]),
        "Plots: `soak.png` (memory, warm-up and the compared windows shaded) and "
        "`soak-state.png` (order states, fingerprints and minute buckets, a dotted line at "
        "each horizon crossing).",
    ]
    return parts


def _times(value: float) -> str:
    return "-" if math.isnan(value) else f"{number(value)}x"


def gateway_section(results: Results) -> list[str]:
    """The gateway next to the same batches sent straight to Kafka (empty without it)."""
    f = results.once.get("gateway")
    if f is None:
        return []
    paths = (("gateway (HTTP → Kafka)", "gateway_"), ("straight to Kafka", "straight_"))
    rows = [[label, number(f[f"{p}events_s"]), number(f[f"{p}p50_ms"]),
             number(f[f"{p}p99_ms"]), number(f[f"{p}cpu_per_1k"], 1000)]
            for label, p in paths]
    rows.append(["gateway / straight", _times(f["ratio_events_s"]), _times(f["ratio_p50_ms"]),
                 _times(f["ratio_p99_ms"]), _times(f["ratio_cpu_per_1k"])])
    checks = []
    for label, p in paths:
        found = (f"{_whole(f[f'{p}records_found'])} records holding "
                 f"{_whole(f[f'{p}events_found'])} events")
        if f[f"{p}checked"]:
            checks.append(f"{label}: {found}, exactly what was accepted")
        else:
            checks.append(f"{label}: **{found}, not the {_whole(f[f'{p}records_expected'])} "
                          f"records holding {_whole(f[f'{p}events_expected'])} events "
                          f"accepted**: its figures are left out")
    refused = [f"{label}: {_whole(f[f'{p}refused'])} batches refused" for label, p in paths
               if f[f"{p}refused"]]
    return [
        "## Ingest gateway: HTTP → Kafka next to straight to Kafka",
        f"One generated fair in batches of {_whole(f['batch_events'])} events, sent over "
        f"and over, {_whole(f['clients'])} at a time, for {_whole(f['gateway_seconds'])} s "
        f"a path: POSTed to one `ocop-live ingest` process "
        f"(202 once Kafka acknowledged), then the same batches, framed as the gateway "
        f"frames them, handed to the gateway's own producer (idempotent, acks=all) in "
        f"the bench process. Latency: a batch's send until every ack "
        f"({_whole(f['gateway_batches'])} and {_whole(f['straight_batches'])} timed "
        f"batches after one warm-up round). CPU: the gateway process "
        f"({number(f['gateway_cpu_share'], 100)} % of a core while timed); straight to "
        f"Kafka, the bench process ({number(f['straight_cpu_share'], 100)} %).",
        table(["path", "events/s", "p50 ms", "p99 ms", "CPU ms / 1k events"], rows),
        "Topics read back: " + "; ".join(checks + refused) + ".",
        "Plot: `gateway.png` (batch latency distributions of both paths).",
    ]


def scaling_rows(f: Mapping[str, float]) -> list[list[str]]:
    """One row per worker count: events/s on each backend, cluster / single, and each
    backend's per-worker efficiency (speed-up over its 1 worker / workers)."""
    def get(name: str) -> float:
        return f.get(name, math.nan)

    return [[str(n), number(get(scaling_key("single", n, "events_s"))),
             number(get(scaling_key("cluster", n, "events_s"))),
             _times(get(f"ratio.w{n}.events_s")),
             _share(get(scaling_key("single", n, "efficiency"))),
             _share(get(scaling_key("cluster", n, "efficiency")))]
            for n in SCALING_WORKERS]


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


# Past this share of the records applied before the fill ended, a scaling run measured
# the fill as much as the workers.
_FILL_BOUND = 0.5


def scaling_section(results: Results) -> list[str]:
    """Workers 1, 2 and 4 on a single Redis and on a Redis Cluster (empty without it)."""
    f = results.once.get("scaling")
    if f is None:
        return []
    cores = f.get("cores", math.nan)
    speedups = "; ".join(
        f"{label}: " + ", ".join(
            f"{_times(f.get(scaling_key(b, n, 'speedup'), math.nan))} with {n}"
            for n in SCALING_WORKERS[1:])
        for b, label in (("single", "single Redis"), ("cluster", "Redis Cluster")))
    runs = [(b, n) for b in SCALING_BACKENDS for n in SCALING_WORKERS]
    exited = [f"{b}, {n} workers" for b, n in runs
              if f.get(scaling_key(b, n, "exited"), 0.0) == 1.0]
    failed = [f"{b}, {n} workers ({_whole(f[scaling_key(b, n, 'records_recorded')])} of "
              f"{_whole(f[scaling_key(b, n, 'records_expected')])} records recorded)"
              for b, n in runs if f.get(scaling_key(b, n, "checked"), 1.0) == 0.0
              and f.get(scaling_key(b, n, "exited"), 0.0) == 0.0]
    checks = []
    if exited:
        checks.append("**A worker exited before the drain ended in " + "; ".join(exited) +
                      "**: those figures are left out (the worker logs are in "
                      "`bench/.run/logs`).")
    if failed:
        checks.append("**Redis did not record every partition at its end offset for " +
                      "; ".join(failed) + "**: those figures are left out.")
    if not checks:
        checks.append("After every run Redis recorded each partition's offset at the "
                      "topic's end offset: no run lost records.")
    bound = [f"{b}, {n} workers" for b, n in runs
             if f.get(scaling_key(b, n, "fill_share"), 0.0) > _FILL_BOUND]
    if bound:
        checks.append(f"The workers kept up with the fill (over {_FILL_BOUND:.0%} of the "
                      f"records applied before it ended) in " + "; ".join(bound) +
                      ": there the fill, not the workers, set the pace, so those rates are "
                      "floors.")
    during_fill = ", ".join(
        f"{_share(f.get(scaling_key(b, n, 'fill_share'), math.nan))} ({b}, {n})"
        for b, n in runs)
    return [
        "## Worker scaling: 1, 2 and 4 workers, single Redis and Redis Cluster",
        f"One generated fair of {_whole(f['events'])} events, one per message, drained by "
        f"1, 2 and 4 `ocop-live worker` processes in one consumer group from "
        f"{_whole(f['partitions'])} partitions; each run has a group, key prefix and "
        f"topics of its own, filled with the same fair once the group holds every worker "
        f"(on pre-filled topics the first worker would drain alone until the others "
        f"joined), and is timed from the first record applied to the last; the bench "
        f"fills the topics meanwhile (records applied before the fill ended: "
        f"{during_fill}). Single Redis: the "
        f"bench's own stack (one broker, one redis-server). Redis Cluster: a second stack "
        f"of three Kafka brokers (replication factor 3, min.insync.replicas 2) and three "
        f"Redis masters with a replica each. Efficiency is the speed-up over the "
        f"backend's 1-worker rate divided by the workers.",
        table(["workers", "single events/s", "cluster events/s", "cluster / single",
               "efficiency, single", "efficiency, cluster"], scaling_rows(f)),
        f"Speed-up over 1 worker: {speedups}. This machine has {_whole(cores)} cores, "
        f"shared by the workers, Kafka and Redis, so the curve flattens past "
        f"{_whole(cores)} workers: more workers split the same cores between more "
        f"processes. The busiest partition holds "
        f"{_share(f.get('hottest_partition_share', math.nan))} of the records (an even "
        f"spread: {_share(ratio(1, f['partitions']))}): the worker that holds it finishes "
        f"last.",
        *checks,
        "Plot: `scaling.png` (events/s against workers, each backend with its ideal "
        "linear line from 1 worker).",
    ]


# BENCH_ONLY names → the prefixes of their targets' keys (bench/targets.py).
_ONLY_TARGETS: Mapping[str, tuple[str, ...]] = {
    "flash": ("flash",), "kill": ("recovery",), "soak": ("soak_",), "gateway": (),
    "scaling": ()}


def _whole(value: float) -> str:
    """A count or a whole number of seconds, thousands separated."""
    return "-" if math.isnan(value) else f"{value:,.0f}"


def render(results: Results, meta: Meta) -> str:
    """The whole results.md."""
    verdicts = [judge(t, results) for t in TARGETS]
    if meta.only:
        # A partial run judges only its scenarios' targets (measured or not).
        prefixes = tuple(p for name in meta.only for p in _ONLY_TARGETS[name])
        verdicts = [v for v in verdicts if v.target.key.startswith(prefixes)]
    mode = "quick mode (BENCH_QUICK=1)" if meta.quick else "full mode"
    if meta.only:
        first = ("the capacity measured once (pipeline, 1 event/message, on pre-filled "
                 "topics), then " if any(n in PACED for n in meta.only) else "")
        scope = f"BENCH_ONLY={','.join(meta.only)}: {first}only {', '.join(meta.only)}, each once."
    else:
        scope = ("Every figure is the median over runs (each run's values follow it); every "
                 "ratio is formed inside one run, both sides measured minutes apart on this "
                 "machine, then the median is taken. Flash sale, worker kill and soak run "
                 "once.")
    parts = [
        "# ocop-live benchmark results",
        f"Run {meta.started}, {mode}, {meta.runs} run(s) of the repeated scenarios, "
        f"{meta.minutes:.1f} minutes in all. Command: `{meta.command}`.",
        scope,
    ]
    if verdicts:
        parts += ["## Targets", table(["target", "measured", "limit", "verdict", "margin"],
                                      _verdict_rows(verdicts))]
    missed = [v for v in verdicts if v.met is False and v.target.key in meta.notes]
    if missed:
        parts.append("### Why the missed targets are missed")
        parts += [f"- **{v.target.text}**: {meta.notes[v.target.key]}" for v in missed]
    parts += soak_section(results)
    parts += gateway_section(results)
    parts += scaling_section(results)
    parts += [
        "## Figures",
        table(["figure", "median", "unit", "each run"], _figure_rows(results)),
    ]
    for name, shares in meta.profiles.items():
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:12]
        parts += [f"## Worker profile (py-spy): {name}",
                  table(["where", "share of samples"], [[k, f"{v:.1%}"] for k, v in top])]
    parts += [
        "## Versions",
        table(["component", "version"], sorted(meta.versions.items())),
        "## Accelerations",
        table(["speed-up", "state"], sorted(meta.accelerations.items())),
        "## Settings",
        table(["setting", "value"], sorted(meta.settings.items())),
        "## Machine",
        table(["", ""], sorted(meta.machine.items())),
    ]
    if meta.plots:
        parts += ["## Plots", "\n".join(f"![{p}]({p})" for p in meta.plots)]
    return "\n\n".join(parts) + "\n"
