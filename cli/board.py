"""``board``: staff commands for what the leaderboards of every screen show."""

from __future__ import annotations

import click

from cli.environment import command_settings
from cli.screens import staff_redis, tell_screens
from common.settings import Settings
from store.client import SyncRedisClient
from store.keys import Keys
from web.hub import CONTROLS


@click.group()
def board() -> None:
    """The venue boards' leaderboards."""


def _known(client: SyncRedisClient, keys: Keys, settings: Settings, session_id: str) -> bool:
    """Whether the catalog lists ``session_id`` or a shard has counted it."""
    if client.hexists(keys.catalog(), session_id):
        return True
    return any(client.sismember(keys.sessions(shard), session_id)
               for shard in range(settings.partitions))


@board.command("hide")
@click.argument("session_id", metavar="SESSION")
def hide(session_id: str) -> None:
    """Take SESSION (a test stream, say) off every leaderboard; it is still counted, so
    the fair's totals do not change."""
    settings = command_settings()
    keys = Keys(settings.key_prefix)
    with staff_redis(settings) as client:
        if not _known(client, keys, settings, session_id):
            raise click.ClickException(f"unknown session {session_id!r}: neither the catalog "
                                       "lists it nor has any event of it been counted")
        client.sadd(keys.hidden_sessions(), session_id)
        processes = tell_screens(client, keys, CONTROLS)
    click.echo(f"session {session_id} hidden from the leaderboards; "
               f"{processes} web process(es) told")


@board.command("unhide")
@click.argument("session_id", metavar="SESSION")
def unhide(session_id: str) -> None:
    """Put SESSION back on the leaderboards."""
    settings = command_settings()
    keys = Keys(settings.key_prefix)
    with staff_redis(settings) as client:
        if not client.srem(keys.hidden_sessions(), session_id):
            raise click.ClickException(f"session {session_id!r} is not hidden")
        processes = tell_screens(client, keys, CONTROLS)
    click.echo(f"session {session_id} back on the leaderboards; "
               f"{processes} web process(es) told")


@board.command("hidden")
def hidden() -> None:
    """List the sessions hidden from the leaderboards."""
    settings = command_settings()
    with staff_redis(settings) as client:
        members = sorted(client.smembers(Keys(settings.key_prefix).hidden_sessions()))
    for session_id in members:
        click.echo(session_id)
    if not members:
        click.echo("no session is hidden", err=True)
