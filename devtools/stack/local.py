"""LocalStack: bring Kafka, redis-server and optionally Prometheus up and down in a run folder."""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from devtools.stack import kafka, ports, prometheus, redis
from devtools.stack.ports import LOOPBACK, StackError
from devtools.stack.service import Service, alive, stop_pids

_STATE_VERSION = 1


def _log_to_stderr(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class StackAddresses:
    """Where the local services listen, and the per-run-folder secret.

    Usage::

        addrs = LocalStack(run_dir=Path(".run")).up()
        os.environ.update(addrs.env())
    """

    kafka_bootstrap: str
    redis_url: str
    web_port: int
    worker_metrics_port: int
    token_secret: str
    prometheus_port: int | None = None
    ingest_port: int | None = None
    # A Redis Cluster (redis_url names its first master; the client finds the others), and
    # the replication topics get on a multi-broker Kafka.
    redis_cluster: bool = False
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def env(self) -> dict[str, str]:
        """Return the ``OCOP_*`` environment variables that point a process at this stack."""
        env = {
            "OCOP_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "OCOP_REDIS_URL": self.redis_url,
            "OCOP_WEB_PORT": str(self.web_port),
            "OCOP_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "OCOP_TOKEN_SECRET": self.token_secret,
        }
        if self.ingest_port is not None:
            env["OCOP_INGEST_PORT"] = str(self.ingest_port)
        if self.redis_cluster:
            env["OCOP_REDIS_CLUSTER"] = "1"
        if self.replication_factor > 1:
            env["OCOP_REPLICATION_FACTOR"] = str(self.replication_factor)
            env["OCOP_MIN_INSYNC_REPLICAS"] = str(self.min_insync_replicas)
        if self.prometheus_url is not None:
            env["OCOP_PROMETHEUS_URL"] = self.prometheus_url
        return env

    @property
    def web_url(self) -> str:
        """Return the URL the web process serves on."""
        return f"http://{LOOPBACK}:{self.web_port}/"

    @property
    def prometheus_url(self) -> str | None:
        """Return the local Prometheus URL, or None if this stack never ran one."""
        return None if self.prometheus_port is None else prometheus.url(self.prometheus_port)


@dataclass(frozen=True)
class StackStatus:
    """A snapshot of the stack: ``LocalStack(run_dir=d).status().kafka_running``."""

    addresses: StackAddresses | None
    kafka_running: bool
    redis_running: bool
    prometheus_running: bool = False


@dataclass(frozen=True)
class _State:
    kafka_version: str
    kafka_port: int
    controller_port: int
    redis_port: int
    web_port: int
    worker_metrics_port: int
    token_secret: str
    # Picked the first time the stack runs with Prometheus; older run folders lack it.
    prometheus_port: int | None = None
    # The ingest gateway's port; run folders older than the gateway get one at `up`.
    ingest_port: int | None = None
    # A multi-broker stack's nodes after the first ([port, controller port] each), and the
    # cluster id every node's storage is formatted with. Empty: one broker.
    kafka_peers: list[list[int]] = field(default_factory=list)
    kafka_cluster_id: str = ""
    # A Redis Cluster's nodes ([port, cluster bus port] each), masters first; the first one
    # listens on redis_port. Empty: the single server on redis_port.
    redis_nodes: list[list[int]] = field(default_factory=list)

    def kafka_nodes(self) -> list[tuple[int, int]]:
        """Every Kafka node's (port, controller port), node 1 first."""
        return [(self.kafka_port, self.controller_port),
                *((port, controller) for port, controller in self.kafka_peers)]

    @property
    def redis_masters(self) -> int:
        return len(self.redis_nodes) // 2

    def shape(self) -> str:
        brokers = len(self.kafka_nodes())
        kafka_part = "one Kafka broker" if brokers == 1 else f"{brokers} Kafka brokers"
        redis_part = (f"a Redis Cluster of {self.redis_masters} masters" if self.redis_nodes
                      else "a single Redis")
        return f"{kafka_part} and {redis_part}"

    def ports(self) -> list[int]:
        chosen = [self.kafka_port, self.controller_port, self.redis_port, self.web_port,
                  self.worker_metrics_port]
        nodes = [port for node in (*self.kafka_peers, *self.redis_nodes) for port in node]
        extra = (self.prometheus_port, self.ingest_port)
        # The first Redis Cluster node is redis_port: each port once.
        return list(dict.fromkeys(
            [*chosen, *nodes, *(port for port in extra if port is not None)]
        ))

    def addresses(self) -> StackAddresses:
        nodes = self.kafka_nodes()
        factor, min_isr = kafka.replication(len(nodes))
        return StackAddresses(
            kafka_bootstrap=",".join(f"{LOOPBACK}:{port}" for port, _ in nodes),
            redis_url=redis.url(self.redis_port),
            web_port=self.web_port,
            worker_metrics_port=self.worker_metrics_port,
            token_secret=self.token_secret,
            prometheus_port=self.prometheus_port,
            ingest_port=self.ingest_port,
            redis_cluster=bool(self.redis_nodes),
            replication_factor=factor,
            min_insync_replicas=min_isr,
        )


def _check_shape(kafka_brokers: int | None, redis_cluster: int | None) -> None:
    if kafka_brokers is not None and (kafka_brokers < 1 or kafka_brokers == 2):
        raise StackError(
            f"--kafka-brokers {kafka_brokers}: pass 1, or 3 or more; every broker is also a "
            "controller, and a quorum of two stops when either one stops"
        )
    if redis_cluster is not None and redis_cluster < 3:
        raise StackError(
            f"--redis-cluster {redis_cluster}: a Redis Cluster needs at least 3 masters (a "
            "failover needs a majority of masters to agree); pass 3 or more"
        )


class LocalStack:
    """The real Kafka broker and redis-server (and Prometheus, on request) in one run folder.

    Usage::

        stack = LocalStack(run_dir=Path(".run"))
        addrs = stack.up(with_prometheus=True)   # idempotent; reuses ports, secret, storage
        ...
        stack.down()                             # idempotent
    """

    def __init__(
        self,
        *,
        run_dir: Path,
        cache_dir: Path | None = None,
        kafka_version: str = "4.0.0",
        rules_file: Path | None = None,
        log: Callable[[str], None] = _log_to_stderr,
    ) -> None:
        self.run_dir = run_dir.expanduser().resolve()
        self.cache_dir = (cache_dir or kafka.default_cache_dir()).expanduser().resolve()
        self.kafka_version = kafka_version
        # None: deploy/prometheus/alerts.yml of the source tree (see prometheus.py).
        self.rules_file = rules_file
        self._log = log
        self._state_file = self.run_dir / "stack.json"
        self._kafka_dir = self.run_dir / "kafka"
        self._redis_dir = self.run_dir / "redis"
        self._prometheus_dir = self.run_dir / "prometheus"
        self._prometheus = Service(
            "prometheus",
            self._prometheus_dir,
            lambda cmd: prometheus.pid_matches(cmd, self._prometheus_dir / "prometheus.yml"),
        )

    def _kafka_services(self, state: _State | None) -> list[Service]:
        """One service per Kafka node: ``kafka/`` for one broker, ``kafka/node-N/`` for more."""
        count = len(state.kafka_nodes()) if state else 1
        named = ([("kafka", self._kafka_dir)] if count == 1 else
                 [(f"kafka-{node}", self._kafka_dir / f"node-{node}")
                  for node in range(1, count + 1)])
        services = []
        for name, folder in named:
            service = Service(name, folder, functools.partial(kafka.pid_matches, kafka_dir=folder))
            service.logs.append(folder / "server.log")
            services.append(service)
        return services

    def _redis_services(self, state: _State | None) -> list[Service]:
        """One service per Redis server: ``redis/``, or ``redis/node-N/`` masters first."""
        if state is None or not state.redis_nodes:
            port = state.redis_port if state else 0
            named = [("redis", self._redis_dir, port)]
        else:
            named = [(f"redis-{index}", self._redis_dir / f"node-{index}", port)
                     for index, (port, _) in enumerate(state.redis_nodes, start=1)]
        services = []
        for name, folder, port in named:
            config = folder / "redis.conf"
            service = Service(
                name, folder, functools.partial(redis.pid_matches, config=config, port=port)
            )
            service.logs.append(folder / "redis.log")
            services.append(service)
        return services

    def _read_state(self) -> _State | None:
        path = self._state_file
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {path} ({exc}); delete the run folder") from exc
        try:
            if raw.pop("version", None) != _STATE_VERSION:
                raise TypeError("unknown format version")
            return _State(**raw)
        except (TypeError, AttributeError) as exc:
            raise StackError(f"{path} is damaged ({exc}); delete the run folder") from exc

    def _save_state(self, state: _State) -> _State:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".json.tmp")
        # The file holds the token secret: readable by the owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": _STATE_VERSION, **asdict(state)}, handle, indent=2)
        os.replace(tmp, self._state_file)
        return state

    def _create_state(self, kafka_brokers: int, redis_masters: int) -> _State:
        # Two ports per further broker; two per Redis Cluster node, less the first's redis_port.
        more = 2 * (kafka_brokers - 1) + (4 * redis_masters - 1 if redis_masters else 0)
        picked = ports.pick_free_ports(5 + more)
        kafka_port, controller_port, redis_port, web_port, metrics_port = picked[:5]
        pairs = [picked[index:index + 2] for index in range(5, 5 + 2 * (kafka_brokers - 1), 2)]
        rest = picked[5 + 2 * (kafka_brokers - 1):]
        redis_nodes = [[redis_port, *rest[:1]],
                       *(rest[index:index + 2] for index in range(1, len(rest), 2))]
        state = self._save_state(_State(
            kafka_version=self.kafka_version,
            kafka_port=kafka_port,
            controller_port=controller_port,
            redis_port=redis_port,
            web_port=web_port,
            worker_metrics_port=metrics_port,
            token_secret=secrets.token_urlsafe(32),
            kafka_peers=pairs,
            kafka_cluster_id=kafka.new_cluster_id() if kafka_brokers > 1 else "",
            redis_nodes=redis_nodes if redis_masters else [],
        ))
        self._log(f"new run folder {self.run_dir}: ports and secret saved in {self._state_file}")
        return state

    def addresses(self) -> StackAddresses:
        """Return the saved addresses; raise StackError if the stack was never brought up."""
        state = self._read_state()
        if state is None:
            raise StackError(f"no stack in {self.run_dir}; run `stack up` first")
        return state.addresses()

    def kafka_pids(self) -> list[int | None]:
        """Return every Kafka node's pid (None: not running), node 1 first."""
        return [service.pid() for service in self._kafka_services(self._read_state())]

    def redis_pids(self) -> list[int | None]:
        """Return every redis-server's pid (None: not running); a cluster's masters first."""
        return [service.pid() for service in self._redis_services(self._read_state())]

    def redis_pids_by_port(self) -> dict[int, int | None]:
        """Return every redis-server's pid (None: not running) by the port it serves."""
        state = self._read_state()
        if state is None:
            return {}
        ports = [node[0] for node in state.redis_nodes] or [state.redis_port]
        return dict(zip(ports, self.redis_pids(), strict=True))

    def kafka_pid(self) -> int | None:
        """Return the running broker's pid (node 1's of several), or None."""
        return self.kafka_pids()[0]

    def redis_pid(self) -> int | None:
        """Return the running redis-server's pid (a cluster's first master's), or None."""
        return self.redis_pids()[0]

    def prometheus_pid(self) -> int | None:
        """Return the running Prometheus' pid, or None."""
        return self._prometheus.pid()

    def status(self) -> StackStatus:
        """Return the saved addresses (None if never up) and which processes run."""
        state = self._read_state()
        return StackStatus(
            addresses=state.addresses() if state else None,
            kafka_running=None not in self.kafka_pids(),
            redis_running=None not in self.redis_pids(),
            prometheus_running=self.prometheus_pid() is not None,
        )

    def up(
        self,
        *,
        timeout_s: float = 120.0,
        with_prometheus: bool = False,
        kafka_brokers: int | None = None,
        redis_cluster: int | None = None,
    ) -> StackAddresses:
        """Start whatever is not running and wait until every service answers.

        ``kafka_brokers`` (1, or 3 or more) and ``redis_cluster`` (masters, 3 or more, each
        with a replica) shape a new run folder; None keeps what the folder holds.
        """
        _check_shape(kafka_brokers, redis_cluster)
        deadline = time.monotonic() + timeout_s
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with kafka.file_lock(self.run_dir / "stack.lock"):
            state = self._read_state() or self._create_state(kafka_brokers or 1, redis_cluster or 0)
            if (kafka_brokers not in (None, len(state.kafka_nodes()))
                    or redis_cluster not in (None, state.redis_masters)):
                raise StackError(
                    f"{self.run_dir} holds a stack of {state.shape()}, not the shape asked for; "
                    f"use another --run-dir, or run `stack down` and delete {self.run_dir}"
                )
            if state.kafka_version != self.kafka_version:
                raise StackError(
                    f"{self.run_dir} holds Kafka {state.kafka_version} storage, not "
                    f"{self.kafka_version}; run `stack down` and delete {self.run_dir}"
                )
            if state.ingest_port is None:
                (port,) = ports.pick_free_ports(1, exclude=state.ports())
                state = self._save_state(replace(state, ingest_port=port))
            if with_prometheus and state.prometheus_port is None:
                (port,) = ports.pick_free_ports(1, exclude=state.ports())
                state = self._save_state(replace(state, prometheus_port=port))
            prepared = self._prepare_prometheus(state) if with_prometheus else None
            kafka_services = self._kafka_services(state)
            redis_services = self._redis_services(state)
            kafka_pids = [service.pid() for service in kafka_services]
            redis_pids = [service.pid() for service in redis_services]
            prometheus_pid = self.prometheus_pid() if with_prometheus else None
            # Ports of the services about to start must be free.
            redis_nodes = state.redis_nodes or [[state.redis_port]]
            wanted = [port for node, pid in zip(state.kafka_nodes(), kafka_pids, strict=True)
                      if pid is None for port in node]
            wanted += [port for node, pid in zip(redis_nodes, redis_pids, strict=True)
                       if pid is None for port in node]
            if prepared is not None and prometheus_pid is None and state.prometheus_port:
                wanted.append(state.prometheus_port)
            self._check_ports(wanted)
            started: list[int] = []
            try:
                kafka_running = self._start_kafka(state, kafka_services, kafka_pids, started)
                redis_running = self._start_redis(state, redis_services, redis_pids, started)
                for service, pid, node in zip(redis_services, redis_running, redis_nodes,
                                              strict=True):
                    self._wait_ready(
                        [(service, pid)], deadline, functools.partial(redis.redis_answers, node[0])
                    )
                if state.redis_nodes:
                    self._form_redis_cluster(
                        state, list(zip(redis_services, redis_running, strict=True)), deadline
                    )
                brokers = len(kafka_services)
                self._wait_ready(
                    list(zip(kafka_services, kafka_running, strict=True)), deadline,
                    lambda: kafka.kafka_answers(state.kafka_port, brokers=brokers),
                )
                if prepared is not None:
                    started += self._run_prometheus(state, *prepared, prometheus_pid, deadline)
            except StackError:
                # Half-started servers would hold the ports and confuse the next `up`.
                self._log(f"startup failed; stopping what this attempt started in {self.run_dir}")
                stop_pids([p for p in started if alive(p)], 10.0, self._log)
                raise
        addrs = state.addresses()
        self._log(f"stack up: Kafka {addrs.kafka_bootstrap}, Redis {addrs.redis_url}")
        if with_prometheus:
            base = addrs.prometheus_url
            self._log(f"Prometheus {base}/ (alerts as JSON: {base}/api/v1/alerts)")
        return addrs

    def _check_ports(self, wanted: list[int]) -> None:
        busy = ports.taken_ports(wanted)
        if busy:
            raise StackError(
                f"saved port(s) {', '.join(map(str, busy))} on {LOOPBACK} are taken by another "
                f"process; run `stack down`, delete {self.run_dir} and run `stack up` again "
                "to pick new ports"
            )

    def _start_kafka(
        self, state: _State, services: list[Service], pids: list[int | None], started: list[int]
    ) -> list[int]:
        """Start the Kafka nodes not running (adding their pids to ``started``); return all."""
        if None not in pids:
            return [pid for pid in pids if pid is not None]
        java = ports.ensure_command("java", "openjdk-17-jre-headless", self._log)
        mvn = ports.ensure_command("mvn", "maven", self._log)
        libs = kafka.ensure_libs(self.cache_dir, self.kafka_version, mvn=mvn, log=self._log)
        nodes = state.kafka_nodes()
        voters = {node: controller for node, (_, controller) in enumerate(nodes, start=1)}
        stopped = [(node, service) for node, (service, pid)
                   in enumerate(zip(services, pids, strict=True), start=1) if pid is None]
        unformatted = []
        for node, service in stopped:
            port, controller = nodes[node - 1]
            config = kafka.write_config(
                service.folder, port=port, controller_port=controller, node_id=node,
                voters=voters if len(nodes) > 1 else None,
            )
            if not kafka.is_formatted(service.folder):
                unformatted.append(config)
        cluster_id = state.kafka_cluster_id or None
        # Each format is a JVM start of several seconds: the nodes' run side by side.
        with ThreadPoolExecutor(max_workers=max(1, len(unformatted))) as pool:
            list(pool.map(lambda config: kafka.format_storage(
                java, libs, config, log=self._log, cluster_id=cluster_id), unformatted))
        running = list(pids)
        for node, service in stopped:
            pid = service.start(kafka.command(java, libs, service.folder))
            started.append(pid)
            running[node - 1] = pid
            self._log(
                f"started Kafka node {node} (pid {pid}) on {LOOPBACK}:{nodes[node - 1][0]}; "
                f"log in {service.folder / 'server.log'}"
            )
        return [pid for pid in running if pid is not None]

    def _start_redis(
        self, state: _State, services: list[Service], pids: list[int | None], started: list[int]
    ) -> list[int]:
        """Start the Redis servers not running (adding their pids to ``started``); return all."""
        if None not in pids:
            return [pid for pid in pids if pid is not None]
        redis_server = ports.ensure_command("redis-server", "redis-server", self._log)
        running = list(pids)
        for index, (service, pid) in enumerate(zip(services, pids, strict=True)):
            if pid is not None:
                continue
            if state.redis_nodes:
                port, bus = state.redis_nodes[index]
                config = redis.write_config(service.folder, port=port, cluster_port=bus)
            else:
                port = state.redis_port
                config = redis.write_config(service.folder, port=port)
            new_pid = service.start(redis.command(redis_server, config))
            started.append(new_pid)
            running[index] = new_pid
            self._log(
                f"started {service.name} (pid {new_pid}) on {LOOPBACK}:{port}; "
                f"log in {service.folder / 'redis.log'}"
            )
        return [pid for pid in running if pid is not None]

    def _form_redis_cluster(
        self, state: _State, members: list[tuple[Service, int]], deadline: float
    ) -> None:
        """Join fresh nodes into a cluster, then wait until every slot is served."""
        node_ports = [port for port, _ in state.redis_nodes]
        fresh = [port for port in node_ports if redis.is_fresh(port)]
        if len(fresh) == len(node_ports):
            redis_cli = ports.ensure_command("redis-cli", "redis-tools", self._log)
            redis.create_cluster(
                redis_cli, node_ports, timeout_s=max(1.0, deadline - time.monotonic()),
                log=self._log,
            )
        elif fresh:
            raise StackError(
                f"Redis node(s) on port {', '.join(map(str, fresh))} never joined the cluster "
                f"the other nodes of {self.run_dir} form; run `stack down` and delete "
                f"{self._redis_dir} to create the cluster anew"
            )
        self._wait_ready(
            members, deadline, lambda: redis.cluster_ready(node_ports),
            what=f"Redis Cluster of {state.redis_masters} masters with a replica each",
            explain=lambda: redis.cluster_nodes(node_ports[0]),
        )

    def _prepare_prometheus(self, state: _State) -> tuple[str, Path]:
        """Find the tools and rules and write a config promtool accepts, before any start."""
        rules = self.rules_file or prometheus.repo_rules_file()
        if rules is None or not rules.is_file():
            raise StackError(
                f"alert rules not found ({rules or prometheus.RULES_RELATIVE} is missing, e.g. "
                "in an install without the source tree); pass --rules PATH to "
                f"{prometheus.RULES_RELATIVE.name} of the ocop-live repository"
            )
        tools = prometheus.ensure_tools(self._log)
        config = prometheus.write_config(
            self._prometheus_dir,
            worker_metrics_port=state.worker_metrics_port,
            web_port=state.web_port,
            rules_file=rules,
        )
        prometheus.check_config(tools.promtool, config)
        return tools.prometheus, config

    def _run_prometheus(
        self, state: _State, binary: str, config: Path, pid: int | None, deadline: float
    ) -> list[int]:
        """Start Prometheus, or make a running one reload; return the pids started."""
        port = state.prometheus_port
        if port is None:
            raise StackError(f"{self._state_file} has no Prometheus port; delete the run folder")
        if pid is not None:
            # A running Prometheus rereads its config and rules on SIGHUP.
            os.kill(pid, signal.SIGHUP)
            self._log(f"Prometheus (pid {pid}) reloaded {config}")
            return []
        pid = self._prometheus.start(prometheus.command(binary, config, port=port))
        self._log(f"started Prometheus (pid {pid}) on {LOOPBACK}:{port}; config {config}")
        self._wait_ready(
            [(self._prometheus, pid)], deadline, lambda: prometheus.prometheus_answers(port)
        )
        return [pid]

    def _wait_ready(
        self,
        members: list[tuple[Service, int]],
        deadline: float,
        answers: Callable[[], bool],
        *,
        what: str | None = None,
        explain: Callable[[], str] | None = None,
    ) -> None:
        """Wait until ``answers()``; fail at once if a member's process exits."""
        what = what or ", ".join(service.name for service, _ in members)
        began = time.monotonic()
        while True:
            for service, pid in members:
                if not alive(pid):
                    raise StackError(
                        f"{service.name} (pid {pid}) exited during startup; fix the cause "
                        f"below, then run `stack up` again.\n{service.log_tail()}"
                    )
            if answers():
                self._log(f"{what} answers (waited {time.monotonic() - began:.1f}s)")
                return
            if time.monotonic() >= deadline:
                pids = ", ".join(str(pid) for _, pid in members)
                details = [service.log_tail() for service, _ in members]
                if explain is not None:
                    details.append(explain())
                raise StackError(
                    f"{what} (pid {pids}) did not answer within the timeout; retry with a "
                    "longer timeout or read the logs.\n" + "\n".join(details)
                )
            time.sleep(0.25)

    def down(self, *, timeout_s: float = 30.0) -> None:
        """Stop every server (SIGTERM, then SIGKILL after ``timeout_s``); a no-op if stopped."""
        if not self.run_dir.is_dir():
            return
        with kafka.file_lock(self.run_dir / "stack.lock"):
            state = self._read_state()
            services = [self._prometheus, *self._kafka_services(state),
                        *self._redis_services(state)]
            running = [(s, s.pid()) for s in services]
            pids = [pid for _, pid in running if pid is not None]
            for service, pid in running:
                if pid is not None:
                    self._log(f"stopping {service.name} (pid {pid})")
            stop_pids(pids, timeout_s, self._log)
            for service, _ in running:
                service.pid_file.unlink(missing_ok=True)
        if pids:
            self._log(f"stack down; data kept in {self.run_dir}")
