"""``simulate``: generate a fair, write its ground truth, send it to Kafka.

Two ways to place events in time:

* unpaced backfill (the default): event times spread evenly over the last
  ``--backfill-minutes`` (60) ending now, sent as fast as possible, so a test gets many
  minute buckets in seconds;
* paced live mode (``--rate``, with ``--duration`` or ``--events``): event times start
  now and advance at the given rate, and each message waits for its time before it is
  sent, so the board moves as in a real fair.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import NamedTuple

import click

from common.catalog import SAMPLE_CATALOG, Catalog, CatalogError, load_catalog
from common.clock import wall_ms
from devtools.simulator.fair import FairConfig, generate
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth, write_truth

DEFAULT_EVENTS = 200_000
DEFAULT_BACKFILL_MINUTES = 60.0
_POSITIVE = click.FloatRange(min=0, min_open=True)


class Timeline(NamedTuple):
    """Where a run's event times lie and whether sending is paced::

    Timeline(start_ms=now_ms - 3_600_000, span_ms=3_600_000, events=200_000, paced=False)
    """

    start_ms: int
    span_ms: int
    events: int
    paced: bool


def plan_timeline(
    now_ms: int,
    events: int | None,
    duration: float | None,
    rate: float | None,
    backfill_minutes: float | None,
) -> Timeline:
    """Resolve the time options of ``simulate`` into a Timeline, or raise UsageError."""
    if duration is not None or rate is not None:
        if rate is None:
            raise click.UsageError("--duration needs --rate (events per second)")
        if backfill_minutes is not None:
            raise click.UsageError("--backfill-minutes is unpaced; it excludes --rate")
        if duration is not None and events is not None:
            raise click.UsageError("give --events or --duration, not both")
        if duration is not None:
            total = max(1, round(duration * rate))
        else:
            total = events or DEFAULT_EVENTS
        # Live: times start now and advance at the rate; messages wait for their time.
        return Timeline(now_ms, round(total / rate * 1000), total, paced=True)
    minutes = DEFAULT_BACKFILL_MINUTES if backfill_minutes is None else backfill_minutes
    span_ms = round(minutes * 60_000)
    return Timeline(now_ms - span_ms, span_ms, events or DEFAULT_EVENTS, paced=False)


@click.command("simulate")
@click.option(
    "--catalog", "catalog_path", default=SAMPLE_CATALOG, show_default="the packaged sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Session catalog JSON.",
)
@click.option("--events", type=click.IntRange(min=1), help=f"Total events [{DEFAULT_EVENTS}].")
@click.option("--duration", type=_POSITIVE, help="Live mode: seconds to run (needs --rate).")
@click.option("--rate", type=_POSITIVE, help="Live mode: events per second, paced.")
@click.option(
    "--backfill-minutes", type=_POSITIVE,
    help=f"Unpaced: spread event times over the last M minutes [{DEFAULT_BACKFILL_MINUTES:g}].",
)
@click.option(
    "--envelope-size", default=20, show_default=True, type=click.IntRange(min=1),
    help="Events of one session per message; 1 sends single JSON objects.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Generator seed.")
@click.option(
    "--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ground truth JSON here (before sending).",
)
@click.option(
    "--bootstrap", envvar="OCOP_KAFKA_BOOTSTRAP", show_envvar=True,
    default="127.0.0.1:9092", show_default=True, help="Kafka bootstrap servers.",
)
@click.option("--views-topic", default="ocop.views", show_default=True)
@click.option("--orders-topic", default="ocop.orders", show_default=True)
@click.option(
    "--sessions-topic", default="ocop.sessions", show_default=True,
    help="Publish the simulated sessions here before the events; '' skips it.",
)
@click.option(
    "--invalid-rate", default=0.002, show_default=True, type=click.FloatRange(0, 0.5),
    help="Share of events sent as deliberately invalid records.",
)
@click.option("--sessions", "n_sessions", type=click.IntRange(min=1),
              help="Simulate only the first N catalog sessions [all].")
@click.option("--dry-run", is_flag=True, help="Generate and write --truth, send nothing.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate(
    catalog_path: Path,
    events: int | None,
    duration: float | None,
    rate: float | None,
    backfill_minutes: float | None,
    envelope_size: int,
    seed: int,
    truth_path: Path | None,
    bootstrap: str,
    views_topic: str,
    orders_topic: str,
    sessions_topic: str,
    invalid_rate: float,
    n_sessions: int | None,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Simulate a livestream OCOP fair: views and orders of many sessions, into Kafka."""
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        raise click.BadParameter(str(exc), param_hint="--catalog") from None
    if n_sessions is not None and n_sessions > len(catalog.sessions):
        raise click.BadParameter(
            f"the catalog has only {len(catalog.sessions)} sessions", param_hint="--sessions"
        )
    simulated = Catalog(catalog.sessions[:n_sessions])
    timeline = plan_timeline(
        wall_ms(), events, duration, rate, backfill_minutes
    )
    config = FairConfig(
        start_ms=timeline.start_ms, span_ms=timeline.span_ms, events=timeline.events,
        seed=seed, envelope_size=envelope_size, invalid_rate=invalid_rate,
    )
    began = time.perf_counter()
    fair = generate(simulated, config)
    generated_s = time.perf_counter() - began
    click.echo(
        f"generated {config.events} events in {len(fair.messages)} messages "
        f"for {len(simulated.sessions)} sessions in {generated_s:.2f}s",
        err=True,
    )
    if truth_path is not None:
        write_truth(compute_truth(fair.messages, fair.catalog, seed=seed), truth_path)
        click.echo(f"ground truth written to {truth_path}", err=True)
    if dry_run:
        return
    target = KafkaTarget(bootstrap, views_topic, orders_topic, sessions_topic or None)
    report = asyncio.run(send_fair(fair, target, paced=timeline.paced, progress=not quiet))
    click.echo(
        f"sent {report.messages} messages ({report.events} events, {report.value_bytes} bytes) "
        f"to {bootstrap} in {report.seconds:.2f}s",
        err=True,
    )
