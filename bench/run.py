"""``python -m bench``: bring the stack up, run every scenario, write results and plots."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import plots, versions
from bench.config import ONLY, PACED, BenchConfig
from bench.context import Context, Figures
from bench.live import Rig
from bench.notes import why_missed
from bench.paced import Rotation
from bench.prefill import Prefilled, envelopes, fair_messages, now_ms, prefill, singles
from bench.profiler import summarize, summarize_inclusive, top_functions
from bench.redisprobe import RedisProbe
from bench.report import Meta, render
from bench.scenarios import ceiling, floor, naive, pipeline
from bench.scenarios.fanout import fanout
from bench.scenarios.flash import flash_sale
from bench.scenarios.freshness import freshness
from bench.scenarios.gateway import gateway
from bench.scenarios.recovery import worker_killed
from bench.scenarios.scaling import PARTITIONS, WORKERS, scaling
from bench.scenarios.soak import SoakSeries, soak
from bench.targets import Results
from bench.throughput import Throughput
from bench.topics import delete_topics, scenario_settings
from common.settings import Settings
from devtools.stack import LocalStack

# Inclusive shares worth knowing when tuning the write side (a frame's file or function).
HOT_SPOTS = ("counting/", "streams/shardstore.py", "encode_batch", "streams/pipeline.py",
             "prometheus_client", "_observe_lag", "msgspec", "take_events")


@dataclass(slots=True)
class Raw:
    """Samples kept for the plots (figures alone lose the distributions)."""

    screen_ms: list[float] = field(default_factory=list)
    half_screen_ms: list[float] = field(default_factory=list)
    delivery_ms: list[float] = field(default_factory=list)
    fanout: dict[str, Any] = field(default_factory=dict)
    lag: list[tuple[float, float]] = field(default_factory=list)
    kill_lag: list[tuple[float, float]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    soak: SoakSeries | None = None
    gateway_ms: list[float] = field(default_factory=list)
    straight_ms: list[float] = field(default_factory=list)


def _figures(measured: Throughput) -> Figures:
    return measured.to_json() | {"events_s": measured.events_per_s,
                                 "cpu_per_1k": measured.cpu_per_1k}


async def _throughput(ctx: Context, data: Mapping[str, Prefilled],
                      tags: Mapping[str, str]) -> dict[str, Figures]:
    """One run of every pre-filled scenario, each consumer in a process of its own."""
    out: dict[str, Figures] = {}
    for name in ("single", "envelopes"):
        ctx.log(f"ceiling, {name}")
        out[f"ceiling.{name}"] = _figures(ceiling.measure(ctx, data[name]))
        ctx.log(f"faust floor, {name}")
        out[f"floor.{name}"] = _figures(
            await floor.measure(ctx, data[name], source_tag=tags[name]))
        ctx.log(f"pipeline, {name}")
        out[f"pipeline.{name}"] = await pipeline.run_worker(
            ctx, data[name], source_tag=tags[name], name=f"pipe-{name}")
    ctx.log("pipeline, 1 event/message, metrics off")
    out["pipeline.single_quiet"] = await pipeline.run_worker(
        ctx, data["single"], source_tag=tags["single"], name="pipe-quiet",
        module=pipeline.QUIET_WORKER)
    ctx.log("naive baseline")
    out["naive"] = _figures(naive.measure(ctx, data["single"]))
    return out


async def _live(ctx: Context, rate: float, raw: Raw) -> dict[str, Figures]:
    """Freshness at ``rate`` and at half of it, then fan-out, on one rig.

    The half-load point tells batching delay from saturation: what is left at half the
    load is the design's own latency.
    """
    async with Rig(ctx, "live", rate=rate) as rig:
        ctx.log(f"freshness at {rate:,.0f} events/s")
        fresh, timings = await freshness(ctx, rig, rate=rate)
        raw.screen_ms, raw.delivery_ms = timings.freshness_ms, timings.delivery_ms
        ctx.log(f"freshness at {rate / 2:,.0f} events/s")
        await rig.set_load([(0.0, rate / 2)])
        half, timings = await freshness(ctx, rig, rate=rate / 2)
        raw.half_screen_ms = timings.freshness_ms
        ctx.log(f"fan-out: {ctx.config.fanout_clients} screens")
        await rig.set_load([(0.0, min(ctx.config.fanout_rate, rate))])
        spread, raw.fanout = await fanout(ctx, rig)
    return {"freshness": fresh, "freshness.half": half, "fanout": spread}


async def _once(ctx: Context, capacity: float, raw: Raw,
                which: Sequence[str] = ONLY) -> dict[str, Figures]:
    """Flash sale, worker kill, soak, gateway and worker scaling (those in ``which``),
    each on its own.

    A rig of its own for each paced one: a flash-sale backlog still draining would be
    blamed on the kill, and the soak's horizons are shortened. The gateway and the
    scaling runs use no rig: a worker there would share the two cores with what they
    measure.
    """
    config = ctx.config
    base = config.load_share * capacity
    out: dict[str, Figures] = {}
    if "flash" in which:
        async with Rig(ctx, "flash", rate=base) as rig:
            ctx.log(f"flash sale over {base:,.0f} events/s")
            out["flash"] = await flash_sale(ctx, rig, capacity=capacity)
            raw.lag = [(s.t, s.lag_s) for s in rig.lag if not math.isnan(s.lag_s)]
        raw.spans["flash sale"] = (out["flash"]["t_spike_start"], out["flash"]["t_spike_end"])
    if "kill" in which:
        async with Rig(ctx, "kill", rate=base) as rig:
            ctx.log("worker SIGKILL")
            out["recovery"] = await worker_killed(ctx, rig)
            raw.kill_lag = [(s.t, s.lag_s) for s in rig.lag if not math.isnan(s.lag_s)]
        raw.marks["worker killed"] = out["recovery"]["t_killed"]
    if "soak" in which:
        rotation = Rotation(groups=config.soak_groups, live_s=config.soak_live_s)
        async with Rig(ctx, "soak", rate=base, overrides=config.soak_overrides,
                       rotation=rotation) as rig:
            ctx.log(f"soak for {config.soak_s:.0f} s, horizons {config.soak_overrides}, "
                    f"{rotation.groups} groups of sessions live {rotation.live_s:.0f} s "
                    f"each in turn")
            out["soak"], raw.soak = await soak(ctx, rig)
    if "gateway" in which:
        ctx.log("ingest gateway and straight to Kafka, 500-event batches")
        out["gateway"], latencies = await gateway(ctx)
        raw.gateway_ms, raw.straight_ms = latencies.gateway_ms, latencies.straight_ms
    if "scaling" in which:
        ctx.log(f"worker scaling: {', '.join(map(str, WORKERS))} workers, single Redis and "
                f"Redis Cluster")
        out["scaling"] = await scaling(ctx)
    return out


async def _profiles(ctx: Context, data: Mapping[str, Prefilled],
                    tags: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """py-spy over the worker on each encoding (not counted in the figures)."""
    found: dict[str, dict[str, float]] = {}
    for name, label in (("single", "1 event per message"), ("envelopes", "envelopes")):
        path = ctx.config.results_dir / f"profile-{name}.txt"
        ctx.log(f"profiling the worker, {label}")
        await pipeline.run_worker(ctx, data[name], source_tag=tags[name],
                                  name=f"profile-{name}", profile=path)
        if path.exists():
            text = path.read_text()
            found[f"{label}, self time by package"] = summarize(text) | {
                f"incl. {k}": v for k, v in summarize_inclusive(text, HOT_SPOTS).items()}
            found[f"{label}, hottest functions (self time)"] = top_functions(text)
    return found


async def _capacity(ctx: Context, results: Results) -> float:
    """The pipeline once on 1 event/message, the rate the paced scenarios take a share of."""
    config = ctx.config
    ctx.log("generating the fair")
    tag = ctx.tag("single")
    records = list(singles(fair_messages(config.single_events, seed=config.seed,
                                         now_ms=now_ms())))
    ctx.log(f"pre-filling {len(records):,} messages (1 event/message)")
    data = await prefill(scenario_settings(ctx.addrs, tag, partitions=config.partitions),
                         records)
    del records
    try:
        ctx.log("pipeline, 1 event/message: the capacity the paced load is a share of")
        results.runs.append({"pipeline.single": await pipeline.run_worker(
            ctx, data, source_tag=tag, name="pipe-single")})
    finally:
        await delete_topics(ctx.addrs.kafka_bootstrap, [data.views_topic, data.orders_topic])
    return results.median("pipeline.single", "events_s")


async def only(ctx: Context, results: Results, raw: Raw) -> None:
    """``BENCH_ONLY``: the capacity once (pipeline, 1 event/message) if a paced scenario
    is among them, then those scenarios."""
    which = ctx.config.only
    paced = any(name in PACED for name in which)
    capacity = await _capacity(ctx, results) if paced else math.nan
    results.once = await _once(ctx, capacity, raw, which)


async def bench(ctx: Context, results: Results, raw: Raw) -> dict[str, dict[str, float]]:
    """Every scenario, in order; fills ``results`` and ``raw``, returns the profiles."""
    config = ctx.config
    ctx.log("generating the fair")
    moment = now_ms()
    single_msgs = fair_messages(config.single_events, seed=config.seed, now_ms=moment)
    env_msgs = fair_messages(config.envelope_events, seed=config.seed + 1, now_ms=moment)
    tags = {"single": ctx.tag("single"), "envelopes": ctx.tag("envelopes")}
    data: dict[str, Prefilled] = {}
    for name, records in (("single", list(singles(single_msgs))),
                          ("envelopes", list(envelopes(env_msgs, config.envelope_size)))):
        ctx.log(f"pre-filling {len(records):,} messages ({name})")
        settings = scenario_settings(ctx.addrs, tags[name], partitions=config.partitions)
        data[name] = await prefill(settings, records)
    del single_msgs, env_msgs
    try:
        for run in range(config.runs):
            ctx.log(f"run {run + 1} of {config.runs}")
            figures = await _throughput(ctx, data, tags)
            rate = config.load_share * figures["pipeline.single"]["events_s"]
            figures |= await _live(ctx, rate, raw)
            results.runs.append(figures)
        capacity = results.median("pipeline.single", "events_s")
        results.once = await _once(ctx, capacity, raw)
        return await _profiles(ctx, data, tags)
    finally:
        await delete_topics(ctx.addrs.kafka_bootstrap,
                            [t for d in data.values() for t in (d.views_topic, d.orders_topic)])


def _settings_table(config: BenchConfig, settings: Settings) -> dict[str, str]:
    return {
        "OCOP_PARTITIONS": str(settings.partitions),
        "OCOP_BATCH_MAX": str(settings.batch_max),
        "OCOP_BATCH_WITHIN_S": str(settings.batch_within_s),
        "OCOP_PUSH_INTERVAL_S": str(settings.push_interval_s),
        "OCOP_HEARTBEAT_S": str(settings.heartbeat_s),
        "OCOP_MAX_LATENESS_S": str(settings.max_lateness_s),
        "pre-filled events, 1 event/message": f"{config.single_events:,}",
        "pre-filled events, envelopes": f"{config.envelope_events:,}",
        "events per envelope": str(config.envelope_size),
        "naive baseline messages": f"{config.naive_messages:,}",
        "paced load share": f"{config.load_share:.0%}",
        "freshness window": f"{config.freshness_s:.0f} s",
        "fan-out": (f"{config.fanout_clients} clients for {config.fanout_s:.0f} s at "
                    f"≤ {config.fanout_rate:,.0f} events/s"),
        "flash sale": f"{config.flash_factor:.0f}x for {config.flash_s:.0f} s",
        "recovery bound": f"{config.recover_cap_s:.0f} s",
        "soak": f"{config.soak_s:.0f} s",
        "soak horizons": (f"OCOP_MAX_LATENESS_S={config.soak_lateness_s}, "
                          f"OCOP_ORDER_HORIZON_S={config.soak_order_horizon_s}, "
                          f"OCOP_MINUTE_RETENTION_S={config.soak_minute_retention_s}"),
        "gateway": (f"{config.gateway_events:,} events sent over and over in batches of "
                    f"500 from {config.gateway_clients} connections for "
                    f"{config.gateway_s:.0f} s a path"),
        "scaling": (f"{config.scaling_events:,} events (1 event/message) on {PARTITIONS} "
                    f"partitions, drained by {', '.join(map(str, WORKERS))} workers on "
                    f"each backend"),
        "soak rotation": (f"{config.soak_groups} groups of sessions, each live "
                          f"{config.soak_live_s} s then quiet "
                          f"{(config.soak_groups - 1) * config.soak_live_s} s"),
    }


def _write(config: BenchConfig, results: Results, raw: Raw, meta: Meta) -> None:
    out = config.results_dir
    out.mkdir(parents=True, exist_ok=True)
    if not config.only:
        plots.throughput(results, out / "throughput.png")
        plots.cdf({"event time → screen, 70 % load": raw.screen_ms,
                   "event time → screen, 35 % load": raw.half_screen_ms,
                   "server_time → screen, 70 % load": raw.delivery_ms},
                  out / "freshness.png", title="Freshness (last run)", xlabel="ms")
    if raw.fanout:
        plots.cdf({"board screens": raw.fanout["board"]["quantiles"],
                   "host pages": raw.fanout["host"]["quantiles"]},
                  out / "fanout.png", title=f"Fan-out delivery, {raw.fanout['clients']} clients",
                  xlabel="ms (receive - server_time)")
    plots.lag(raw.lag, out / "flash.png", title="Flash sale under the paced load",
              spans=raw.spans)
    plots.lag(raw.kill_lag, out / "kill.png", title="Worker SIGKILLed under the paced load",
              marks=raw.marks)
    if raw.soak is not None:
        plots.soak_memory(raw.soak, out / "soak.png")
        plots.soak_state(raw.soak, out / "soak-state.png")
    if raw.gateway_ms or raw.straight_ms:
        plots.cdf({"gateway (HTTP → Kafka)": raw.gateway_ms,
                   "straight to Kafka": raw.straight_ms},
                  out / "gateway.png", title="500-event batches: send → every Kafka ack",
                  xlabel="ms per batch", ylabel="share of batches")
    if "scaling" in results.once:
        plots.scaling(results.once["scaling"], out / "scaling.png")
    meta.plots = [p for p in ("throughput.png", "freshness.png", "fanout.png", "flash.png",
                              "kill.png", "soak.png", "soak-state.png", "gateway.png",
                              "scaling.png")
                  if (out / p).exists()]
    (out / "results.md").write_text(render(results, meta))
    (out / "results.json").write_text(json.dumps(
        {"runs": results.runs, "once": results.once, "profiles": meta.profiles}, indent=1))


def main() -> None:
    """Entry point of ``python -m bench`` and ``make bench``."""
    config = BenchConfig.from_env(os.environ)
    started = time.time()
    load_before = versions.load_average()
    stack = LocalStack(run_dir=config.run_dir)
    addrs = stack.up(timeout_s=300)
    ctx = Context(config, addrs, log_dir=config.run_dir / "logs",
                  stamp=dt.datetime.now().strftime("%H%M%S"))
    results, raw = Results(), Raw()
    profiles: dict[str, dict[str, float]] = {}
    try:
        if config.only:
            asyncio.run(only(ctx, results, raw))
        else:
            profiles = asyncio.run(bench(ctx, results, raw))
        redis_version = asyncio.run(_redis_version(addrs.redis_url))
    finally:
        stack.down()
    meta = Meta(
        command=" ".join([*(f"{k}={os.environ[k]}" for k in ("BENCH_QUICK", "BENCH_RUNS",
                                                               "BENCH_SOAK_S", "BENCH_ONLY")
                             if k in os.environ), "make bench"]),
        started=dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        minutes=(time.time() - started) / 60, runs=len(results.runs), quick=config.quick,
        only=config.only,
        versions=versions.package_versions() | {"Apache Kafka": stack.kafka_version,
                                                 "redis-server": redis_version},
        accelerations=versions.accelerations(),
        machine=versions.machine() | {"load average (1 min) at start / end":
                                      f"{load_before} / {versions.load_average()}"},
        settings=_settings_table(config, scenario_settings(addrs, "x",
                                                           partitions=config.partitions)),
        profiles=profiles,
    )
    meta.notes = why_missed(results, meta)
    _write(config, results, raw, meta)
    print(f"wrote {config.results_dir / 'results.md'} in {meta.minutes:.1f} min", file=sys.stderr)


async def _redis_version(url: str) -> str:
    probe = RedisProbe(url)
    try:
        return await probe.version()
    finally:
        await probe.close()
