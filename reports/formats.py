"""Numbers, money and times written as the board writes them (``web/static/shared.js``).

A partner reads the same "100,4 tỷ ₫" in the report as on the venue screen, so these
mirror the board's functions digit for digit, rounding included. Both of the board's
roundings go half away from zero (``ROUND_HALF_UP`` here), but from different decimals:
``Number.prototype.toFixed`` rounds the exact binary value (1.15 is 1.1499… and gives
1.1), Chromium's ``Intl.NumberFormat`` the shortest decimal that reads back as the same
number, which is Python's ``repr`` (1.15 gives 1.2).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from store.windows import FAIR_TZ

DASH = "—"
# Between the two ends of a span of time, as the board writes them.
EN_DASH = "\N{EN DASH}"
_THOUSANDS = re.compile(r"\B(?=(\d{3})+(?!\d))")


def group_thousands(digits: str) -> str:
    """Dots between thousands, the Vietnamese way: ``1234567`` → ``1.234.567``."""
    return _THOUSANDS.sub(".", digits)


def _to_fixed(x: float, digits: int) -> str:
    """``x.toFixed(digits)`` as JavaScript writes it: the exact binary value, rounded."""
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _intl(x: float, digits: int) -> str:
    """``x`` with at most ``digits`` decimals as ``Intl.NumberFormat`` rounds it: the
    shortest decimal of ``x``, rounded."""
    return str(Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _decimal_comma(text: str) -> str:
    """``"1234.50"`` → ``"1.234,5"``: grouped, decimal comma, trailing zeros dropped."""
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    kept = frac.rstrip("0")
    return sign + group_thousands(whole) + ("," + kept if kept else "")


def format_count(n: int) -> str:
    """A whole count: ``12.345`` (the board's ``formatCount``)."""
    sign = "-" if n < 0 else ""
    return sign + group_thousands(str(abs(n)))


def format_scaled(x: float) -> str:
    """About three significant digits: ``1,25`` / ``12,5`` / ``850`` (``formatScaled``)."""
    digits = 2 if x < 10 else 1 if x < 100 else 0
    return _decimal_comma(_to_fixed(x, digits))


def format_vnd(n: int) -> str:
    """An amount: ``1,25 tỷ ₫`` · ``850 triệu ₫`` · ``12.500 ₫`` (the board's ``formatVnd``)."""
    sign = "-" if n < 0 else ""
    v = abs(n)
    # 999,5 triệu would round to "1.000 triệu", so it already reads as tỷ.
    if v >= 999_500_000:
        return f"{sign}{format_scaled(v / 1e9)} tỷ ₫"
    if v >= 1_000_000:
        return f"{sign}{format_scaled(v / 1e6)} triệu ₫"
    return f"{sign}{group_thousands(str(v))} ₫"


def format_headline(n: int) -> str:
    """A headline figure, one decimal at most: ``100,4 tỷ`` · ``301 triệu`` · ``812``."""
    v = abs(n)
    # 999,96 triệu would round to "1.000 triệu", so it already reads as tỷ.
    if v >= 999_950_000:
        return f"{_decimal_comma(_intl(n / 1e9, 1))} tỷ"
    if v >= 999_950:
        return f"{_decimal_comma(_intl(n / 1e6, 1))} triệu"
    return format_count(n)


def format_campaign(*, sessions: int, provinces: int, views: int, gmv_vnd: int) -> str:
    """The organisers' headline: ``812 phiên · 14 tỉnh · 301 triệu lượt xem · 100,4 tỷ ₫``."""
    return (f"{format_count(sessions)} phiên · {format_count(provinces)} tỉnh · "
            f"{format_headline(views)} lượt xem · {format_headline(gmv_vnd)} ₫")


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, FAIR_TZ)


def format_clock(ms: int | None) -> str:
    """``HH:MM`` in Asia/Ho_Chi_Minh; ``--:--`` when unknown."""
    return "--:--" if ms is None else _local(ms).strftime("%H:%M")


def format_date(ms: int | None) -> str:
    """``DD/MM/YYYY`` in Asia/Ho_Chi_Minh; a dash when unknown."""
    return DASH if ms is None else _local(ms).strftime("%d/%m/%Y")


def format_day(ms: int) -> str:
    """``DD/MM`` in Asia/Ho_Chi_Minh: a fair day on a chart's axis."""
    return _local(ms).strftime("%d/%m")


def format_moment(ms: int | None) -> str:
    """``DD/MM/YYYY HH:MM`` in Asia/Ho_Chi_Minh; a dash when unknown."""
    return DASH if ms is None else _local(ms).strftime("%d/%m/%Y %H:%M")


def format_slot(start_ms: int | None, end_ms: int | None) -> str:
    """A session's slot in its fair day, its clock times joined by an en dash (09:30 to
    11:00); a dash when unknown."""
    if start_ms is None or end_ms is None:
        return DASH
    return f"{format_clock(start_ms)}{EN_DASH}{format_clock(end_ms)}"


def format_hours(start_ms: int | None, end_ms: int | None) -> str:
    """A fair's hours: its day and slot (``25/11/2023`` 08:00 to 22:30) when it starts and
    ends on one day, else both moments."""
    if start_ms is None or end_ms is None:
        return DASH
    if format_date(start_ms) == format_date(end_ms):
        return f"{format_date(start_ms)} {format_slot(start_ms, end_ms)}"
    return f"{format_moment(start_ms)} {EN_DASH} {format_moment(end_ms)}"
