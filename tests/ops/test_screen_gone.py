"""A named screen unplugged from a real web process: its last-contact gauge stops while
another screen's goes on, and OcopScreenGone's expression, evaluated by promtool over the
scraped samples, names that screen and no other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from common.catalog import SAMPLE_CATALOG, load_catalog
from common.settings import Settings
from devtools.screenshots import SHOWN_FAIR, live_fair
from tests.conftest import seconds
from tests.deploy import promtool
from tests.ops.screens import acking_screen
from tests.ops.test_live_metrics import Scrape, _scrape
from tests.processes import running
from tests.web.writes import VIEWS, count, join, now_ms, store_catalog

pytestmark = pytest.mark.integration

GONE, STAYING = "stage-left", "stage-right"
LEADER = "cp-2023-hcm-01"
GAUGE = "ocop_screen_last_seen_seconds"
# The alert's threshold, and a margin so the last scrape is clearly past it.
SILENT_S = 60
MARGIN_S = 3


class Samples:
    """Scrapes of the web process, by the wall-clock second they were taken."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.taken: list[tuple[float, Scrape]] = []

    async def take(self) -> Scrape:
        scrape = await asyncio.to_thread(_scrape, self.port)
        self.taken.append((time.time(), scrape))
        return scrape

    def seen(self, screen: str) -> list[float]:
        """The gauge of ``screen`` in every scrape that has it."""
        return [s.samples[GAUGE][frozenset({("screen", screen)})] for _, s in self.taken
                if frozenset({("screen", screen)}) in s.samples.get(GAUGE, {})]


def _last_seen(scrape: Scrape, screen: str) -> float | None:
    return scrape.samples.get(GAUGE, {}).get(frozenset({("screen", screen)}))


def _series(samples: Samples, name: str, start: float, **labels: str) -> dict[str, str]:
    """One promtool input series at 1 s steps from ``start``: each scrape in its second
    (epoch seconds shifted by ``start``, as promtool's clock starts at 0), '_' between."""
    by_second: dict[int, float] = {}
    for at, scrape in samples.taken:
        value = scrape.samples.get(name, {}).get(frozenset(labels.items()))
        if value is not None:
            by_second[round(at - start)] = value - start if name == GAUGE else value
    last = max(by_second)
    values = " ".join(str(by_second[i]) if i in by_second else "_" for i in range(last + 1))
    text = ", ".join(f'{key}="{value}"' for key, value in
                     {"job": "ocop-web", "instance": f"127.0.0.1:{samples.port}",
                      **labels}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _rule_expr(alert: str) -> str:
    groups = yaml.safe_load(promtool.RULES.read_text(encoding="utf-8"))["groups"]
    return next(str(rule["expr"]) for group in groups for rule in group["rules"]
                if rule.get("alert") == alert)


def _board(port: int, name: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/board?screen={name}"


async def test_an_unplugged_named_screen_is_named_by_the_alert(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(heartbeat_s=0.5, push_interval_s=0.05, partitions=2,
                             screens=f"{GONE},{STAYING},entrance")
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    shown = live_fair(load_catalog(SAMPLE_CATALOG), SHOWN_FAIR, now_ms=now_ms(),
                      into_ms=220 * 60_000)
    await store_catalog(settings, redis, shown)
    await count(settings, redis, VIEWS, [join("v1", LEADER, "u1")])  # the fair is live
    await redis.aclose()
    samples = Samples(settings.web_port)
    deadline = time.monotonic() + seconds(SILENT_S + 60)

    with running(settings, "web", tmp_path):
        async with acking_screen(_board(settings.web_port, STAYING)):
            async with acking_screen(_board(settings.web_port, GONE)):
                # Connected: the gauge advances with its acks.
                while len(set(samples.seen(GONE))) < 3:
                    assert time.monotonic() < deadline, "the gauge never advanced"
                    await samples.take()
                    await asyncio.sleep(0.5)
            unplugged = time.time()
            while True:
                scrape = await samples.take()
                gone = _last_seen(scrape, GONE)
                assert gone is not None
                if time.time() - gone > SILENT_S + MARGIN_S:
                    break
                assert time.monotonic() < deadline, "the unplugged screen's gauge kept moving"
                await asyncio.sleep(1)

    gone_values = samples.seen(GONE)
    assert gone_values == sorted(gone_values)
    # Its last contact is its leaving; the gauge holds it from then on.
    last = gone_values[-1]
    assert unplugged - 1 <= last <= unplugged + 1
    held = [at for at, scrape in samples.taken if _last_seen(scrape, GONE) == last]
    assert held[-1] - held[0] >= SILENT_S
    staying = samples.seen(STAYING)
    assert staying[-1] - last > SILENT_S - MARGIN_S
    assert "entrance" not in {dict(labels).get("screen") for _, s in samples.taken
                              for labels in s.samples.get(GAUGE, {})}

    start = float(int(samples.taken[0][0]))
    end = round(samples.taken[-1][0] - start)
    rules = {
        "rule_files": [str(promtool.RULES)],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": [
                _series(samples, GAUGE, start, screen=GONE),
                _series(samples, GAUGE, start, screen=STAYING),
                _series(samples, "ocop_board_viewers_now", start),
            ],
            "promql_expr_test": [
                {"expr": f"count by (screen) ({_rule_expr('OcopScreenGone')})",
                 "eval_time": f"{end}s",
                 "exp_samples": [{"labels": f'{{screen="{GONE}"}}', "value": 1}]},
                # While it was still connected, nothing.
                {"expr": f"count by (screen) ({_rule_expr('OcopScreenGone')}) or vector(0)",
                 "eval_time": "1s",
                 "exp_samples": [{"labels": "{}", "value": 0}]},
            ],
        }],
    }
    test_file = tmp_path / "screen_gone.yml"
    test_file.write_text(yaml.safe_dump(rules), encoding="utf-8")
    code, output = promtool.run("test", "rules", str(test_file))
    assert code == 0, f"{output}\n{test_file.read_text()[:4000]}"
