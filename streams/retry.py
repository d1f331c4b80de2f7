"""Retry a call to a service the write path cannot go on without, until it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def until_answered(
    call: Callable[[], Awaitable[T]], *, errors: tuple[type[BaseException], ...], what: str,
    service: str, setting: str, first_delay_s: float = 0.05, max_delay_s: float = 5.0,
    on_error: Callable[[], None] | None = None,
) -> T:
    """``call()``, retried with a doubling pause (up to ``max_delay_s``) on ``errors``.

    Each failure is logged with what was being done and which setting names the service,
    e.g. ``until_answered(load, errors=(RedisError,), what="load shard 3",
    service="Redis", setting="OCOP_REDIS_URL")``.
    """
    delay = first_delay_s
    while True:
        try:
            return await call()
        except errors as exc:
            if on_error is not None:
                on_error()
            log.error("%s call failed (%s: %s) while trying to %s; retrying in %.2f s. "
                      "Check that %s at %s is up.", service, type(exc).__name__, exc, what,
                      delay, service, setting)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
