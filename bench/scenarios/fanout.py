"""Fan-out: 1,000 websocket screens on one web process, from a load generator.

The generator (``python -m bench.screens``, its screens spread over a few processes)
holds every connection, a share of them host pages when the web process serves
``/ws/host``, and records receive time minus ``server_time``. The web process' CPU is
read from ``/proc`` over the same window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

from bench.context import Context, Figures
from bench.live import Rig
from bench.procfs import ProcSample
from bench.screens import Timings, board_screen
from bench.services import Service, ServiceError, python_argv
from bench.stats import Scrape, percentile
from common.catalog import SAMPLE_CATALOG, load_catalog

_SETTLE_S = 8.0
# The generator's screens are spread over processes so that reading one burst of a
# thousand frames does not queue in a single event loop; the delays measured are then
# the server's and the network's, not the generator's own backlog.
_PROCESSES = 4


def _share_between(samples: list[tuple[float, ProcSample]], start: float, end: float) -> float:
    inside = [(t, s) for t, s in samples if start <= t <= end]
    if len(inside) < 2:
        return float("nan")
    (t0, s0), (t1, s1) = inside[0], inside[-1]
    return (s1.cpu_s - s0.cpu_s) / (t1 - t0)


async def fanout(ctx: Context, rig: Rig) -> tuple[Figures, dict[str, Any]]:
    """Run the screens for ``fanout_s`` at the rig's load; figures and the raw report."""
    config = ctx.config
    web = rig.web
    if web is None:
        raise RuntimeError("the rig has no web process")
    out = ctx.log_dir / f"{rig.settings.app_id}-screens-{time.monotonic_ns()}.json"
    sessions = [s.session_id for s in load_catalog(SAMPLE_CATALOG).sessions]
    argv = python_argv(
        "bench.screens", "--board-url", rig.board_url, "--host-url", rig.host_url,
        "--sessions", json.dumps(sessions),
        "--secret", rig.settings.token_secret.get_secret_value(),
        "--clients", str(config.fanout_clients), "--settle", str(_SETTLE_S),
        "--seconds", str(config.fanout_s), "--processes", str(_PROCESSES), "--out", str(out),
    )
    before = rig.web_scrape()
    screens = Service.start("screens", argv, env=dict(os.environ), log_dir=ctx.log_dir)
    samples: list[tuple[float, ProcSample]] = []
    # One more board screen, in this process, apart from the generator's: what a screen
    # that is not queued behind a thousand others in the same event loops sees.
    probe = Timings(recording=False)
    probing = asyncio.create_task(board_screen(rig.board_url, probe))
    try:
        deadline = time.monotonic() + config.fanout_s + _SETTLE_S + 120
        started = time.monotonic()
        while screens.proc.poll() is None:
            probe.recording = time.monotonic() - started > _SETTLE_S
            stat = web.sample()
            if stat is not None:
                samples.append((time.time(), stat))
            if time.monotonic() > deadline:
                raise ServiceError(f"the screens did not finish:\n{screens.log_tail()}")
            await asyncio.sleep(0.25)
    finally:
        screens.stop()
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await probing
    if not out.exists():
        raise ServiceError(f"the screens wrote no report:\n{screens.log_tail()}")
    after = rig.web_scrape()
    report: dict[str, Any] = json.loads(out.read_text())
    board, host = report["board"], report["host"]
    seconds = report["measure_to"] - report["measure_from"]
    board_clients = max(1, report["board_clients"])
    return {
        "clients": float(report["clients"]),
        "host_clients": float(report["host_clients"]),
        "failed_clients": float(report["failed_to_connect"] + report["dropped_while_measuring"]),
        "board_p50_ms": float(board["p50"]),
        "board_p99_ms": float(board["p99"]),
        "probe_p50_ms": percentile(probe.delivery_ms, 50),
        "probe_p99_ms": percentile(probe.delivery_ms, 99),
        "host_p50_ms": float(host["p50"]) if host["count"] else float("nan"),
        "host_p99_ms": float(host["p99"]) if host["count"] else float("nan"),
        "updates_per_s": report["board_messages"] / board_clients / seconds,
        "web_cpu_share": _share_between(samples, report["measure_from"], report["measure_to"]),
        "build_ms_mean": 1000 * _mean_between(before, after, "ocop_snapshot_build_seconds"),
        "broadcast_ms_mean": 1000 * _mean_between(before, after, "ocop_broadcast_seconds"),
    }, report


def _mean_between(before: Scrape, after: Scrape, histogram: str) -> float:
    """Mean observation of ``histogram`` between two scrapes."""
    count = after.total(f"{histogram}_count") - before.total(f"{histogram}_count")
    total = after.total(f"{histogram}_sum") - before.total(f"{histogram}_sum")
    return total / count if count else float("nan")
