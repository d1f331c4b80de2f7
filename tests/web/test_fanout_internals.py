"""The websockets internals ``web/fanout.py`` relies on are still there.

The fanout serializes a frame once and writes the same bytes to every socket's transport
(websockets has no public call for that). If an upgrade renames what it reads, these
tests name the attribute instead of the board silently going blank.
"""

from __future__ import annotations

import asyncio
import inspect

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame
from websockets.protocol import State

from tests.conftest import seconds
from web.fanout import SERVER_EXTENSIONS, Fanout


def _missing(obj: object, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not hasattr(obj, name)]


async def test_a_served_connection_still_has_what_the_fanout_reads() -> None:
    accepted: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(connection: ServerConnection) -> None:
        await accepted.put(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, extensions=SERVER_EXTENSIONS) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as client:
            connection = await asyncio.wait_for(accepted.get(), seconds(10))
            missing = _missing(connection, ("transport", "protocol", "send_in_progress"))
            assert not missing, f"websockets' ServerConnection lost {missing} (web/fanout.py)"
            assert connection.protocol.state is State.OPEN
            assert hasattr(connection.transport, "get_write_buffer_size")
            (extension,) = connection.protocol.extensions
            assert isinstance(extension, PerMessageDeflate)
            missing = _missing(extension, ("local_no_context_takeover", "local_max_window_bits",
                                           "compress_settings"))
            assert not missing, f"PerMessageDeflate lost {missing} (web/fanout.frame_key)"
            # The shared-frame path end to end: the client reads what was written raw.
            assert Fanout(page="board").send([connection], '{"n":1}', kind="change") == 1
            assert await asyncio.wait_for(client.recv(), seconds(10)) == '{"n":1}'


def test_frames_still_serialize_with_the_arguments_the_fanout_passes() -> None:
    parameters = inspect.signature(Frame.serialize).parameters
    missing = [name for name in ("mask", "extensions") if name not in parameters]
    assert not missing, f"websockets' Frame.serialize lost the keyword(s) {missing}"
