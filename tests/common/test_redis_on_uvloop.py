"""redis-py on uvloop against the real Redis: a write into a connection that was just
reset is redis-py's ConnectionError (which its callers retry), never uvloop's
RuntimeError.

Each case runs in a fresh interpreter (``tests/common/probes.py``).
"""

from __future__ import annotations

import pytest

from devtools.stack.local import StackAddresses
from tests.common.probes import run_probe

pytestmark = pytest.mark.integration

# Reset the socket, let the loop turn 0-5 times, then send (a reconnect's handshake
# written into a socket the server had just reset, as when a cluster master dies).
PROBE = """
import asyncio, json, sys
import uvloop
from redis.asyncio import Redis
if sys.argv[2] == "guarded":
    from common.eventloop import use_uvloop
    use_uvloop()

async def probe():
    seen = []
    for turns in range(6):
        client = Redis.from_url(sys.argv[1])
        conn = await client.connection_pool.get_connection()
        conn._writer.transport.abort()
        for _ in range(turns):
            await asyncio.sleep(0)
        try:
            await conn.send_command("PING")
            seen.append("sent")
        except Exception as exc:
            seen.append(type(exc).__name__)
        await conn.disconnect()
        await client.aclose()
    print(json.dumps(seen))

uvloop.run(probe())
"""


def _probe(stack: StackAddresses, mode: str) -> list[str]:
    return run_probe(PROBE, stack.redis_url, mode)


def test_redis_py_as_shipped_raises_uvloops_error_on_a_reset_connection(
    stack: StackAddresses,
) -> None:
    # The upstream behaviour the guard exists for; when this fails, redis-py handles it
    # itself and common/redis_on_uvloop.py can go.
    assert "RuntimeError" in _probe(stack, "as-shipped")


def test_the_guard_makes_every_write_to_a_reset_connection_a_connection_error(
    stack: StackAddresses,
) -> None:
    assert set(_probe(stack, "guarded")) == {"ConnectionError"}
