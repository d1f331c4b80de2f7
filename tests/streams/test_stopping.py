"""A worker whose stop hangs ends its process, so the service manager can start another."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

import pytest

from devtools.stack.local import StackAddresses
from streams.stopping import EXIT_CODE, exit_unless_stopped


def test_the_deadline_ends_the_process_with_its_code() -> None:
    codes: list[int] = []
    ended = threading.Event()

    def end(code: int) -> None:
        codes.append(code)
        ended.set()

    exit_unless_stopped(0.05, what="the test", end=end)
    assert ended.wait(30)
    assert codes == [EXIT_CODE]


# A faust app on the real broker whose timer crashes it (as the stall sweep did) and
# one of whose services never finishes stopping (as the consumer's commit did).
APP = """
import asyncio, sys
import faust, mode
from streams import stopping
stopping.STOP_DEADLINE_S = 3.0

app = faust.App(sys.argv[2], broker="kafka://" + sys.argv[1], web_enabled=False)

@app.service
class Stuck(mode.Service):
    async def on_stop(self):
        await asyncio.sleep(3600)

@app.timer(interval=1.0)
async def crash():
    raise RuntimeError("escaped from a task")

stopping.DeadlineWorker(app, loglevel="info").execute_from_commandline()
"""


@pytest.mark.integration
def test_a_crashed_worker_whose_stop_hangs_exits(stack: StackAddresses) -> None:
    result = subprocess.run(
        [sys.executable, "-c", APP, stack.kafka_bootstrap, f"stop-{uuid.uuid4().hex[:8]}",
         "worker"], capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == EXIT_CODE, result.stderr[-3000:]
    assert "did not stop within 3 s" in result.stderr
