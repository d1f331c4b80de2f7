"""The report's revenue and views timelines as PNG charts (matplotlib's Agg canvas).

One fair: its quarter hours on a clock axis. The campaign: each fair day's quarter hours
side by side, a gap and a date between days, so a reader sees both how the campaign went
and how a fair day goes. ``chart_data`` (pure) decides what is drawn; ``draw`` draws it.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from reports.formats import format_clock, format_day, format_headline
from reports.timeline import Segment

Field = Literal["gmv_vnd", "views"]
# Empty quarter-hour slots between two fair days on the campaign's chart.
GAP = 3
# At most this many clock labels under one fair's chart (a 14-hour day: every 2 hours).
MAX_CLOCK_TICKS = 8
_HOUR_MS = 3_600_000
# 7.2 in at 150 dpi: sharp at the A4 text width, small enough to embed.
SIZE_IN = (7.2, 2.3)
DPI = 150
COLORS = {"gmv_vnd": "#c07a00", "views": "#1f6fa8"}
UNITS = {"gmv_vnd": "₫ mỗi 15 phút", "views": "lượt xem mỗi 15 phút"}
EMPTY = "Chưa có số liệu"


@dataclass(frozen=True, slots=True)
class ChartData:
    """Bars at ``x`` of height ``y``; ``breaks`` fall between two fair days."""

    x: list[int]
    y: list[int]
    ticks: list[float]
    labels: list[str]
    breaks: list[float]


def chart_data(segments: list[Segment], field: Field) -> ChartData:
    """The bars of ``field`` over the segments: a clock axis for one, dates for more."""
    if len(segments) == 1:
        segment = segments[0]
        hours = [i for i, q in enumerate(segment.quarters) if q % _HOUR_MS == 0]
        every = max(1, math.ceil(len(hours) / MAX_CLOCK_TICKS))
        shown = hours[::every]
        return ChartData(x=list(range(len(segment.quarters))), y=list(getattr(segment, field)),
                         ticks=[float(i) for i in shown],
                         labels=[format_clock(segment.quarters[i]) for i in shown], breaks=[])
    data = ChartData(x=[], y=[], ticks=[], labels=[], breaks=[])
    position = 0
    for segment in segments:
        n = len(segment.quarters)
        if position:
            data.breaks.append(position - (GAP + 1) / 2)
        data.x.extend(range(position, position + n))
        data.y.extend(getattr(segment, field))
        data.ticks.append(position + (n - 1) / 2)
        data.labels.append(format_day(segment.quarters[0]) if n else "")
        position += n + GAP
    return data


def draw(data: ChartData, field: Field) -> bytes:
    """The chart as PNG bytes."""
    figure = Figure(figsize=SIZE_IN, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(data.x, data.y, width=0.85, color=COLORS[field], linewidth=0)
    for at in data.breaks:
        axes.axvline(at, color="#c9d1d9", linewidth=0.8)
    axes.set_xticks(data.ticks, data.labels, fontsize=7,
                    rotation=45 if len(data.labels) > 12 else 0)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_headline(round(v))))
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylabel(UNITS[field], fontsize=7, color="#55616d")
    axes.grid(axis="y", color="#e6eaee", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if data.x:
        axes.set_xlim(min(data.x) - 1, max(data.x) + 1)
    if not any(data.y):
        axes.set_ylim(0, 1)
        axes.text(0.5, 0.5, EMPTY, transform=axes.transAxes, ha="center", va="center",
                  fontsize=9, color="#55616d")
    figure.tight_layout(pad=0.4)
    out = io.BytesIO()
    # No "Software" stamp: the same figures give the same bytes.
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def timeline_pngs(segments: list[Segment]) -> dict[str, bytes]:
    """``revenue.png`` and ``views.png`` of the segments."""
    return {"revenue.png": draw(chart_data(segments, "gmv_vnd"), "gmv_vnd"),
            "views.png": draw(chart_data(segments, "views"), "views")}
