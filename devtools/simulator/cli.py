"""``simulate``: generate a fair, write its ground truth, send it to Kafka.

Two ways to place events in time:

* unpaced backfill (the default): event times spread evenly over the last
  ``--backfill-minutes`` (60) ending now, sent as fast as possible, so a test gets many
  minute buckets in seconds;
* paced live mode (``--rate``, with ``--duration`` or ``--events``): event times start
  now and advance at the given rate, and each message waits for its time before it is
  sent, so the board moves as in a real fair.

``--campaign`` plays the catalog's fairs instead (``campaign.py``): placed over the last
``--weeks`` and sent as fast as possible as a recorded feed, each record stamped with the
moment it was handed over; with ``--rate`` and ``--duration`` the last fair is live now
and paced, after the earlier fairs' history.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import NamedTuple

import click
import msgspec

from common.catalog import SAMPLE_CATALOG, Catalog, CatalogError, load_catalog
from common.clock import wall_ms
from devtools.simulator.campaign import Campaign, CampaignConfig, generate_campaign
from devtools.simulator.fair import DEFAULT_ORDER_HORIZON_MS, FairConfig, generate, rfc3339_ms
from devtools.simulator.producer import KafkaTarget, send_fair
from devtools.simulator.truth import compute_truth, write_truth

DEFAULT_EVENTS = 200_000
DEFAULT_BACKFILL_MINUTES = 60.0
DEFAULT_WEEKS = 3.0
DEFAULT_HORIZON_VIOLATIONS = 10
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


class CampaignOptions(NamedTuple):
    """The options that only ``--campaign`` takes (None: not given)."""

    weeks: float | None
    fairs: int | None
    horizon_violations: int | None
    order_horizon_s: int


def plan_campaign(
    now_ms: int,
    events: int | None,
    duration: float | None,
    rate: float | None,
    options: CampaignOptions,
    *,
    seed: int = 1,
    envelope_size: int = 20,
    invalid_rate: float = 0.002,
) -> CampaignConfig:
    """Resolve the options of ``simulate --campaign`` into a config, or raise UsageError."""
    live_events = live_span_ms = 0
    if duration is not None or rate is not None:
        if duration is None or rate is None:
            raise click.UsageError("--campaign goes live with both --rate and --duration")
        live_events, live_span_ms = max(1, round(duration * rate)), round(duration * 1000)
    try:
        return CampaignConfig(
            now_ms=now_ms,
            weeks=DEFAULT_WEEKS if options.weeks is None else options.weeks,
            events=events or DEFAULT_EVENTS,
            fairs=options.fairs,
            horizon_violations=(DEFAULT_HORIZON_VIOLATIONS if options.horizon_violations is None
                                else options.horizon_violations),
            order_horizon_ms=options.order_horizon_s * 1000,
            live_events=live_events,
            live_span_ms=live_span_ms,
            seed=seed,
            envelope_size=envelope_size,
            invalid_rate=invalid_rate,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


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
@click.option(
    "--count-share", default=0.0, show_default=True, type=click.FloatRange(0, 1),
    help="Share of sessions whose platform reports viewer counts instead of leaves.",
)
@click.option("--sessions", "n_sessions", type=click.IntRange(min=1),
              help="Simulate only the first N catalog sessions [all].")
@click.option("--campaign", is_flag=True,
              help="Play the catalog's fairs as a campaign over the last --weeks.")
@click.option("--weeks", type=_POSITIVE,
              help=f"Campaign: weeks before now the fairs are spread over [{DEFAULT_WEEKS:g}].")
@click.option("--fairs", "n_fairs", type=click.IntRange(min=1),
              help="Campaign: only the first N fairs of the catalog [all].")
@click.option(
    "--horizon-violations", type=click.IntRange(min=0),
    help=("Campaign: status changes sent after their order's horizon "
          f"[{DEFAULT_HORIZON_VIOLATIONS}]."),
)
@click.option(
    "--order-horizon-s", envvar="OCOP_ORDER_HORIZON_S", show_envvar=True,
    default=DEFAULT_ORDER_HORIZON_MS // 1000, show_default=True, type=click.IntRange(min=1),
    help="Campaign: the worker's order horizon, for the violations and the truth.",
)
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
    count_share: float,
    n_sessions: int | None,
    campaign: bool,
    weeks: float | None,
    n_fairs: int | None,
    horizon_violations: int | None,
    order_horizon_s: int,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Simulate a livestream OCOP fair (or a campaign of them): views and orders of many
    sessions, into Kafka."""
    try:
        catalog = load_catalog(catalog_path)
    except CatalogError as exc:
        raise click.BadParameter(str(exc), param_hint="--catalog") from None
    options = CampaignOptions(weeks, n_fairs, horizon_violations, order_horizon_s)
    target = KafkaTarget(bootstrap, views_topic, orders_topic, sessions_topic or None)
    if campaign:
        if backfill_minutes is not None or n_sessions is not None or count_share:
            raise click.UsageError("--campaign plays whole fairs: no --backfill-minutes, "
                                   "--sessions or --count-share")
        planned = plan_campaign(wall_ms(), events, duration, rate, options, seed=seed,
                                envelope_size=envelope_size, invalid_rate=invalid_rate)
        _run_campaign(catalog, planned, target, truth_path, dry_run=dry_run, quiet=quiet)
        return
    if (weeks, n_fairs, horizon_violations) != (None, None, None):
        raise click.UsageError("--weeks, --fairs and --horizon-violations need --campaign")
    if n_sessions is not None and n_sessions > len(catalog.sessions):
        raise click.BadParameter(
            f"the catalog has only {len(catalog.sessions)} sessions", param_hint="--sessions"
        )
    simulated = catalog.with_sessions(catalog.sessions[:n_sessions])
    timeline = plan_timeline(
        wall_ms(), events, duration, rate, backfill_minutes
    )
    config = FairConfig(
        start_ms=timeline.start_ms, span_ms=timeline.span_ms, events=timeline.events,
        seed=seed, envelope_size=envelope_size, invalid_rate=invalid_rate,
        count_share=count_share,
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
    report = asyncio.run(send_fair(fair, target, paced=timeline.paced, progress=not quiet))
    click.echo(
        f"sent {report.messages} messages ({report.events} events, {report.value_bytes} bytes) "
        f"to {bootstrap} in {report.seconds:.2f}s",
        err=True,
    )


def _run_campaign(catalog: Catalog, config: CampaignConfig, target: KafkaTarget,
                  truth_path: Path | None, *, dry_run: bool, quiet: bool) -> None:
    """Generate a campaign, write its truth (with the shifted catalog) and send it."""
    began = time.perf_counter()
    try:
        with click.progressbar(length=config.events + config.live_events, label="generating",
                               file=sys.stderr, hidden=quiet) as bar:
            played = generate_campaign(catalog, config, progress=bar.update)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--catalog") from None
    generated_s = time.perf_counter() - began
    _describe(played, generated_s)
    if truth_path is not None:
        truth = compute_truth(played.messages, played.catalog, seed=config.seed,
                              order_horizon_ms=config.order_horizon_ms)
        truth["catalog"] = msgspec.to_builtins(played.catalog)
        write_truth(truth, truth_path)
        click.echo(f"ground truth written to {truth_path}", err=True)
    if dry_run:
        return
    report = asyncio.run(send_fair(played, target, paced=config.live, progress=not quiet,
                                   record_times=True))
    click.echo(
        f"sent {report.messages} messages ({report.events} events, {report.value_bytes} bytes) "
        f"to {target.bootstrap} in {report.seconds:.2f}s",
        err=True,
    )


def _describe(played: Campaign, generated_s: float) -> None:
    """Say what was generated: fairs, their dates, events and violations."""
    sessions = played.catalog.sessions
    events = sum(len(m.events) or 1 for m in played.messages)
    first = min((s.scheduled_start for s in sessions), key=rfc3339_ms)
    last = max((s.scheduled_end for s in sessions), key=rfc3339_ms)
    fairs = len(played.catalog.fairs) or 1
    click.echo(
        f"generated {events} events in {len(played.messages)} messages for {fairs} fairs and "
        f"{len(sessions)} sessions, {first} to {last}, with "
        f"{len(played.horizon_violations)} status changes past the order horizon, "
        f"in {generated_s:.2f}s",
        err=True,
    )
