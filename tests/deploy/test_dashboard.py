"""The Grafana dashboard and its provisioning: every query parses and names real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import promtool
from tests.deploy.metric_names import undeclared

GRAFANA = promtool.DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ocop-live.json"
# Grafana fills these in at query time; promtool needs a concrete duration.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
JOBS = {"ocop-worker", "ocop-web", "ocop-ingest"}
# What ops must see at a glance (issue 5): each needs a panel whose queries use it.
REQUIRED = {
    "throughput": ["ocop_events_applied_total", "ocop_events_consumed_total"],
    "lag": ["ocop_consumer_lag_messages", "ocop_consumer_lag_seconds"],
    "freshness to Redis": ["ocop_freshness_applied_seconds_bucket"],
    "freshness to screens": ["ocop_freshness_screen_seconds_bucket"],
    "dead letters": ["ocop_dead_letters_total"],
    "screens": ["ocop_ws_clients", "ocop_screens_stale"],
    "redis": ["ocop_redis_errors_total", "ocop_redis_roundtrip_seconds_bucket"],
    "batches": ["ocop_batch_messages_bucket", "ocop_batch_apply_seconds_bucket"],
    "stopped shards": ["ocop_shards_stopped", "ocop_apply_failures_total"],
}


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _exprs() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _datasource_uid() -> str:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                                 .read_text(encoding="utf-8"))
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    uid: str = source["uid"]
    return uid


def test_dashboard_identity_and_layout() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "ocop-live"
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["title"] and panel["description"], panel["title"]
        assert panel["targets"], panel["title"]


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_required_panels_exist(topic: str) -> None:
    for metric in REQUIRED[topic]:
        assert any(metric in expr for expr in _exprs()), f"no panel queries {metric} ({topic})"


def test_freshness_panels_show_p50_and_p99() -> None:
    for metric in ("ocop_freshness_applied_seconds", "ocop_freshness_screen_seconds"):
        quantiles = {expr.split(",")[0] for expr in _exprs() if f"{metric}_bucket" in expr}
        assert quantiles == {"histogram_quantile(0.5", "histogram_quantile(0.99"}, metric


def test_queries_use_the_provisioned_datasource() -> None:
    uid = _datasource_uid()
    for panel in _panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]


def test_queries_name_only_declared_metrics() -> None:
    for expr in _exprs():
        assert not undeclared(expr), \
            f"not declared in common/ or ingest/metrics.py: {undeclared(expr)}: {expr}"


def test_queries_name_known_jobs() -> None:
    for expr in _exprs():
        jobs = {job for match in re.findall(r'job=~?"([^"]+)"', expr) for job in match.split("|")}
        assert jobs <= JOBS, expr
        # The gateway serves only the ocop_ingest_* metrics, and nothing else serves them.
        if "ocop_ingest_" in expr:
            assert jobs == {"ocop-ingest"}, f"ocop_ingest_* come from job ocop-ingest only: {expr}"
        elif "ocop_" in expr:
            assert "ocop-ingest" not in jobs, f"the gateway serves no other ocop_* metric: {expr}"


def test_every_query_parses(tmp_path: Path) -> None:
    # promtool has no "check this expression" command: as recording rules they get parsed.
    rules = []
    for index, expr in enumerate(_exprs()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    code, output = promtool.run("check", "rules", str(path))
    assert code == 0, output


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ocop.yml")
                              .read_text(encoding="utf-8"))
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    compose = yaml.safe_load((promtool.REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{entry['options']['path']}:ro" in mounts
