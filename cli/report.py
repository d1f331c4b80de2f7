"""``report``: what an organiser sends to partners after a fair (reports/ writes it)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from redis.exceptions import RedisError

from cli.environment import command_settings, configure_logging
from common.clock import wall_ms
from reports.exceptions import ChromiumMissing, PrintFailed, UnknownFairError
from reports.pdf import CHROMIUM, find_chromium

if TYPE_CHECKING:
    from reports.writer import Written


@click.command()
@click.option("--fair", "fair_id", metavar="ID",
              help="The fair to report on [the fair the board shows now].")
@click.option("--campaign", is_flag=True, help="Report on the whole campaign instead.")
@click.option("--out", required=True, metavar="DIR",
              type=click.Path(file_okay=False, writable=True, path_type=Path),
              help="Folder for report.html, report.pdf and the charts (made if missing).")
@click.option("--chromium", type=click.Path(dir_okay=False, path_type=Path),
              default=CHROMIUM, show_default=True, help="The Chromium that prints the PDF.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report(fair_id: str | None, campaign: bool, out: Path, chromium: Path,
           quiet: bool) -> None:
    """Write a fair's report (or the campaign's): a self-contained HTML page, its PDF
    printed by Chromium on A4, and the revenue and views charts as PNGs.

    The figures are the board's, read from the same Redis; the dead-letter summary comes
    from Kafka (without Kafka the report says so and is written anyway).
    """
    if fair_id is not None and campaign:
        raise click.UsageError("--fair and --campaign exclude each other: a report covers "
                               "one fair or the whole campaign")
    # Imported here, not at the top: matplotlib and the read side are this command's
    # alone, and every other process (the worker first) would load them at start.
    from reports.writer import STEPS, write_report

    settings = command_settings()
    configure_logging()
    try:
        # Before the progress bar: a missing Chromium is said alone, at once.
        find_chromium(chromium)
        with click.progressbar(length=len(STEPS), label="report", file=sys.stderr,
                               hidden=quiet, item_show_func=lambda step: step) as bar:
            begun: list[str] = []

            def step(name: str) -> None:
                bar.update(1 if begun else 0, name)
                begun.append(name)

            written = asyncio.run(write_report(settings, out=out, now_ms=wall_ms(),
                                               fair_id=fair_id, campaign=campaign,
                                               chromium=chromium, progress=step))
            bar.update(1, "done")
    except UnknownFairError as exc:
        raise click.BadParameter(str(exc), param_hint="--fair") from None
    except (ChromiumMissing, PrintFailed) as exc:
        raise click.ClickException(str(exc)) from None
    except (RedisError, TimeoutError) as exc:
        raise click.ClickException(
            f"cannot read the store from Redis (OCOP_REDIS_URL): {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the report into {out}: {exc}") from None
    _describe(written)


def _describe(written: Written) -> None:
    figures = written.gathered.figures
    what = "the campaign" if figures.fair_id is None else f"fair {figures.fair_id}"
    click.echo(f"report of {what}: {written.html}, {written.pdf} ({written.pages} pages), "
               f"{', '.join(str(p) for p in written.charts)}")
