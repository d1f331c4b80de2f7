"""aiokafka on uvloop against the real broker: a write into a connection that was just
reset is a KafkaConnectionError (which aiokafka retries), never uvloop's RuntimeError.

Each case runs in a fresh interpreter (``tests/common/probes.py``).
"""

from __future__ import annotations

import pytest

from devtools.stack.local import StackAddresses
from tests.common.probes import run_probe

pytestmark = pytest.mark.integration

# Reset the socket, let the loop turn 0-5 times, then send: uvloop closes its handle a
# turn or two before aiokafka's reader sees the reset, and a write in between raised.
PROBE = """
import asyncio, json, sys
import uvloop
from aiokafka.conn import create_conn
from aiokafka.protocol.metadata import MetadataRequest
if sys.argv[2] == "guarded":
    from common.eventloop import use_uvloop
    use_uvloop()

async def probe():
    host, port = sys.argv[1].split(",")[0].rsplit(":", 1)
    seen = []
    for turns in range(6):
        conn = await create_conn(host, int(port))
        conn._writer.transport.abort()
        for _ in range(turns):
            await asyncio.sleep(0)
        try:
            await conn.send(MetadataRequest([]))
            seen.append("sent")
        except Exception as exc:
            seen.append(type(exc).__name__)
        conn.close()
    print(json.dumps(seen))

uvloop.run(probe())
"""


def _probe(stack: StackAddresses, mode: str) -> list[str]:
    return run_probe(PROBE, stack.kafka_bootstrap, mode)


def test_aiokafka_as_shipped_raises_uvloops_error_on_a_reset_connection(
    stack: StackAddresses,
) -> None:
    # The upstream bug the guard exists for; when this fails, aiokafka handles it itself
    # and common/kafka_on_uvloop.py can go.
    assert "RuntimeError" in _probe(stack, "as-shipped")


def test_the_guard_makes_every_write_to_a_reset_connection_a_connection_error(
    stack: StackAddresses,
) -> None:
    assert set(_probe(stack, "guarded")) == {"KafkaConnectionError"}
