"""A worker that stops within a deadline, or ends its process.

faust stops the whole worker when something escapes its tasks (the count agent's
``CrashingSupervisor``, a timer), and on SIGTERM; the service manager then starts a new
one, which resumes from Redis. A stop that hangs defeats that: a crash while a Redis
master was down left a worker stopping for over five minutes, its consumer waiting on an
offset commit, counting nothing and never restarted (``tests/chaos``). Nothing a stopping
worker still holds is needed: Redis has every applied batch with its offsets.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import faust

log = logging.getLogger(__name__)

# faust's own stop (agents, consumer commit, leaving the group) takes a few seconds.
STOP_DEADLINE_S = 30.0
# EX_SOFTWARE: the process did not end as it should have.
EXIT_CODE = 70


def exit_unless_stopped(after_s: float, *, what: str,
                        end: Callable[[int], None] = os._exit) -> threading.Timer:
    """Start a daemon timer that ends the process after ``after_s`` unless it has ended
    by then; ``end`` is the exit, replaceable in tests."""
    def expire() -> None:
        log.critical("%s did not stop within %.0f s (a shutdown step hung); exiting with "
                     "code %d so the service manager starts a new one, which resumes from "
                     "Redis", what, after_s, EXIT_CODE)
        end(EXIT_CODE)

    timer = threading.Timer(after_s, expire)
    timer.daemon = True
    timer.start()
    return timer


class DeadlineWorker(faust.Worker):
    """faust's worker, whose stop ends the process if it has not ended within
    :data:`STOP_DEADLINE_S`.

    Usage::

        DeadlineWorker(app, loglevel="info").execute_from_commandline()
    """

    async def stop(self) -> None:
        """Stop as faust does, under the deadline. The timer is left running: what
        follows the stop (closing the loop) may hang too, and a daemon timer ends with
        the process."""
        exit_unless_stopped(STOP_DEADLINE_S, what="the worker")
        await super().stop()
