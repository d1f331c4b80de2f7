"""``screens``: staff commands for the venue screens of every web process."""

from __future__ import annotations

import click
import redis
from redis.exceptions import RedisError

from cli.environment import command_settings
from store.keys import Keys
from web.hub import RELOAD


@click.group()
def screens() -> None:
    """Venue screens shown by the web processes."""


@screens.command("reload")
def reload() -> None:
    """Make every screen of every web process reload its page (after a deploy, say)."""
    settings = command_settings()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        processes = int(client.publish(Keys(settings.key_prefix).screens(), RELOAD))
    except RedisError as exc:
        # The URL may carry a password, so the message names the setting instead.
        raise click.ClickException(f"cannot reach Redis (OCOP_REDIS_URL): {exc}") from exc
    finally:
        client.close()
    click.echo(f"asked {processes} web process(es) to reload their screens")
