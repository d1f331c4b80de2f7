"""``dlq``: look at the dead-letter topic and re-drive dead letters after a fix."""

from __future__ import annotations

import asyncio
import unicodedata
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

import click
from aiokafka.errors import KafkaConnectionError

from cli.environment import command_settings, configure_logging
from common.clock import wall_ms
from common.settings import Settings
from consumers.deadletters import (
    DeadLetterReader,
    DeadLetterRow,
    DeadLetterTopicMissing,
    DurationError,
    Window,
    newest,
    parse_duration,
    printable_prefix,
)
from consumers.replay import Replay, ReplayPlan, plan_replay
from counting.contract import Reason
from store.windows import FAIR_TZ

T = TypeVar("T")
REASONS = [reason.value for reason in Reason]
_SOURCE_WIDTH = 30
_VALUE_WIDTH = 60


class Duration(click.ParamType):
    """A click option value like ``30s``, ``15m``, ``1h`` or ``2d``, in milliseconds."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        """Milliseconds, or a usage error naming the bad value."""
        try:
            return parse_duration(str(value))
        except DurationError as exc:
            self.fail(str(exc), param, ctx)


def _width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _header() -> str:
    return "  ".join((_pad("TIME (Asia/Ho_Chi_Minh)", 23), _pad("REASON", 14),
                      _pad("SOURCE", _SOURCE_WIDTH), _pad("VALUE", _VALUE_WIDTH), "DETAIL"))


def _line(row: DeadLetterRow, note: str = "") -> str:
    """One row; every part that came from the topic is escaped for the terminal."""
    when = datetime.fromtimestamp(row.dead_lettered_ms / 1000, FAIR_TZ)
    detail = row.detail
    cut = row.truncation
    if cut is not None and cut.original_key_length is not None:
        detail = f"key truncated (was {cut.original_key_length:,} bytes); {detail}"
    if cut is not None and cut.value_cut:
        whole = "?" if cut.original_length is None else f"{cut.original_length:,}"
        detail = f"value truncated to {cut.kept:,} of {whole} bytes; {detail}"
    return "  ".join((
        _pad(when.strftime("%Y-%m-%d %H:%M:%S"), 23),
        _pad(printable_prefix(row.reason, limit=14), 14),
        _pad(printable_prefix(row.source, limit=_SOURCE_WIDTH), _SOURCE_WIDTH),
        _pad(printable_prefix(row.value, limit=_VALUE_WIDTH), _VALUE_WIDTH),
        note + printable_prefix(detail, limit=80),
    )).rstrip()


def _summary(by_reason: Counter[str]) -> str:
    return ", ".join(f"{printable_prefix(reason, limit=40)} {n:,}"
                     for reason, n in sorted(by_reason.items(), key=lambda i: (-i[1], i[0])))


def _since(since_ms: int | None) -> int | None:
    return None if since_ms is None else wall_ms() - since_ms


def _run(settings: Settings, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; a missing topic or an unreachable Kafka becomes a usage error."""
    try:
        return asyncio.run(work)
    except DeadLetterTopicMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except KafkaConnectionError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka_bootstrap} (OCOP_KAFKA_BOOTSTRAP): {exc}"
        ) from exc


@click.group()
def dlq() -> None:
    """The dead-letter topic (OCOP_DLQ_TOPIC): records the worker could not count."""


@dlq.command("show")
@click.option("--reason", type=click.Choice(REASONS), help="Only this reason code.")
@click.option("--since", "since_ms", type=Duration(), metavar="DURATION",
              help="Only dead letters of the last DURATION: 30s, 15m, 1h, 2d.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1),
              help="Show the newest N (all are counted in the summary).")
def show(reason: str | None, since_ms: int | None, limit: int) -> None:
    """Print the newest dead letters and a count by reason (times in Asia/Ho_Chi_Minh).

    Bytes are shown as a short prefix with control and bidi characters escaped.
    """
    settings = command_settings()
    configure_logging()

    async def scan() -> tuple[list[DeadLetterRow], Counter[str], int]:
        async with DeadLetterReader(settings) as reader:
            window = await reader.window(since_ms=_since(since_ms))
            found = await newest(reader.rows(window, reason=reason), limit=limit)
            return found.rows, found.by_reason, reader.unreadable

    rows, by_reason, unreadable = _run(settings, scan())
    if rows:
        click.echo(_header())
        for row in rows:
            click.echo(_line(row))
    matched = sum(by_reason.values())
    summary = (f"{matched:,} dead letters (showing the newest {len(rows):,}): "
               f"{_summary(by_reason)}" if matched else "no dead letters match")
    if unreadable:
        summary += f"; {unreadable:,} unreadable records skipped (see the log)"
    click.echo(summary)


@dlq.command("replay")
@click.option("--reason", required=True, type=click.Choice(REASONS),
              help="Replay the dead letters of this reason code.")
@click.option("--since", "since_ms", type=Duration(), metavar="DURATION",
              help="Only dead letters of the last DURATION: 30s, 15m, 1h, 2d.")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before sending.")
def replay(reason: str, since_ms: int | None, dry_run: bool, yes: bool) -> None:
    """Re-send dead letters of one reason to their source topic, once the fault is fixed.

    Each goes to its source topic and partition with its key and original value bytes
    (idempotent producer, acks=all). Truncated values cannot be replayed whole: they
    are refused and counted. Catalog dead letters are not replayed (publish the catalog
    again). Replaying twice is harmless: the worker skips event ids it already counted
    (within the lateness horizon, OCOP_MAX_LATENESS_S). A record that is still bad is
    dead-lettered again with a new source offset.
    """
    settings = command_settings()
    configure_logging()
    since = _since(since_ms)

    def listed(row: DeadLetterRow, action: str) -> None:
        notes = {"send": "", "truncated": "REFUSED (truncated) ",
                 "not_input": "SKIPPED (not views/orders) "}
        click.echo(_line(row, notes[action]))

    async def plan() -> tuple[Window, ReplayPlan]:
        async with DeadLetterReader(settings) as reader:
            window = await reader.window(since_ms=since)
            if dry_run:
                click.echo(_header())
            return window, await plan_replay(settings, window, reader, reason=reason,
                                             each=listed if dry_run else None)

    async def send(window: Window) -> Replay:
        async with DeadLetterReader(settings) as reader, Replay(settings) as sender:
            async for row in reader.rows(window, reason=reason):
                await sender.send(row)
        return sender

    window: Window | None = None
    if dry_run or not yes:
        window, planned = _run(settings, plan())
        click.echo(_plan_line(planned, reason, dry_run=True))
        if dry_run:
            return
        if not planned.replayable:
            click.echo("nothing to replay")
            return
        click.confirm(f"send {planned.replayable:,} dead letters back to their source "
                      "topics?", abort=True)
    if window is None:
        window = _run(settings, _window(settings, since))
    done: Replay = _run(settings, send(window))
    click.echo(_plan_line(ReplayPlan(done.sent, done.truncated, done.not_input), reason,
                          dry_run=False))


async def _window(settings: Settings, since: int | None) -> Window:
    async with DeadLetterReader(settings) as reader:
        return await reader.window(since_ms=since)


def _plan_line(plan: ReplayPlan, reason: str, *, dry_run: bool) -> str:
    verb = "would replay" if dry_run else "replayed"
    refuse = "would refuse" if dry_run else "refused"
    return (f"{verb} {plan.replayable:,} {reason} dead letters; {refuse} "
            f"{plan.truncated:,} truncated (they cannot be replayed whole); skipped "
            f"{plan.not_input:,} not from the views or orders topic")
