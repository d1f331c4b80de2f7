"""Prometheus in the local stack: its generated config, and the real server brought up."""

from __future__ import annotations

import json
import os
import shlex
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from devtools.stack import LocalStack, StackAddresses, StackError, prometheus
from devtools.stack.cli import stack as stack_cli
from tests.conftest import seconds
from tests.deploy import promtool


def _alert_names() -> set[str]:
    groups = yaml.safe_load(promtool.RULES.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"]}


def _api(addrs: StackAddresses, path: str) -> Any:
    with urllib.request.urlopen(f"{addrs.prometheus_url}{path}", timeout=10) as response:  # noqa: S310
        assert response.status == 200
        return json.loads(response.read())["data"]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_rules_are_found_in_the_source_tree() -> None:
    assert prometheus.repo_rules_file() == promtool.RULES


def test_config_scrapes_both_jobs_and_loads_the_rules(tmp_path: Path) -> None:
    path = prometheus.write_config(tmp_path, worker_metrics_port=21001, web_port=21002,
                                   rules_file=promtool.RULES)
    config = yaml.safe_load(path.read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"]
               for job in config["scrape_configs"]}
    assert targets == {"ocop-worker": ["127.0.0.1:21001"], "ocop-web": ["127.0.0.1:21002"]}
    assert config["rule_files"] == [str(promtool.RULES)]
    prometheus.check_config(promtool.tools().promtool, path)


def test_a_broken_rules_file_is_reported_before_anything_starts(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: up ==\n")
    local = LocalStack(run_dir=tmp_path / "run", rules_file=broken)
    with pytest.raises(StackError, match="promtool rejects"):
        local.up(with_prometheus=True)
    assert local.kafka_pid() is None
    assert local.redis_pid() is None
    assert local.prometheus_pid() is None


def test_missing_rules_name_the_option(tmp_path: Path) -> None:
    local = LocalStack(run_dir=tmp_path / "run", rules_file=tmp_path / "none.yml")
    with pytest.raises(StackError, match="--rules PATH"):
        local.up(with_prometheus=True)
    assert local.kafka_pid() is None


@pytest.fixture(scope="module")
def with_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of its own, brought up with Prometheus."""
    local = LocalStack(run_dir=tmp_path_factory.mktemp("prometheus") / "run")
    try:
        local.up(timeout_s=seconds(180), with_prometheus=True)
        yield local
    finally:
        local.down()


@pytest.mark.integration
def test_prometheus_is_ready_with_the_rules_and_both_targets(with_prometheus: LocalStack) -> None:
    addrs = with_prometheus.addresses()
    assert addrs.prometheus_port is not None
    assert addrs.prometheus_port not in {addrs.web_port, addrs.worker_metrics_port}
    assert addrs.env()["OCOP_PROMETHEUS_URL"] == addrs.prometheus_url
    with urllib.request.urlopen(f"{addrs.prometheus_url}/-/ready", timeout=10) as ready:  # noqa: S310
        assert ready.status == 200

    rules = {rule["name"] for group in _api(addrs, "/api/v1/rules")["groups"]
             for rule in group["rules"]}
    assert rules == _alert_names()

    # Targets appear once the first service-discovery round is done.
    expected = {("ocop-worker", f"http://127.0.0.1:{addrs.worker_metrics_port}/metrics"),
                ("ocop-web", f"http://127.0.0.1:{addrs.web_port}/metrics")}
    deadline = time.monotonic() + seconds(30)
    while True:
        targets = {(t["labels"]["job"], t["scrapeUrl"])
                   for t in _api(addrs, "/api/v1/targets")["activeTargets"]}
        if targets == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert targets == expected
    assert (with_prometheus.run_dir / "prometheus" / "data").is_dir()


@pytest.mark.integration
def test_up_again_reloads_and_status_and_env_show_it(with_prometheus: LocalStack) -> None:
    pid = with_prometheus.prometheus_pid()
    addrs = with_prometheus.up(with_prometheus=True)
    assert with_prometheus.prometheus_pid() == pid
    assert with_prometheus.status().prometheus_running

    runner = CliRunner()
    run_dir = str(with_prometheus.run_dir)
    status = runner.invoke(stack_cli, ["status", "--run-dir", run_dir])
    assert status.exit_code == 0, status.output
    assert f"prometheus: {addrs.prometheus_url}/  running (pid {pid})" in status.stdout
    env = runner.invoke(stack_cli, ["env", "--run-dir", run_dir])
    assert f"export OCOP_PROMETHEUS_URL={shlex.quote(str(addrs.prometheus_url))}" in env.stdout


@pytest.mark.integration
def test_down_stops_prometheus_and_keeps_its_port(with_prometheus: LocalStack) -> None:
    addrs = with_prometheus.addresses()
    pid = with_prometheus.prometheus_pid()
    assert pid is not None
    with_prometheus.down()
    assert _gone(pid)
    assert with_prometheus.prometheus_pid() is None
    assert not prometheus.prometheus_answers(addrs.prometheus_port or 0)
    assert with_prometheus.addresses() == addrs
