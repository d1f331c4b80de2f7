"""The ``ocop-live`` command: one entry point for every process and tool."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from importlib import resources
from pathlib import Path

import click
from pydantic import ValidationError

from ocop_live.eventloop import use_uvloop
from ocop_live.settings import Settings
from ocop_live.stack.cli import stack


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise click.ClickException(f"bad OCOP_* setting: {exc}") from exc


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group()
def main() -> None:
    """ocop-live: real-time board for livestream OCOP market fairs."""


main.add_command(stack)


@main.command()
def worker() -> None:
    """Run one stream worker (faust) against the configured Kafka and Redis."""
    import faust

    from consumers.topics import ensure_topics
    from streams.app import build_app

    settings = _settings()
    _logging()
    # Only the long-running services switch loops: the policy is process-wide, and the
    # other commands may run inside another program (the tests invoke them in-process).
    use_uvloop()
    created = asyncio.run(ensure_topics(settings))
    if created:
        logging.getLogger("ocop_live").info("created topics %s", ", ".join(created))
    # asyncio.run closed its loop; faust's worker wants a current one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings)
    faust.Worker(app, loglevel="info").execute_from_commandline()


@main.command()
def web() -> None:
    """Run one web process: the board, host pages, APIs, /healthz and /metrics."""
    from web.server import run_web

    settings = _settings()
    _logging()
    if not settings.token_secret.get_secret_value():
        raise click.ClickException(
            "OCOP_TOKEN_SECRET is not set; host tokens cannot be checked. For the local "
            "stack run: eval \"$(ocop-live stack env)\""
        )
    use_uvloop()
    try:
        asyncio.run(run_web(settings))
    except KeyboardInterrupt:
        pass


@main.group()
def topics() -> None:
    """Kafka topic administration."""


@topics.command("create")
def topics_create() -> None:
    """Create the input, catalog and dead-letter topics if missing."""
    from consumers.topics import ensure_topics

    settings = _settings()
    created = asyncio.run(ensure_topics(settings))
    click.echo(f"created: {', '.join(created) or 'nothing (all present)'}")


@main.group()
def catalog() -> None:
    """The session catalog."""


def sample_catalog_path() -> Path:
    """The packaged sample catalog (Vietnamese)."""
    return Path(str(resources.files("ocop_live").joinpath("data", "catalog.json")))


@catalog.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                required=False)
def catalog_load(path: Path | None) -> None:
    """Publish the sessions in PATH (default: the sample catalog) to the catalog topic."""
    from consumers.catalog import publish_catalog
    from consumers.topics import ensure_topics
    from ocop_live.catalog import CatalogError, load_catalog

    settings = _settings()
    source = path or sample_catalog_path()
    try:
        loaded = load_catalog(source)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc

    async def run() -> int:
        await ensure_topics(settings)
        return await publish_catalog(loaded, settings=settings)

    n = asyncio.run(run())
    click.echo(f"published {n} sessions from {source} to {settings.sessions_topic}")


@main.command()
def rebuild() -> None:
    """Recompute all of Redis from the retained topics (stop the workers first)."""
    from consumers.rebuild import RebuildRefused
    from consumers.rebuild import rebuild as run_rebuild

    settings = _settings()
    _logging()

    def progress(done: int, total: int) -> None:
        click.echo(f"\rreplayed {done:,}/{total:,} messages", nl=False, err=True)

    try:
        report = asyncio.run(run_rebuild(settings, progress=progress))
    except RebuildRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"\nrebuilt from {report.messages:,} messages ({report.dead_letters:,} dead letters "
        f"not re-sent), {report.sessions} catalog sessions; removed {report.keys_removed:,} "
        "old keys"
    )


@main.group()
def token() -> None:
    """Host tokens."""


@token.command("issue")
@click.option("--session", "session_id", required=True, help="Session id the token opens.")
@click.option("--ttl-hours", default=12.0, show_default=True, type=click.FloatRange(min=0.01))
def token_issue(session_id: str, ttl_hours: float) -> None:
    """Print a signed, expiring host token for one session, and the host page link."""
    from ocop_live.tokens import HostTokens

    settings = _settings()
    try:
        tokens = HostTokens(secret=settings.token_secret.get_secret_value())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    expires = time.time_ns() // 1_000_000 + int(ttl_hours * 3_600_000)
    value = tokens.issue(session_id, expires_at_ms=expires)
    click.echo(value)
    # The token rides in the fragment, which browsers never send to a server.
    click.echo(
        f"host page: http://{settings.web_host}:{settings.web_port}/host"
        f"#session={session_id}&token={value}",
        err=True,
    )


def _attach_subcommands() -> None:
    from ocop_live.simulator.cli import simulate
    from web.cli import screens

    main.add_command(simulate)
    main.add_command(screens)


_attach_subcommands()
