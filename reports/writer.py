"""Writes a report into a folder, step by step: read, draw, render, print.

    written = await write_report(settings, out=Path("out"), fair_id="cg-2023-11-25",
                                 now_ms=wall_ms())

The folder gets ``report.html`` (self-contained), ``report.pdf`` and the charts' PNGs.
``progress`` hears each step's name (``STEPS``) as it starts. Chromium is looked for
first, so a missing binary fails before anything is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.settings import Settings
from reports.charts import timeline_pngs
from reports.deadletters import DeadLetterSummary, summarize
from reports.exceptions import UnknownFairError
from reports.figures import Figures, Options, campaign_figures, fair_figures, known_fairs
from reports.page import render
from reports.pdf import CHROMIUM, find_chromium, print_pdf
from reports.timeline import Segment, read_segments
from store.client import redis_client
from store.keys import Keys
from web.reader import StoreReader

STEPS = ("reading the store", "reading the timelines", "reading the dead letters",
         "drawing the charts", "writing the page", "printing the PDF")
# One Redis reply may be a whole campaign's quarter hours: more than the board's 5 s.
SOCKET_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Gathered:
    """Everything a report shows, read."""

    figures: Figures
    segments: list[Segment]
    dead_letters: DeadLetterSummary


@dataclass(frozen=True, slots=True)
class Written:
    """What a report wrote, and what it showed."""

    html: Path
    pdf: Path
    charts: list[Path]
    pages: int
    gathered: Gathered


def _quiet(step: str) -> None:
    """No progress to show."""


async def read_figures(reader: StoreReader, *, now_ms: int, options: Options,
                       fair_id: str | None = None, campaign: bool = False) -> Figures:
    """The figures of ``fair_id`` (None: the fair the board shows now), or the campaign's."""
    rows = await reader.board(now_ms=now_ms, fairs=[fair_id])
    if fair_id is not None and fair_id not in rows.directory.fairs:
        raise UnknownFairError(fair_id, known_fairs(rows))
    if campaign:
        rows = await reader.board(now_ms=now_ms, fairs=list(rows.directory.fairs))
        return campaign_figures(rows, options=options)
    return fair_figures(rows, fair_id or rows.default_fair, options=options)


async def gather(settings: Settings, *, now_ms: int, fair_id: str | None = None,
                 campaign: bool = False, progress: Progress = _quiet) -> Gathered:
    """Read the figures and timelines from Redis, and the dead letters from Kafka."""
    keys = Keys(settings.key_prefix)
    redis = redis_client(settings, decode_responses=True,
                           socket_timeout=SOCKET_TIMEOUT_S,
                           socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        progress(STEPS[0])
        reader = StoreReader(redis, keys=keys, shards=settings.partitions)
        figures = await read_figures(reader, now_ms=now_ms, options=Options.of(settings),
                                     fair_id=fair_id, campaign=campaign)
        progress(STEPS[1])
        segments = await read_segments(redis, keys, figures.spans)
    finally:
        await redis.aclose()
    progress(STEPS[2])
    dead_letters = await summarize(settings, members=figures.members)
    return Gathered(figures, segments, dead_letters)


def write_page(gathered: Gathered, out: Path, *, progress: Progress = _quiet
               ) -> tuple[Path, list[Path]]:
    """Draw the charts and write them and ``report.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    progress(STEPS[3])
    charts = timeline_pngs(gathered.segments)
    paths = []
    for name, data in charts.items():
        path = out / name
        path.write_bytes(data)
        paths.append(path)
    progress(STEPS[4])
    html = out / "report.html"
    html.write_text(render(gathered.figures, charts, gathered.dead_letters), encoding="utf-8")
    return html, paths


async def write_report(settings: Settings, *, out: Path, now_ms: int,
                       fair_id: str | None = None, campaign: bool = False,
                       chromium: Path = CHROMIUM, progress: Progress = _quiet) -> Written:
    """The whole report of a fair (None: the board's default fair) or of the campaign."""
    if fair_id is not None and campaign:
        raise ValueError(f"a report covers one fair ({fair_id!r}) or the campaign, not both")
    find_chromium(chromium)
    gathered = await gather(settings, now_ms=now_ms, fair_id=fair_id, campaign=campaign,
                            progress=progress)
    html, charts = write_page(gathered, out, progress=progress)
    progress(STEPS[5])
    pdf = out / "report.pdf"
    pages = await print_pdf(html, pdf, chromium=chromium)
    return Written(html=html, pdf=pdf, charts=charts, pages=pages, gathered=gathered)
