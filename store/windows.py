"""Event-time buckets: minutes, the Asia/Ho_Chi_Minh day, and the board's windows."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
QUARTER_MS = 15 * MINUTE_MS
FAIR_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# The board's rolling windows, in minutes, ending with the current minute.
WINDOW_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "60m": 60}


def minute_of(ts_ms: int) -> int:
    """Start of the minute holding ``ts_ms``, in epoch ms."""
    return ts_ms - ts_ms % MINUTE_MS


def quarter_of(ts_ms: int) -> int:
    """Start of the quarter hour holding ``ts_ms``, in epoch ms."""
    return ts_ms - ts_ms % QUARTER_MS


@lru_cache(maxsize=4096)
def _day_of_minute(minute_ms: int) -> str:
    return datetime.fromtimestamp(minute_ms / 1000, tz=FAIR_TZ).date().isoformat()


def local_day(ts_ms: int) -> str:
    """The fair's calendar day (Asia/Ho_Chi_Minh) of ``ts_ms`` as YYYY-MM-DD."""
    # Cached per minute: every event of a minute shares its day, and the zone lookup is
    # the slow part.
    return _day_of_minute(minute_of(ts_ms))


def window_minutes(now_ms: int, minutes: int) -> list[int]:
    """The ``minutes`` minute starts that end with the minute of ``now_ms``, oldest first."""
    last = minute_of(now_ms)
    return [last - i * MINUTE_MS for i in range(minutes - 1, -1, -1)]


def iso_utc(ts_ms: int) -> str:
    """RFC 3339 UTC text for ``ts_ms`` (for logs and payloads people read)."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
