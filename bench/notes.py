"""Why a missed target is missed, in words built from this run's own measurements."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import faust

from bench.report import Meta, number
from bench.targets import Results

_SINGLE = "1 event per message, self time by package"
_ENVELOPES = "envelopes, self time by package"


def faust_timeouts() -> tuple[float, float]:
    """faust's group session and rebalance timeouts as the worker's app gets them."""
    app = faust.App("bench-probe", broker="kafka://127.0.0.1:9",
                    datadir=Path(tempfile.gettempdir()) / "ocop-bench-probe")
    return float(app.conf.broker_session_timeout), float(app.conf.broker_rebalance_timeout)


def _top(profiles: Mapping[str, Mapping[str, float]], name: str, n: int = 4) -> str:
    shares = profiles.get(name, {})
    own = [(k, v) for k, v in shares.items() if not k.startswith("incl. ")]
    incl = [(k.removeprefix("incl. "), v) for k, v in shares.items() if k.startswith("incl. ")]
    if not own:
        return "no profile was recorded"
    parts = ", ".join(f"{k} {v:.0%}" for k, v in sorted(own, key=lambda kv: -kv[1])[:n])
    hot = ", ".join(f"{k} {v:.0%}" for k, v in sorted(incl, key=lambda kv: -kv[1])[:n] if v)
    return f"worker profile ({name.split(',')[0]}), self time: {parts}; inclusive: {hot or '-'}"


def _cpu(r: Results, scenario: str) -> str:
    return number(r.median(scenario, "cpu_per_1k"), 1000)


def why_missed(r: Results, meta: Meta) -> dict[str, str]:
    """A sentence per target key; the report prints those of missed targets."""
    p = meta.profiles
    session_s, rebalance_s = faust_timeouts()
    spread = r.per_run("pipeline.single", "events_s")
    noise = ((max(spread) - min(spread)) / r.median("pipeline.single", "events_s")
             if len(spread) > 1 else math.nan)
    notes: dict[str, Callable[[], str]] = {
        "single_vs_floor": lambda: (
            f"the worker spends {_cpu(r, 'pipeline.single')} CPU ms per 1,000 events, the "
            f"do-nothing faust agent {_cpu(r, 'floor.single')}; both keep one core busy, so "
            f"the ratio is the CPU ratio. The difference is decoding, folding, encoding the "
            f"Lua batch and metrics: {_top(p, _SINGLE)}."),
        "envelopes_vs_ceiling": lambda: (
            f"the ceiling only runs json.loads ({_cpu(r, 'ceiling.envelopes')} CPU ms per "
            f"1,000 events); the worker decodes each element strictly, applies time rules and "
            f"dedup, folds and encodes ({_cpu(r, 'pipeline.envelopes')}): {_top(p, _ENVELOPES)}."),
        "envelopes_vs_naive": lambda: (
            f"naive reached {number(r.median('naive', 'events_s'))} events/s; the pipeline on "
            f"envelopes {number(r.median('pipeline.envelopes', 'events_s'))}."),
        "single_vs_naive": lambda: (
            f"with one event per message faust's per-message cost bounds the pipeline (floor "
            f"{number(r.median('floor.single', 'events_s'))} events/s), and the naive "
            f"consumer reached {number(r.median('naive', 'events_s'))} events/s: the target "
            f"cannot be met above faust's own floor divided by 10."),
        "round_trips_single": lambda: (
            f"batches averaged {number(r.median('pipeline.single', 'batch_messages_mean'))} "
            f"messages, and each batch costs one round trip."),
        "round_trips_envelopes": lambda: (
            f"batches averaged {number(r.median('pipeline.envelopes', 'batch_messages_mean'))} "
            f"messages, and each batch costs one round trip."),
        "screen_p99": lambda: _freshness(r, meta),
        "screen_p50": lambda: _freshness(r, meta),
        "fanout_p99": lambda: _fanout(r),
        "fanout_cpu": lambda: _fanout(r),
        "metrics_cost": lambda: (
            f"metrics on: {number(r.median('pipeline.single', 'events_s'))} events/s, off "
            f"(prometheus_client classes swapped for no-ops by bench/quiet.py): "
            f"{number(r.median('pipeline.single_quiet', 'events_s'))}. The run-to-run spread "
            f"of the metrics-on pipeline alone was {number(noise, 100)} %, so a difference "
            f"below that is noise, not cost."),
        "soak_worker_rss": lambda: _soak_worker(r),
        "soak_redis_memory": lambda: _soak_redis(r),
        "soak_web_rss": lambda: (
            f"web RSS ended at {number(r.median('soak', 'web_rss_end_mb'))} MiB."),
        "recovery": lambda: _recovery(r, session_s, rebalance_s),
    }
    return {key: make() for key, make in notes.items()}


def _peaks(r: Results, stem: str, scale: float = 1.0) -> str:
    return (f"{number(r.median('soak', f'{stem}_peak_first'), scale)} in the first window "
            f"after warm-up, {number(r.median('soak', f'{stem}_peak_last'), scale)} in the last")


def _state_verdict(growth: float) -> str:
    if math.isnan(growth):
        return "the soak was too short to compare windows after its warm-up"
    if abs(growth) <= 0.05:
        return (f"that state levelled off (median {number(growth, 100)} %), so the growth "
                f"is not the state with a horizon")
    return f"that state itself still grew (median {number(growth, 100)} %)"


def _soak_worker(r: Results) -> str:
    return (
        f"worker RSS ended at {number(r.median('soak', 'worker_rss_end_mb'))} MiB. Order "
        f"states in the worker peaked at {_peaks(r, 'worker_order_states')}; dedup ids "
        f"at {_peaks(r, 'worker_dedup_ids')}: "
        f"{_state_verdict(r.median('soak', 'order_states_growth'))}. Lag p99 over the soak "
        f"was {number(r.median('soak', 'lag_p99_s'))} s: a backlog the worker falls behind "
        f"on is held in its memory too.")


def _soak_redis(r: Results) -> str:
    return (
        f"Redis used_memory ended at {number(r.median('soak', 'redis_memory_end_mb'))} MiB. "
        f"Order states in Redis peaked at {_peaks(r, 'redis_order_states')}; fingerprint "
        f"MiB at {_peaks(r, 'redis_dedup_mb')}; minute buckets at "
        f"{_peaks(r, 'minute_buckets')}. Quarter-hour and day buckets, whose horizons are "
        f"longer than the soak, add one key per shard every 15 minutes and every day, and "
        f"viewer HyperLogLogs turn dense (about 14 KiB each, once per session) as the "
        f"sessions gather distinct viewers.")


def _recovery(r: Results, session_s: float, rebalance_s: float) -> str:
    takeover = r.median("recovery", "takeover_s")
    waited = (
        f"the group waited for the killed member's session to expire (faust "
        f"broker_session_timeout {session_s:.0f} s, rebalance timeout {rebalance_s:.0f} s)"
        if takeover >= session_s / 2 else
        "the restarted worker rejoined under its OCOP_INSTANCE_ID (static membership) and "
        "got its partitions back without waiting for the killed member's session to expire"
    )
    kept_up = r.median("freshness", "kept_up")
    steady = (" Even before the kill, at this load the lag did not stay under 1 s (see "
              "freshness), so the bound could not be reached." if kept_up == 0 else "")
    return (
        f"the new worker applied its first event {number(takeover)} s after the kill: "
        f"{waited}. Every second without a worker leaves a second of traffic to drain at the "
        f"spare share of capacity (30 % at 70 % load), so recovery takes at least the "
        f"takeover time / 0.3; worst lag {number(r.median('recovery', 'max_lag_s'))} s.{steady}")


def _freshness(r: Results, meta: Meta) -> str:
    cpu = r.median("freshness", "worker_cpu_share")
    saturated = (
        " The worker was saturated: \"70 %\" is of the capacity measured on pre-filled "
        "topics with the machine otherwise idle, while here the paced producer, Kafka and "
        "the web process share the same two cores, and near full load a batch waits behind "
        "the previous one." if cpu >= 0.85 else "")
    return (
        f"applied in Redis p50 {number(r.median('freshness', 'applied_p50_ms'))} ms / p99 "
        f"{number(r.median('freshness', 'applied_p99_ms'))} ms (the worker waits up to "
        f"OCOP_BATCH_WITHIN_S = {meta.settings.get('OCOP_BATCH_WITHIN_S', '?')} s to fill a "
        f"batch), delivery p99 {number(r.median('freshness', 'delivery_p99_ms'))} ms; the web "
        f"process rebuilds the board at most every OCOP_PUSH_INTERVAL_S = "
        f"{meta.settings.get('OCOP_PUSH_INTERVAL_S', '?')} s, and the worker used "
        f"{number(r.median('freshness', 'worker_cpu_share'), 100)} % of a core. At half the "
        f"load the screen saw p50 {number(r.median('freshness.half', 'screen_p50_ms'))} ms / "
        f"p99 {number(r.median('freshness.half', 'screen_p99_ms'))} ms.{saturated}")


def _fanout(r: Results) -> str:
    probe = r.median("fanout", "probe_p99_ms")
    return (
        f"{number(r.median('fanout', 'clients'))} clients at "
        f"{number(r.median('fanout', 'updates_per_s'))} updates/s each: the web process used "
        f"{number(r.median('fanout', 'web_cpu_share'), 100)} % of a core (board rebuild "
        f"{number(r.median('fanout', 'build_ms_mean'))} ms and broadcast "
        f"{number(r.median('fanout', 'broadcast_ms_mean'))} ms on average); the load generator "
        f"shares the machine's two cores with Kafka, Redis, the worker and the producer, and "
        f"its processes decode a thousand compressed frames per update. One more board screen "
        f"in a process of its own saw p50 {number(r.median('fanout', 'probe_p50_ms'))} ms / "
        f"p99 {number(probe)} ms over the same time: "
        + ("the rest of the 1,000 screens' delay is the generator's own queue."
           if probe <= 100 else "the web process itself is too slow to deliver."))
