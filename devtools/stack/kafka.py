"""The real Apache Kafka broker for the local stack: jars, config, storage, launch, readiness."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devtools.stack.ports import LOOPBACK, StackError

SLF4J_BINDING = "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3"
_COMPLETE_MARKER = ".complete"
_MVN_TIMEOUT_S = 900.0
_FORMAT_TIMEOUT_S = 120.0

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ocop-live</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>{slf4j_group}</groupId>
      <artifactId>{slf4j_artifact}</artifactId>
      <version>{slf4j_version}</version>
    </dependency>
  </dependencies>
</project>
"""


def default_cache_dir() -> Path:
    """Return the jar cache root: ``$OCOP_CACHE_DIR`` or ``~/.cache/ocop-live``."""
    configured = os.environ.get("OCOP_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "ocop-live"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_libs(cache_dir: Path, version: str, *, mvn: str, log: Callable[[str], None]) -> Path:
    """Return the folder holding every Kafka runtime jar, fetching it with Maven if needed."""
    root = cache_dir / f"kafka-{version}"
    libs = root / "libs"
    # Two stacks starting at once must not download into the same folder together.
    with file_lock(root / ".lock"):
        if (libs / _COMPLETE_MARKER).is_file():
            return libs
        if libs.exists():
            log(f"removing unfinished Kafka download in {libs}")
            shutil.rmtree(libs)
        log(f"fetching Kafka {version} jars with Maven into {libs} (about 42 MB, once)")
        _run_maven(mvn, version, libs)
        if not any(libs.glob(f"kafka_2.13-{version}.jar")):
            raise StackError(
                f"Maven finished but {libs} has no kafka_2.13-{version}.jar; "
                f"delete {root} and retry"
            )
        (libs / _COMPLETE_MARKER).write_text(f"kafka {version}\n")
    return libs


def _run_maven(mvn: str, version: str, libs: Path) -> None:
    group, artifact, slf4j_version = SLF4J_BINDING.split(":")
    with tempfile.TemporaryDirectory(prefix="ocop-kafka-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(
            _POM.format(
                version=version,
                slf4j_group=group,
                slf4j_artifact=artifact,
                slf4j_version=slf4j_version,
            )
        )
        args = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
        ]
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv built here, no shell
                args,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=_MVN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"Maven did not finish fetching Kafka jars within {_MVN_TIMEOUT_S:.0f}s; "
                "check network access to Maven Central and retry"
            ) from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise StackError(
            f"Maven failed (exit {done.returncode}) fetching Kafka {version} jars; "
            "check network access to Maven Central. Last output:\n" + "\n".join(output)
        )


def classpath(libs: Path) -> str:
    """Return the JVM classpath wildcard for ``libs``."""
    return str(libs / "*")


def replication(brokers: int) -> tuple[int, int]:
    """Return the replication factor and min.insync.replicas topics get on ``brokers``."""
    # Three copies, two of them acknowledged, survive losing any one broker; a single
    # broker can only keep one.
    return (1, 1) if brokers < 3 else (3, 2)


def write_config(
    kafka_dir: Path,
    *,
    port: int,
    controller_port: int,
    node_id: int = 1,
    voters: dict[int, int] | None = None,
) -> Path:
    """Write a node's ``server.properties`` and log4j2 config; return the first's path.

    ``voters`` maps every node id of a multi-node stack to its controller port; each node
    is both broker and controller, so they form the KRaft quorum together.
    """
    data = kafka_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    quorum = voters or {node_id: controller_port}
    factor, min_isr = replication(len(quorum))
    lines = [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        "controller.quorum.voters="
        + ",".join(f"{node}@{LOOPBACK}:{cport}" for node, cport in sorted(quorum.items())),
        f"listeners=PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        f"default.replication.factor={factor}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={factor}",
        f"transaction.state.log.replication.factor={factor}",
        f"transaction.state.log.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "num.partitions=6",
        # The app creates its topics with explicit settings; a typo must fail loudly.
        "auto.create.topics.enable=false",
        "log.retention.hours=4800",
        # On restart the controller keeps the previous broker registration alive until its
        # session times out (9 s by default); a shorter session makes restarts quicker.
        "broker.session.timeout.ms=4000",
        "broker.heartbeat.interval.ms=1000",
    ]
    config = kafka_dir / "server.properties"
    config.write_text("\n".join(lines) + "\n")
    log4j = resources.files("devtools.stack").joinpath("log4j2.properties").read_text()
    # A copy in the run folder keeps the launch working from zipped or moved installs.
    (kafka_dir / "log4j2.properties").write_text(log4j)
    return config


def is_formatted(kafka_dir: Path) -> bool:
    """Return True if the broker's storage in ``kafka_dir`` has been formatted."""
    return (kafka_dir / "data" / "meta.properties").is_file()


def new_cluster_id() -> str:
    """Return a fresh cluster id in Kafka's format (16 random bytes, URL-safe base64)."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka's own generator rejects ids starting with '-': they read as CLI flags.
        if not value.startswith("-"):
            return value


def format_storage(
    java: str,
    libs: Path,
    config: Path,
    *,
    log: Callable[[str], None],
    cluster_id: str | None = None,
) -> None:
    """Format the KRaft storage named in ``config``.

    A single node gets a new cluster id and a quorum of itself (``--standalone``); every
    node of a multi-node stack is given the same ``cluster_id``, and its quorum is the
    static ``controller.quorum.voters`` of its config.
    """
    standalone = cluster_id is None
    cluster_id = cluster_id or new_cluster_id()
    log(f"formatting Kafka storage {config.parent} (cluster id {cluster_id})")
    args = [
        java,
        "-cp",
        classpath(libs),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(config),
        *(["--standalone"] if standalone else []),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv built here, no shell
            args, capture_output=True, text=True, timeout=_FORMAT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"formatting Kafka storage took over {_FORMAT_TIMEOUT_S:.0f}s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise StackError(
            f"formatting Kafka storage failed (exit {done.returncode}); run `stack down` and "
            f"delete {config.parent} to start clean. Output:\n" + "\n".join(output)
        )


def command(java: str, libs: Path, kafka_dir: Path) -> list[str]:
    """Return the argv that runs the broker configured in ``kafka_dir``."""
    return [
        java,
        "-Xmx512m",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={kafka_dir}",
        f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.properties'}",
        "-cp",
        classpath(libs),
        "kafka.Kafka",
        str(kafka_dir / "server.properties"),
    ]


def pid_matches(cmdline: str, kafka_dir: Path) -> bool:
    """Return True if a process command line is the broker of ``kafka_dir``."""
    return "kafka.Kafka" in cmdline and str(kafka_dir / "server.properties") in cmdline


def _port_open(port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _cluster_ready(bootstrap: str, timeout_s: float, brokers: int) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=max(1000, int(timeout_s * 1000)),
        client_id="ocop-live-stack-probe",
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        info = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    finally:
        await admin.close()
    # Topic creation, the app's first step, needs a listed broker and a known controller.
    # On a multi-node stack, topics of replication factor 3 need all three registered.
    listed = info.get("brokers") or []
    return len(listed) >= brokers and int(info.get("controller_id", -1)) >= 0


def kafka_answers(port: int, timeout_s: float = 5.0, *, brokers: int = 1) -> bool:
    """Return True if the broker on ``port`` answers a metadata request listing ``brokers``."""
    if not _port_open(port, min(timeout_s, 1.0)):
        return False

    def probe() -> bool:
        try:
            return asyncio.run(_cluster_ready(f"{LOOPBACK}:{port}", timeout_s, brokers))
        except Exception:
            # Any failure here (refused, timeout, protocol error) means "not ready yet".
            return False

    # A private thread gets its own event loop even when the caller is inside one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()
