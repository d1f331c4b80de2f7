"""``screens``: staff commands for the venue screens of every web process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from redis.exceptions import RedisError

from cli.environment import command_settings
from common.clock import wall_ms
from common.settings import Settings
from store.client import SyncRedisClient, redis_client_sync
from store.keys import Keys
from store.windows import FAIR_TZ
from web.hub import CONTROLS, MAX_MESSAGE_CHARS, RELOAD

# A web process says it is there every OCOP_HEARTBEAT_S; one silent this long is gone.
PROCESS_GONE_S = 30
# "90s", "5m", "1h30m": what staff type after --for.
_DURATION = re.compile(r"(?:(\d{1,4})h)?(?:(\d{1,5})m)?(?:(\d{1,6})s)?")


@contextmanager
def staff_redis(settings: Settings) -> Iterator[SyncRedisClient]:
    """A Redis client for one command; a failure names the setting, not the URL."""
    client = redis_client_sync(settings, decode_responses=True)
    try:
        yield client
    except RedisError as exc:
        # The URL may carry a password, so the message names the setting instead.
        raise click.ClickException(f"cannot reach Redis (OCOP_REDIS_URL): {exc}") from exc
    finally:
        client.close()


def tell_screens(client: SyncRedisClient, keys: Keys, command: str) -> int:
    """Count ``command`` for every web process to act on (each polls the counts every
    OCOP_CHANGE_POLL_S); returns how many processes said they were there lately."""
    client.hincrby(keys.screens_commands(), command, 1)
    now = wall_ms()
    seen = client.hgetall(keys.web_processes())
    return sum(1 for at in seen.values()
               if str(at).isdecimal() and now - int(at) <= PROCESS_GONE_S * 1000)


def parse_duration(text: str) -> int:
    """Seconds in ``text`` ("90s", "5m", "1h30m"); ``click.BadParameter`` naming it."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise click.BadParameter(f"{text!r} is not a duration such as 90s, 5m or 1h30m",
                                 param_hint="--for")
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + secs
    if total <= 0:
        raise click.BadParameter(f"{text!r} is no time at all", param_hint="--for")
    return total


@click.group()
def screens() -> None:
    """Venue screens shown by the web processes."""


@screens.command("reload")
def reload() -> None:
    """Make every screen of every web process reload its page (after a deploy, say)."""
    settings = command_settings()
    with staff_redis(settings) as client:
        processes = tell_screens(client, Keys(settings.key_prefix), RELOAD)
    click.echo(f"asked {processes} web process(es) to reload their screens")


def _clock(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(FAIR_TZ).strftime(
        "%Y-%m-%d %H:%M:%S")


@screens.command("list")
def list_screens() -> None:
    """Each configured screen (OCOP_SCREENS), its last contact with any web process and
    how long ago that was; "stale" past OCOP_WEB_SCREEN_STALE_S."""
    settings = command_settings()
    names = settings.screen_names
    if not names:
        raise click.ClickException("no screens are configured: set OCOP_SCREENS, e.g. "
                                   "OCOP_SCREENS=stage-left,stage-right,entrance")
    with staff_redis(settings) as client:
        seen = client.hmget(Keys(settings.key_prefix).screens_seen(), list(names))
    now = wall_ms()
    width = max(len(name) for name in names)
    click.echo(f"{'SCREEN':<{width}}  {'LAST CONTACT (ICT)':<19}  STALENESS")
    for name, value in zip(names, seen, strict=True):
        if value is None:
            click.echo(f"{name:<{width}}  {'never':<19}  -")
            continue
        at_ms = int(value)
        age_s = max(0, now - at_ms) / 1000
        state = "stale" if age_s > settings.web_screen_stale_s else "ok"
        click.echo(f"{name:<{width}}  {_clock(at_ms):<19}  {age_s:.0f} s ({state})")


@screens.command("message")
@click.argument("text", required=False)
@click.option("--for", "lasting", metavar="DURATION",
              help="How long the message stays up (90s, 5m, 1h30m); default: until cleared.")
@click.option("--clear", is_flag=True, help="Take the message down.")
def message(text: str | None, lasting: str | None, clear: bool) -> None:
    """Put TEXT up as a banner on every screen of every web process (or --clear it)."""
    if clear == (text is not None):
        raise click.UsageError("give either a message TEXT or --clear")
    if clear and lasting is not None:
        raise click.UsageError("--for goes with a message TEXT, not with --clear")
    seconds = None if lasting is None else parse_duration(lasting)
    settings = command_settings()
    keys = Keys(settings.key_prefix)
    if text is not None:
        text = text.strip()
        if not text or len(text) > MAX_MESSAGE_CHARS:
            raise click.BadParameter(f"the message has {len(text)} characters; it needs 1 to "
                                     f"{MAX_MESSAGE_CHARS}", param_hint="TEXT")
    with staff_redis(settings) as client:
        if text is None:
            client.delete(keys.screens_message())
        else:
            until = None if seconds is None else wall_ms() + seconds * 1000
            client.set(keys.screens_message(),
                       json.dumps({"text": text, "until_ms": until}, ensure_ascii=False),
                       ex=seconds)
        processes = tell_screens(client, keys, CONTROLS)
    shown = "taken down" if text is None else (
        "up until cleared" if seconds is None else f"up for {seconds} s")
    click.echo(f"message {shown}; {processes} web process(es) told")
