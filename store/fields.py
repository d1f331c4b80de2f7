"""Field names of the store's hashes, and the composite field formats, spelled once.

The write side (``streams/``) writes these fields and the read side (``web/``) reads
them back; both take the names from here, never from each other.
"""

from __future__ import annotations

# Counters of a session, of a shard's totals and of a time bucket (minute, day).
VIEWS = "views"
ORDERS = "orders"
UNITS = "units"
GMV = "gmv_vnd"
VIEWERS_NOW = "viewers_now"
COUNT_FIELDS = (VIEWS, ORDERS, UNITS, GMV)

# A session's live-viewer state: joins minus leaves, and the peak with its event time;
# for a session whose platform reports counts, its latest count and that count's event
# time (empty while it has none), which viewers now and the peak then follow.
NET = "net"
PEAK = "peak"
PEAK_AT = "peak_at"
VIEWERS_COUNT = "viewers_count"
VIEWERS_COUNT_AT = "viewers_count_at"
LIVE_FIELDS = (NET, PEAK, PEAK_AT, VIEWERS_COUNT, VIEWERS_COUNT_AT)

# Newest event time (epoch ms) a session counted: "live now" includes a session that
# counted an event within OCOP_LIVE_GRACE_S, whatever its schedule says.
LAST_AT = "last_at"

# The error in a stopped shard's mark (``Keys.stopped``); streams/apply.lua writes it
# (with ``batch``, the failed batch's fence), so the script spells it too.
STOPPED_ERROR = "error"

_PRODUCT = "p"
_SEP = "|"


def session_field(session_id: str, name: str) -> str:
    """Field of a minute or day hash that holds one session's counter."""
    return f"{session_id}{_SEP}{name}"


def product_field(product_id: str, name: str) -> str:
    """Field of a session hash that holds one product's counter (``UNITS`` or ``GMV``)."""
    return f"{_PRODUCT}{_SEP}{product_id}{_SEP}{name}"


def product_of(field: str, name: str) -> str | None:
    """The product id of a ``product_field(..., name)`` field; None for any other field."""
    head, tail = f"{_PRODUCT}{_SEP}", f"{_SEP}{name}"
    if field.startswith(head) and field.endswith(tail) and len(field) > len(head) + len(tail):
        return field[len(head):-len(tail)]
    return None
