"""docker-compose.yml, the Dockerfile and the files they mount, checked without Docker."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.main import main
from common.settings import Settings
from ingest.webhooks import load_sources
from tests.deploy import promtool

REPO = promtool.REPO
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS_CONFIG = promtool.DEPLOY / "prometheus" / "prometheus.compose.yml"
ALERTMANAGER_CONFIG = promtool.DEPLOY / "alertmanager" / "alertmanager.yml"
# Where each stateful service keeps its data; a container restart must not lose it.
STATE = {
    "kafka": "/var/lib/kafka/data",
    "redis": "/data",
    "prometheus": "/prometheus",
    "alertmanager": "/alertmanager",
    "grafana": "/var/lib/grafana",
}
# The services any interface may reach: the board, the ingest gateway (which asks for a
# key) and Grafana (which asks for a login).
# The rest publish on loopback only or not at all: Prometheus's lifecycle API
# (--web.enable-lifecycle) can stop it and Alertmanager can silence every alert, and
# neither asks for a login.
PUBLIC = {"web", "ingest", "grafana"}
# The `cluster` profile: three KRaft nodes, six Redis Cluster nodes and the one-shot job
# that joins them.
CLUSTER_KAFKA = [f"kafka-{node}" for node in (1, 2, 3)]
CLUSTER_REDIS = [f"redis-node-{node}" for node in range(1, 7)]
ONE_SHOT = {"redis-cluster-create"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _yaml(COMPOSE)["services"]
    return services


def _env(service: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _services()[service].get("environment", {}).items()}


# ``${NAME:-default}`` in a mount: what compose mounts when NAME is not set.
_DEFAULTED = re.compile(r"\$\{[A-Z0-9_]+:-([^}]*)\}")


def _mounts(service: str) -> list[tuple[str, str]]:
    pairs = []
    for volume in _services()[service].get("volumes", []):
        source, target = _DEFAULTED.sub(r"\1", volume).split(":")[:2]
        pairs.append((source, target))
    return pairs


def _host_ip(port: str | int | dict[str, Any]) -> str:
    """The host address a compose port entry binds; "" means every interface."""
    if isinstance(port, dict):
        return str(port.get("host_ip", ""))
    mapping = str(port).split("/")[0]
    if mapping.startswith("["):
        return mapping[1:mapping.index("]")]
    parts = mapping.split(":")
    return parts[0] if len(parts) == 3 else ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _port(url: str) -> int:
    match = re.search(r":(\d+)/", url)
    assert match, url
    return int(match.group(1))


def test_the_stack_has_every_service() -> None:
    default = {name for name, service in _services().items() if "profiles" not in service}
    assert default == {"kafka", "redis", "worker", "web", "ingest", "prometheus",
                       "alertmanager", "grafana"}
    cluster = {name for name, service in _services().items()
               if service.get("profiles") == ["cluster"]}
    assert cluster == {*CLUSTER_KAFKA, *CLUSTER_REDIS, *ONE_SHOT}
    assert set(_services()) == default | cluster
    assert _services()["kafka"]["image"] == "apache/kafka:4.0.0"


@pytest.mark.parametrize("name", sorted(set(_services()) - ONE_SHOT))
def test_every_service_is_complete(name: str) -> None:
    service = _services()[name]
    assert "image" in service or "build" in service
    assert service.get("ports") or service.get("expose")
    assert service.get("environment")
    check = service["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert {"interval", "timeout", "retries"} <= set(check)
    for dependency in service.get("depends_on", {}):
        assert dependency in _services()


@pytest.mark.parametrize("name", sorted(STATE))
def test_state_lives_in_named_volumes(name: str) -> None:
    declared = _yaml(COMPOSE)["volumes"]
    volumes = {target: source for source, target in _mounts(name)}
    assert STATE[name] in volumes, f"{name} keeps its data in {STATE[name]}"
    assert volumes[STATE[name]] in declared


def test_kafka_and_redis_persist_where_the_volumes_are() -> None:
    assert _env("kafka")["KAFKA_LOG_DIRS"] == STATE["kafka"]
    command = _services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_every_ocop_variable_is_a_setting_and_valid() -> None:
    fields = {f"OCOP_{name.upper()}" for name in Settings.model_fields}
    for name in _services():
        env = {k: v for k, v in _env(name).items() if k.startswith("OCOP_")}
        assert set(env) <= fields, (name, set(env) - fields)
        if env:
            Settings(**{k.removeprefix("OCOP_").lower(): v for k, v in env.items()})


def test_every_mounted_file_exists() -> None:
    for name in _services():
        for source, _ in _mounts(name):
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_the_gateway_reads_the_mounted_webhook_sources_and_by_default_none() -> None:
    mounted = {target: source for source, target in _mounts("ingest")}
    path = _env("ingest")["OCOP_WEBHOOK_SOURCES"]
    assert path in mounted, f"OCOP_WEBHOOK_SOURCES={path} is not mounted: {mounted}"
    assert "${OCOP_WEBHOOK_SOURCES_FILE:-" in str(_services()["ingest"]["volumes"])
    assert load_sources(str(REPO / mounted[path])) == {}


def test_app_services_run_cli_commands_on_their_ports() -> None:
    for name, port_setting in (("worker", "OCOP_WORKER_METRICS_PORT"), ("web", "OCOP_WEB_PORT"),
                               ("ingest", "OCOP_INGEST_PORT")):
        service = _services()[name]
        assert service["build"] == "."
        assert service["command"][0] in main.commands
        port = int(_env(name)[port_setting])
        assert _port(service["healthcheck"]["test"][-1]) == port
        assert _env(name)["OCOP_WEB_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container


@pytest.mark.parametrize(
    ("port", "host_ip", "loopback"),
    [
        ("9090:9090", "", False),
        ("9090", "", False),
        (9090, "", False),
        ("0.0.0.0:9090:9090", "0.0.0.0", False),  # noqa: S104 - the case to refuse
        ("127.0.0.1:9090:9090", "127.0.0.1", True),
        ("[::1]:9093:9093/tcp", "::1", True),
        ({"target": 9093, "published": 9093, "host_ip": "127.0.0.1"}, "127.0.0.1", True),
        ({"target": 9093, "published": 9093}, "", False),
    ],
)
def test_host_addresses_are_read_from_both_port_syntaxes(
        port: str | int | dict[str, Any], host_ip: str, loopback: bool) -> None:
    assert (_host_ip(port), _is_loopback(_host_ip(port))) == (host_ip, loopback)


@pytest.mark.parametrize("name", sorted(set(_services()) - PUBLIC))
def test_only_the_board_and_grafana_are_published_beyond_loopback(name: str) -> None:
    service = _services()[name]
    # Host networking would ignore the port bindings and listen on every interface.
    assert service.get("network_mode") != "host"
    for port in service.get("ports", []):
        assert _is_loopback(_host_ip(port)), f"{name} publishes {port} on every interface"


def test_prometheus_and_alertmanager_stay_reachable_from_the_host() -> None:
    for name, port in (("prometheus", 9090), ("alertmanager", 9093)):
        assert _services()[name]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_the_web_process_may_get_the_previous_token_secret() -> None:
    # Optional: an unset variable is an empty secret, i.e. no rotation in progress.
    reference = _env("web")["OCOP_TOKEN_SECRET_PREVIOUS"]
    assert reference == "${OCOP_TOKEN_SECRET_PREVIOUS:-}"


def test_workers_scale_out() -> None:
    worker = _services()["worker"]
    assert worker["deploy"]["replicas"] >= 2
    # Replicas cannot share a fixed name or a published host port.
    assert "container_name" not in worker
    assert "ports" not in worker


def test_dockerfile_installs_the_package_with_the_readme_entry_point() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    lines = DOCKERFILE.read_text().splitlines()
    assert any(re.match(r"RUN pip install .*\s\.$", line) for line in lines)
    (entrypoint,) = [line for line in lines if line.startswith("ENTRYPOINT")]
    program = entrypoint.split('"')[1]
    assert program in scripts
    assert scripts[program] == "cli.main:main"
    assert f"`{program} worker`" in (REPO / "README.md").read_text(encoding="utf-8")
    for package in ("common", "store", "counting", "streams", "consumers", "web", "ingest",
                    "reports", "cli", "devtools"):
        assert f"COPY {package} {package}" in lines


def test_prometheus_finds_every_worker_replica_by_dns() -> None:
    config = _yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job, service, port_setting in (("ocop-worker", "worker", "OCOP_WORKER_METRICS_PORT"),
                                       ("ocop-web", "web", "OCOP_WEB_PORT"),
                                       ("ocop-ingest", "ingest", "OCOP_INGEST_PORT")):
        (discovery,) = jobs[job]["dns_sd_configs"]
        assert discovery["names"] == [service]
        assert discovery["port"] == int(_env(service)[port_setting])
    mounts = dict(_mounts("prometheus"))
    assert mounts["./deploy/prometheus/alerts.yml"] in config["rule_files"]
    assert mounts["./deploy/prometheus/prometheus.compose.yml"] == "/etc/prometheus/prometheus.yml"
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_promtool_accepts_the_compose_config(tmp_path: Path) -> None:
    config = _yaml(PROMETHEUS_CONFIG)
    # The container sees the rules at /etc/prometheus; here they are in the repository.
    config["rule_files"] = [str(promtool.RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    code, output = promtool.run("check", "config", str(path))
    assert code == 0, output


def test_alertmanager_routes_and_inhibitions_name_real_alerts() -> None:
    config = _yaml(ALERTMANAGER_CONFIG)
    receivers = {receiver["name"] for receiver in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert all(child["receiver"] in receivers for child in route.get("routes", []))
    alerts = {rule["alert"] for group in _yaml(promtool.RULES)["groups"]
              for rule in group["rules"]}
    for inhibition in config["inhibit_rules"]:
        for matcher in inhibition["source_matchers"] + inhibition["target_matchers"]:
            pattern = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            assert pattern, matcher
            names = set(pattern.group(1).split("|"))
            assert names <= alerts, names - alerts


def test_redis_never_evicts_so_the_offset_fence_holds() -> None:
    command = _services()["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_cluster_kafka_is_one_quorum_of_three_replicating_nodes() -> None:
    envs = [_env(name) for name in CLUSTER_KAFKA]
    assert [env["KAFKA_NODE_ID"] for env in envs] == ["1", "2", "3"]
    assert len({env["CLUSTER_ID"] for env in envs}) == 1
    declared = _yaml(COMPOSE)["volumes"]
    for name, env in zip(CLUSTER_KAFKA, envs, strict=True):
        assert _services()[name]["image"] == _services()["kafka"]["image"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
            f"{node}@{other}:9093" for node, other in enumerate(CLUSTER_KAFKA, start=1))
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        for setting, value in (("DEFAULT_REPLICATION_FACTOR", "3"), ("MIN_INSYNC_REPLICAS", "2"),
                               ("OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
                               ("TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
                               ("TRANSACTION_STATE_LOG_MIN_ISR", "2")):
            assert env[f"KAFKA_{setting}"] == value, (name, setting)
        assert dict((t, s) for s, t in _mounts(name))[env["KAFKA_LOG_DIRS"]] in declared
    assert len({_mounts(name)[0][0] for name in CLUSTER_KAFKA}) == 3


def test_the_cluster_redis_nodes_keep_the_single_servers_guarantees() -> None:
    declared = _yaml(COMPOSE)["volumes"]
    for name in CLUSTER_REDIS:
        command = _services()[name]["command"]
        for flag, value in (("--cluster-enabled", "yes"), ("--appendonly", "yes"),
                            ("--maxmemory-policy", "noeviction")):
            assert command[command.index(flag) + 1] == value, (name, flag)
        assert dict((t, s) for s, t in _mounts(name))[STATE["redis"]] in declared
    assert len({_mounts(name)[0][0] for name in CLUSTER_REDIS}) == 6


def test_the_one_shot_job_joins_every_node_with_one_replica_each() -> None:
    (job,) = [_services()[name] for name in ONE_SHOT]
    assert job["restart"] == "no"
    assert job["depends_on"] == {name: {"condition": "service_healthy"} for name in CLUSTER_REDIS}
    script = " ".join(job["command"])
    assert "--cluster create" in script
    assert "--cluster-replicas 1 --cluster-yes" in script
    # Masters first: redis-cli makes the first half of the list the masters.
    assert script.index(" ".join(CLUSTER_REDIS)) > 0
    # A second start finds the cluster formed and creates nothing.
    assert script.startswith("redis-cli -h redis-node-1 cluster info | grep -q cluster_state:ok ||")
