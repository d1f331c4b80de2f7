"""The faust app the worker counts with, and the consumer tuning faust does not expose.

``consumer_app`` is shared by the worker and the bench's do-nothing faust agent, so the
floor it measures is faust configured exactly as the worker configures it.

faust-streaming's aiokafka driver creates its consumer with ``fetch_max_wait_ms=1500``.
Measured on the live bench rig at 4,000 events/s: with that value a fetch that found the
partitions drained is held at the broker for up to 1.5 s while new events arrive, the
drain loop's ``getmany`` returns nothing for a whole second, and every event reaches the
worker 1-2 s late (lag 1.0-2.3 s). Bounding the wait to 50 ms cut the lag to 0.06-0.3 s
at the same load. An idle worker then asks the broker 20 times a second: cheap.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import faust

from common.settings import Settings

log = logging.getLogger(__name__)


def consumer_app(settings: Settings, *, datadir_prefix: str, **options: Any) -> faust.App:
    """A faust app on the configured broker with the worker's consumer settings.

    ``options`` adds faust settings of the caller's own (web server, group timeouts).
    """
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        # faust writes a data folder even with the memory store; keep it out of the tree.
        datadir=Path(tempfile.gettempdir()) / f"{datadir_prefix}-{settings.app_id}",
        producer_linger=0.005,
        **options,
    )
    bound_fetch_wait(app, settings.fetch_max_wait_ms)
    return app


def bound_fetch_wait(app: faust.App, max_wait_ms: int) -> None:
    """Cap how long the broker may hold this app's fetch requests, from the first assignment.

    faust has no setting for it, so the value is set on the aiokafka fetcher once the
    consumer exists (it is created on start, before any partition is assigned).
    """

    @app.on_partitions_assigned.connect
    async def _cap(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        fetcher, problem = _fetcher(app)
        if problem is not None:
            log.warning("cannot bound the broker's fetch wait: %s. Fetches keep faust's 1.5 s "
                        "wait and events may reach the worker late; pin faust-streaming and "
                        "aiokafka to the versions in pyproject.toml", problem)
            return
        fetcher._fetch_max_wait_ms = max_wait_ms

    del _cap


def fetch_wait_ms(app: faust.App) -> int | None:
    """The broker wait the app's fetcher uses now (None before the consumer exists)."""
    fetcher, problem = _fetcher(app)
    return None if problem is not None else int(fetcher._fetch_max_wait_ms)


def fetch_wait_problem(app: faust.App) -> str | None:
    """None while the fetch wait can be set; else which library internal is missing."""
    return _fetcher(app)[1]


# faust's aiokafka driver → its consumer thread → aiokafka's consumer → its fetcher.
_FETCHER_PATH = ("_thread", "_consumer", "_fetcher")
_WAIT = "_fetch_max_wait_ms"


def _fetcher(app: faust.App) -> tuple[Any, str | None]:
    """aiokafka's fetcher inside faust's consumer, or None and what is missing on the way."""
    node: Any = app.consumer
    where = "faust app.consumer"
    for name in _FETCHER_PATH:
        node = getattr(node, name, None)
        where = f"{where}.{name}"
        if node is None:
            return None, f"{where} is missing (not started yet, or moved by an upgrade)"
    if not isinstance(getattr(node, _WAIT, None), int):
        return None, f"{where} has no integer {_WAIT} (moved by an aiokafka upgrade)"
    return node, None
