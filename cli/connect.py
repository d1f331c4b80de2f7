"""``ocop-live connect``: feed a session from a platform's own live room."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from cli.environment import command_settings, configure_logging

log = logging.getLogger("cli")


@click.group()
def connect() -> None:
    """Read a live room's events from its platform and publish them for a session."""


@connect.command("tiktok-live")
@click.option("--room", "handle", required=True,
              help="The TikTok account whose LIVE to read, as @handle.")
@click.option("--session", "session_id", required=True,
              help="The session the room's joins and viewer counts count for.")
@click.option("--sign-api-key", envvar="OCOP_TIKTOK_SIGN_API_KEY", default=None,
              show_envvar=True,
              help="API key of TikTokLive's sign server (Euler Stream), when it asks for one.")
def tiktok_live(handle: str, session_id: str, sign_api_key: str | None) -> None:
    """Publish a TikTok LIVE room's joins and viewer counts until Ctrl-C or SIGTERM.

    Unofficial: it reads TikTok's web feed through the community TikTokLive library
    (pip install 'ocop-live[tiktok]'), needs network access, and may need a sign-server
    API key.
    """
    from ingest.tiktok_room import MissingExtra, Room, RoomError, load_library

    if not handle.startswith("@") or len(handle) < 2:
        raise click.BadParameter(f"{handle!r}: give the account as @handle", param_hint="--room")
    try:
        load_library()
    except MissingExtra as exc:
        raise click.ClickException(str(exc)) from exc
    settings = command_settings()
    configure_logging()

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        room = Room(settings, session_id=session_id)
        await room.run(handle=handle, sign_api_key=sign_api_key, stop=stop)
        return room.refused

    try:
        refused = asyncio.run(run())
    except RoomError as exc:
        raise click.ClickException(str(exc)) from exc
    log.info("stopped reading %s for session %s (%d events refused by the contract)",
             handle, session_id, refused)
