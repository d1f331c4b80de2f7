"""Timelines → what the charts draw (pure), and the PNGs themselves."""

from __future__ import annotations

import struct

from reports.charts import DPI, GAP, SIZE_IN, chart_data, draw, timeline_pngs
from reports.timeline import Segment
from store.windows import QUARTER_MS

EIGHT = 1_700_874_000_000  # 2023-11-25 08:00 in Asia/Ho_Chi_Minh
DAY = 86_400_000


def _segment(start: int, n: int, fair: str = "f") -> Segment:
    return Segment(fair, [start + i * QUARTER_MS for i in range(n)],
                   [1000 * i for i in range(n)], [i % 5 for i in range(n)])


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_one_fair_has_a_clock_axis_every_hour_or_two() -> None:
    short = chart_data([_segment(EIGHT, 16)], "gmv_vnd")  # 08:00 to 12:00
    assert short.x == list(range(16))
    assert short.y == [1000 * i for i in range(16)]
    assert short.labels == ["08:00", "09:00", "10:00", "11:00"]
    assert short.ticks == [0, 4, 8, 12]
    assert short.breaks == []
    # 14.5 hours: 15 whole hours is too many labels, so every other one.
    day = chart_data([_segment(EIGHT, 58)], "views")
    assert day.labels == ["08:00", "10:00", "12:00", "14:00", "16:00", "18:00", "20:00",
                          "22:00"]


def test_the_campaign_puts_fair_days_side_by_side_with_their_dates() -> None:
    data = chart_data([_segment(EIGHT, 4, "a"), _segment(EIGHT + 14 * DAY, 2, "b")], "views")
    assert data.x == [0, 1, 2, 3, 4 + GAP, 5 + GAP]
    assert data.y == [0, 1, 2, 3, 0, 1]
    assert data.labels == ["25/11", "09/12"]
    assert data.ticks == [1.5, 4 + GAP + 0.5]
    # Halfway between the last bar of one day and the first of the next.
    assert data.breaks == [(3 + 4 + GAP) / 2]


def test_charts_are_pngs_of_the_same_size_even_without_data() -> None:
    size = (round(SIZE_IN[0] * DPI), round(SIZE_IN[1] * DPI))
    pngs = timeline_pngs([_segment(EIGHT, 8)])
    assert set(pngs) == {"revenue.png", "views.png"}
    assert {_png_size(data) for data in pngs.values()} == {size}
    assert _png_size(draw(chart_data([], "gmv_vnd"), "gmv_vnd")) == size
    # The same figures draw the same bytes (no timestamp in the file).
    assert timeline_pngs([_segment(EIGHT, 8)]) == pngs
