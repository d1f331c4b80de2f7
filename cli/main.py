"""The ``ocop-live`` command: one entry point for every process and tool."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import entry_points
from pathlib import Path

import click
from redis.exceptions import RedisError

from cli.board import board
from cli.connect import connect
from cli.deadletters import dlq
from cli.environment import command_settings, configure_logging
from cli.ingest import ingest
from cli.report import report
from cli.screens import screens
from common.catalog import SAMPLE_CATALOG
from common.clock import wall_ms
from common.eventloop import use_uvloop
from common.settings import Settings
from common.tokens import MAX_TTL_HOURS, HostTokens
from store.client import redis_client
from store.keys import Keys
from store.layout import LayoutChanged, claim_partitions
from store.server import UnsafeRedis, require_no_eviction

# Commands of packages outside the product (the development tools' local stack and
# simulator) register under this entry-point group, so the product never imports them.
COMMAND_GROUP = "ocop_live.commands"


@click.group()
def main() -> None:
    """ocop-live: real-time board for livestream OCOP market fairs."""


main.add_command(screens)
main.add_command(board)
main.add_command(dlq)
main.add_command(report)
main.add_command(ingest)
main.add_command(connect)


# How long a starting worker keeps trying a Kafka that cannot answer before it exits.
_KAFKA_READY_S = 120.0


@main.command()
def worker() -> None:
    """Run one stream worker (faust) against the configured Kafka and Redis."""
    from consumers.topics import TopicLayoutError
    from streams.app import build_app
    from streams.stopping import DeadlineWorker

    settings = command_settings()
    configure_logging()
    # Only the long-running services switch loops: the policy is process-wide, and the
    # other commands may run inside another program (the tests invoke them in-process).
    use_uvloop()
    asyncio.run(_require_safe_redis(settings))
    try:
        partitions = asyncio.run(_topics_ready(settings))
        asyncio.run(_claim_partitions(settings, partitions))
    except (TopicLayoutError, LayoutChanged) as exc:
        raise click.ClickException(str(exc)) from exc
    # asyncio.run closed its loop; faust's worker wants a current one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings, partitions=partitions)
    DeadlineWorker(app, loglevel="info").execute_from_commandline()


@main.command()
def web() -> None:
    """Run one web process: the board, host pages, APIs, /healthz and /metrics."""
    from web.server import run_web

    settings = command_settings()
    configure_logging()
    if not settings.token_secret.get_secret_value():
        raise click.ClickException(
            "OCOP_TOKEN_SECRET is not set; host tokens cannot be checked. For the local "
            "stack run: eval \"$(ocop-live stack env)\""
        )
    use_uvloop()
    try:
        asyncio.run(_require_safe_redis(settings))
    except click.ClickException as exc:
        # The read side writes nothing that counts, so it warns instead of refusing.
        logging.getLogger("cli").warning("%s", exc.message)
    try:
        asyncio.run(run_web(settings))
    except KeyboardInterrupt:
        pass


async def _require_safe_redis(settings: Settings) -> None:
    """A usage error when the configured Redis may evict keys (store/server.py says why)."""
    redis = redis_client(settings)
    try:
        await require_no_eviction(redis)
    except UnsafeRedis as exc:
        raise click.ClickException(str(exc)) from exc
    except (RedisError, OSError) as exc:
        # Not up yet: the process retries Redis on its own; the policy goes unchecked.
        logging.getLogger("cli").warning(
            "cannot reach Redis (OCOP_REDIS_URL) to check its maxmemory-policy: %s", exc)
    finally:
        await redis.aclose()


async def _topics_ready(settings: Settings) -> int:
    """Create the missing topics and return the input partition count, trying again
    while Kafka cannot answer: one broker of several may be down as a worker starts,
    and the admin client may still pick it until the cluster drops it."""
    from aiokafka.errors import KafkaError

    from consumers.topics import ensure_topics, input_partitions

    log = logging.getLogger("cli")
    deadline = asyncio.get_running_loop().time() + _KAFKA_READY_S
    while True:
        try:
            created = await ensure_topics(settings)
            if created:
                log.info("created topics %s", ", ".join(created))
            return await input_partitions(settings)
        except KafkaError as exc:
            if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("Kafka at OCOP_KAFKA_BOOTSTRAP did not answer (%s); trying again "
                        "in 1 s", exc)
            await asyncio.sleep(1)


async def _claim_partitions(settings: Settings, partitions: int) -> None:
    """Refuse topics whose partition count is not the one Redis was counted with."""
    redis = redis_client(settings)
    try:
        await claim_partitions(redis, Keys(settings.key_prefix), partitions=partitions)
    except (RedisError, OSError) as exc:
        # Not up yet: the process retries Redis on its own; the layout goes unchecked.
        logging.getLogger("cli").warning(
            "cannot reach Redis (OCOP_REDIS_URL) to check the shards' partition count: %s",
            exc)
    finally:
        await redis.aclose()


@main.group()
def topics() -> None:
    """Kafka topic administration."""


@topics.command("create")
def topics_create() -> None:
    """Create the input, catalog and dead-letter topics if missing."""
    from consumers.topics import ensure_topics

    settings = command_settings()
    created = asyncio.run(ensure_topics(settings))
    click.echo(f"created: {', '.join(created) or 'nothing (all present)'}")


@topics.command("reshard")
@click.option("--partitions", type=click.IntRange(1, 1024), required=True,
              help="The new topics' partition count.")
@click.option("--views-to", required=True, help="The new views topic (must not exist yet "
              "or be empty).")
@click.option("--orders-to", required=True, help="The new orders topic.")
def topics_reshard(partitions: int, views_to: str, orders_to: str) -> None:
    """Copy the views and orders topics into new topics of another partition count.

    Stop every producer first (the gateway, connectors, the simulator): what arrives
    during the copy is not copied. Then point OCOP_VIEWS_TOPIC, OCOP_ORDERS_TOPIC and
    OCOP_PARTITIONS at the new topics and run `ocop-live rebuild` with the workers
    stopped (docs/runbook.md, "More partitions").
    """
    from consumers.reshard import ReshardRefused, reshard
    from consumers.topics import TopicLayoutError

    settings = command_settings()
    configure_logging()

    def progress(done: int, total: int) -> None:
        click.echo(f"\rcopied {done:,}/{total:,} records", nl=False, err=True)

    try:
        report = asyncio.run(reshard(settings, partitions=partitions, views_to=views_to,
                                     orders_to=orders_to, progress=progress))
    except (ReshardRefused, TopicLayoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    copied = ", ".join(f"{n:,} records of {topic}" for topic, n in report.copied.items())
    click.echo(f"\ncopied {copied} into {views_to} and {orders_to} ({partitions} partitions)")
    if report.arrived_during:
        click.echo(f"{report.arrived_during:,} records arrived during the copy and were not "
                   "copied: a producer is still running. Stop it, delete the new topics and "
                   "copy again.", err=True)
        raise SystemExit(1)
    click.echo(f"next: stop the workers, set OCOP_VIEWS_TOPIC={views_to} "
               f"OCOP_ORDERS_TOPIC={orders_to} OCOP_PARTITIONS={partitions}, run "
               "`ocop-live rebuild`, start the workers, and point the producers at the new "
               "topics")


@main.group()
def catalog() -> None:
    """The session catalog."""


@catalog.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                required=False)
def catalog_load(path: Path | None) -> None:
    """Publish the fairs and sessions in PATH (default: the sample catalog) to the catalog
    topic."""
    from common.catalog import CatalogError, load_catalog
    from consumers.catalog import publish_catalog
    from consumers.topics import ensure_topics

    settings = command_settings()
    source = path or SAMPLE_CATALOG
    try:
        loaded = load_catalog(source)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc

    async def run() -> int:
        await ensure_topics(settings)
        return await publish_catalog(loaded, settings=settings)

    n = asyncio.run(run())
    click.echo(f"published {len(loaded.fairs)} fairs and {n} sessions from {source} to "
               f"{settings.sessions_topic}")


@main.command()
def rebuild() -> None:
    """Recompute all of Redis from the retained topics (stop the workers first)."""
    from consumers.rebuild import RebuildIncomplete, RebuildRefused
    from consumers.rebuild import rebuild as run_rebuild

    settings = command_settings()
    configure_logging()
    asyncio.run(_require_safe_redis(settings))

    def progress(done: int, total: int) -> None:
        click.echo(f"\rreplayed {done:,}/{total:,} messages", nl=False, err=True)

    try:
        report = asyncio.run(run_rebuild(settings, progress=progress))
    except (RebuildRefused, RebuildIncomplete) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"\nrebuilt from {report.messages:,} messages ({report.dead_letters:,} dead letters "
        f"not re-sent), {report.fairs} fairs and {report.sessions} sessions in the catalog; "
        f"removed {report.keys_removed:,} old keys"
    )


@main.group()
def token() -> None:
    """Host tokens."""


@token.command("issue")
@click.option("--session", "session_id", required=True, help="Session id the token opens.")
@click.option("--ttl-hours", default=12.0, show_default=True,
              type=click.FloatRange(min=0.01, max=MAX_TTL_HOURS),
              help="Hours the token opens the session.")
def token_issue(session_id: str, ttl_hours: float) -> None:
    """Print a signed, expiring host token for one session, and the host page link."""
    settings = command_settings()
    try:
        tokens = HostTokens(secret=settings.token_secret.get_secret_value())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    expires = wall_ms() + int(ttl_hours * 3_600_000)
    value = tokens.issue(session_id, expires_at_ms=expires)
    click.echo(value)
    # The token rides in the fragment, which browsers never send to a server.
    click.echo(
        f"host page: http://{settings.web_host}:{settings.web_port}/host"
        f"#session={session_id}&token={value}",
        err=True,
    )


def _attach_plugins() -> None:
    for entry in entry_points(group=COMMAND_GROUP):
        main.add_command(entry.load(), entry.name)


_attach_plugins()
