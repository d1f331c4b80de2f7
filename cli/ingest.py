"""``ocop-live ingest``: run the HTTP gateway, and manage its per-source keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from cli.environment import command_settings, configure_logging
from common.eventloop import use_uvloop
from ingest.keys import KeyNameTaken, KeyStore
from store.client import redis_client
from store.keys import Keys

_T = TypeVar("_T")


@click.group(invoke_without_command=True)
@click.pass_context
def ingest(context: click.Context) -> None:
    """Run the HTTP ingest gateway (POST /v1/events, /v1/webhooks/SOURCE) on OCOP_INGEST_PORT."""
    if context.invoked_subcommand is not None:
        return
    from ingest.app import run_ingest
    from ingest.webhooks import SourceError

    settings = command_settings()
    configure_logging()
    use_uvloop()
    try:
        run_ingest(settings)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc


def _with_store(use: Callable[[KeyStore], Awaitable[_T]]) -> _T:
    settings = command_settings()

    async def run() -> _T:
        redis = redis_client(settings)
        try:
            return await use(KeyStore(redis, Keys(settings.key_prefix)))
        finally:
            await redis.aclose()

    return asyncio.run(run())


@ingest.group()
def keys() -> None:
    """Per-source keys (stored hashed in Redis)."""


@keys.command("add")
@click.argument("name")
@click.option("--session", "sessions", multiple=True, help="A session the key may write.")
@click.option("--shop", "shops", multiple=True,
              help="A shop whose catalog sessions the key may write.")
def keys_add(name: str, sessions: tuple[str, ...], shops: tuple[str, ...]) -> None:
    """Create a key NAME and print it on the first line (it is shown only once).

    Without --session or --shop the key writes every session.
    """
    try:
        key = _with_store(lambda store: store.add(name, sessions=sessions, shops=shops))
    except KeyNameTaken as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)
    scope = ", ".join([*(f"session {s}" for s in sessions), *(f"shop {s}" for s in shops)])
    click.echo(f"key {name!r} writes {scope or 'every session'}; keep it secret, it is "
               f"not shown again", err=True)


@keys.command("list")
def keys_list() -> None:
    """Print each key's name and what it may write (never the key)."""
    for grant in _with_store(lambda store: store.grants()):
        scope = [*(f"session={s}" for s in grant.sessions), *(f"shop={s}" for s in grant.shops)]
        click.echo(f"{grant.name}\t{' '.join(scope) or 'all sessions'}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Remove the key NAME; requests with it get 401 at once."""
    if not _with_store(lambda store: store.revoke(name)):
        raise click.ClickException(f"no ingest key named {name!r}")
    click.echo(f"revoked {name}")
