"""/metrics of the real worker and web process after a short simulated fair.

The numbers ops alert on must be right: applied events equal the simulator's ground
truth, freshness is observed, lag returns to 0, and promtool finds both scrapes clean.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings
from consumers.topics import ensure_topics
from devtools.simulator.fair import FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth
from tests.conftest import seconds
from tests.deploy import promtool
from tests.expectations import sample_fair_catalog
from tests.ops.screens import acking_screen
from tests.processes import running, wait_caught_up

pytestmark = pytest.mark.integration

EVENTS = 5_000
SEED = 5
PROCESS_METRICS = ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info")

Labels = frozenset[tuple[str, str]]


class Scrape:
    """One /metrics answer, parsed: ``Scrape(text).total("ocop_events_applied_total")``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, dict[Labels, float]] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name][frozenset(sample.labels.items())] = sample.value

    def total(self, name: str) -> float:
        """Sum of every sample of ``name`` (0 when it has none)."""
        return sum(self.samples.get(name, {}).values())

    def value(self, name: str, **labels: str) -> float:
        """The one sample of ``name`` with exactly ``labels``."""
        return self.samples[name][frozenset(labels.items())]

    def quantile(self, q: float, histogram: str) -> float:
        """``histogram_quantile(q, ...)`` as Prometheus computes it over the buckets."""
        buckets = sorted((float(dict(labels)["le"]), count)
                         for labels, count in self.samples[f"{histogram}_bucket"].items())
        rank = q * buckets[-1][1]
        lower, below = 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if math.isinf(bound):
                    return lower
                return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
            lower, below = bound, count
        return math.nan


def _scrape(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return Scrape(response.read().decode())


def _healthz(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        body: dict[str, object] = json.loads(response.read())
    return body


async def _until(port: int, done: Callable[[Scrape], bool], what: str) -> Scrape:
    # Redis holds a batch's offsets a moment before the worker counts it in its metrics.
    deadline = time.monotonic() + seconds(30)
    while True:
        scrape = await asyncio.to_thread(_scrape, port)
        if done(scrape):
            return scrape
        assert time.monotonic() < deadline, f"{what}; last scrape:\n{scrape.text[:3000]}"
        await asyncio.sleep(0.25)


def _promtool_clean(scrape: Scrape, role: str, save: Path) -> None:
    save.write_text(scrape.text)
    code, output = promtool.run("check", "metrics", stdin=scrape.text.encode())
    assert code == 0 and not output.strip(), f"promtool check metrics ({role}):\n{output}"


async def test_metrics_of_a_short_fair_match_the_truth(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Not the default, so the check below proves the setting reaches faust's fetcher.
    settings = make_settings(partitions=3, fetch_max_wait_ms=80)
    await ensure_topics(settings)
    now_ms = time.time_ns() // 1_000_000
    span = 2 * 60_000  # recent events, so freshness lands in the histogram's finite buckets
    fair = generate(sample_fair_catalog(),
                    FairConfig(start_ms=now_ms - span, span_ms=span, events=EVENTS, seed=SEED))
    truth = compute_truth(fair.messages, fair.catalog, seed=SEED)
    inputs = {settings.views_topic, settings.orders_topic}
    worker_port, web_port = settings.worker_metrics_port, settings.web_port

    with running(settings, "worker", tmp_path), running(settings, "web", tmp_path):
        async with acking_screen(f"ws://127.0.0.1:{settings.web_port}/ws/board"):
            target = KafkaTarget(settings.kafka_bootstrap, settings.views_topic,
                                 settings.orders_topic, settings.sessions_topic)
            await send_fair(fair, target, paced=False, progress=False)
            await wait_caught_up(settings, timeout_s=120)
            worker = await _until(
                worker_port,
                lambda s: s.total("ocop_events_consumed_total") == truth["messages"]
                and s.total("ocop_consumer_lag_messages") == 0,
                "the worker's metrics never covered every message with no lag left",
            )
            health = await asyncio.to_thread(_healthz, worker_port)
            web_health = await asyncio.to_thread(_healthz, web_port)
            web = await _until(
                web_port,
                lambda s: s.total("ocop_board_viewers_now") == truth["totals"]["viewers_now"]
                and s.total("ocop_freshness_screen_seconds_count") > 0,
                "the board never showed the fair's viewers",
            )

    assert health["fetch_max_wait_ms"] == 80
    assert health["event_loop"] == web_health["event_loop"] == "uvloop"
    applied = worker.samples["ocop_events_applied_total"]
    assert {dict(labels)["topic"] for labels in applied} == inputs
    assert worker.total("ocop_events_applied_total") == truth["accepted_events"]
    assert worker.total("ocop_dead_letters_total") == truth["dead_letters"]
    assert worker.total("ocop_duplicate_events_total") == truth["duplicates"]
    assert worker.total("ocop_redis_errors_total") == 0
    # Every message went through exactly one batch.
    assert worker.value("ocop_batch_messages_sum") == truth["messages"]
    assert worker.value("ocop_batch_apply_seconds_count") > 0
    assert worker.value("ocop_redis_roundtrip_seconds_count") > 0

    assert worker.value("ocop_freshness_applied_seconds_count") > 0
    assert math.isfinite(worker.quantile(0.5, "ocop_freshness_applied_seconds"))
    assert worker.quantile(0.5, "ocop_freshness_applied_seconds") <= 300

    for gauge in ("ocop_consumer_lag_messages", "ocop_consumer_lag_seconds"):
        lag = worker.samples[gauge]
        assert {dict(labels)["topic"] for labels in lag} == inputs, gauge
        assert set(lag.values()) == {0.0}, gauge
    last_applied = worker.value("ocop_last_applied_timestamp_seconds")
    assert now_ms / 1000 <= last_applied <= time.time()

    assert web.value("ocop_ws_clients", page="board") == 1
    assert web.value("ocop_screens_stale") == 0
    assert math.isfinite(web.quantile(0.5, "ocop_freshness_screen_seconds"))
    assert web.value("ocop_http_requests_total", route="/healthz", status="200") >= 1

    for role, scrape in (("worker", worker), ("web", web)):
        for name in PROCESS_METRICS:
            assert scrape.samples.get(name), f"{role} has no {name}"
        _promtool_clean(scrape, role, tmp_path / f"{role}.metrics")
