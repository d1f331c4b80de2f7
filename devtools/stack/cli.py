"""``stack`` command group: up, down, status and env for the local Kafka, Redis, Prometheus."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from devtools.stack.local import LocalStack, StackAddresses
from devtools.stack.ports import StackError

_F = TypeVar("_F", bound=Callable[..., object])


def _run_dir_option(func: _F) -> _F:
    decorated = click.option(
        "--run-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="OCOP_RUN_DIR",
        default=Path(".run"),
        show_default="$OCOP_RUN_DIR or ./.run",
        help="Folder holding the stack's config, data, logs and pid files.",
    )(func)
    return decorated


def _fail(exc: StackError) -> click.ClickException:
    return click.ClickException(str(exc))


def _describe(stack: LocalStack) -> list[str]:
    addrs = stack.status().addresses
    if addrs is None:
        return [f"no stack in {stack.run_dir}; run `stack up` to create one"]

    def state(pids: list[int | None]) -> str:
        running = [str(pid) for pid in pids if pid is not None]
        if not running:
            return "stopped"
        listed = ", ".join(running)
        if len(running) < len(pids):
            return (f"{len(running)} of {len(pids)} running (pids {listed}); "
                    "`stack up` starts the rest")
        return f"running (pid {listed})" if len(pids) == 1 else f"running (pids {listed})"

    kafka_pids, redis_pids = stack.kafka_pids(), stack.redis_pids()
    kafka_shape = (f" ({len(kafka_pids)} brokers, replication factor {addrs.replication_factor},"
                   f" min.insync.replicas {addrs.min_insync_replicas})"
                   if len(kafka_pids) > 1 else "")
    redis_shape = (f" (cluster of {len(redis_pids) // 2} masters with a replica each)"
                   if addrs.redis_cluster else "")
    lines = [
        f"run dir: {stack.run_dir}",
        f"kafka:   {addrs.kafka_bootstrap}{kafka_shape}  {state(kafka_pids)}",
        f"redis:   {addrs.redis_url}{redis_shape}  {state(redis_pids)}",
        f"web:     {addrs.web_url}",
        f"metrics: http://127.0.0.1:{addrs.worker_metrics_port}/metrics",
    ]
    if addrs.ingest_port is not None:
        lines.append(f"ingest:  http://127.0.0.1:{addrs.ingest_port}/v1/events")
    if addrs.prometheus_url is not None:
        lines.append(f"prometheus: {addrs.prometheus_url}/  {state([stack.prometheus_pid()])}")
    return lines


def _export_lines(addrs: StackAddresses) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in addrs.env().items()]


@click.group(name="stack")
def stack() -> None:
    """Run the real Kafka broker, redis-server and Prometheus locally for development and tests."""


@stack.command()
@_run_dir_option
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for every service to answer.",
)
@click.option(
    "--with-prometheus",
    is_flag=True,
    help="Also run Prometheus (Debian package) scraping the worker and web ports, with the "
    "alert rules loaded.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="OCOP_PROMETHEUS_RULES",
    default=None,
    show_default="$OCOP_PROMETHEUS_RULES or deploy/prometheus/alerts.yml of the source tree",
    help="Alert rules file for --with-prometheus.",
)
@click.option(
    "--kafka-brokers",
    type=int,
    default=None,
    show_default="1, or what the run folder holds",
    help="Kafka nodes (each broker and controller): 1, or 3 or more; with 3+ topics get "
    "replication factor 3 and min.insync.replicas 2. Chosen when the run folder is created.",
)
@click.option(
    "--redis-cluster",
    "redis_masters",
    type=int,
    default=None,
    metavar="N",
    help="Run a Redis Cluster of N masters (3 or more), each with one replica, instead of a "
    "single redis-server. Chosen when the run folder is created.",
)
def up(
    run_dir: Path,
    timeout_s: float,
    with_prometheus: bool,
    rules_file: Path | None,
    kafka_brokers: int | None,
    redis_masters: int | None,
) -> None:
    """Start Kafka and Redis (and Prometheus) if not running and wait until they answer."""
    local = LocalStack(run_dir=run_dir, rules_file=rules_file)
    try:
        local.up(timeout_s=timeout_s, with_prometheus=with_prometheus,
                 kafka_brokers=kafka_brokers, redis_cluster=redis_masters)
    except StackError as exc:
        raise _fail(exc) from exc
    click.echo("\n".join(_describe(local)))
    click.echo(
        f'load the settings into a shell with: eval "$(ocop-live stack env --run-dir '
        f'{shlex.quote(str(local.run_dir))})"'
    )


@stack.command()
@_run_dir_option
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def down(run_dir: Path, timeout_s: float) -> None:
    """Stop Kafka, Redis and Prometheus; data, ports and secret stay in the run folder."""
    try:
        LocalStack(run_dir=run_dir).down(timeout_s=timeout_s)
    except StackError as exc:
        raise _fail(exc) from exc
    click.echo("stopped")


@stack.command()
@_run_dir_option
def status(run_dir: Path) -> None:
    """Print the addresses and whether each process is running."""
    local = LocalStack(run_dir=run_dir)
    try:
        click.echo("\n".join(_describe(local)))
    except StackError as exc:
        raise _fail(exc) from exc


@stack.command()
@_run_dir_option
def env(run_dir: Path) -> None:
    """Print ``export OCOP_...=...`` lines for ``eval`` in a shell."""
    try:
        addrs = LocalStack(run_dir=run_dir).addresses()
    except StackError as exc:
        raise _fail(exc) from exc
    click.echo("\n".join(_export_lines(addrs)))
