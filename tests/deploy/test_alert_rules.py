"""The alert rules: valid for promtool, unit-tested by promtool, documented, consistent.

`promtool test rules deploy/prometheus/tests/*.yml` shows each rule firing when it should
and staying silent on a healthy and on an idle system; the checks here make sure every
rule has such tests, both languages, a runbook entry and only declared metric names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import promtool
from tests.deploy.metric_names import undeclared

RUNBOOK = promtool.REPO / "docs" / "runbook.md"
JOBS = {"ocop-worker", "ocop-web", "ocop-ingest"}
ANNOTATIONS = {"summary", "summary_vi", "description", "description_vi", "runbook_url"}
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict[str, Any]]:
    groups = _load(promtool.RULES)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alert_names() -> list[str]:
    return [rule["alert"] for rule in _rules()]


def _rule_tests() -> dict[str, list[dict[str, Any]]]:
    return {path.name: _load(path)["tests"] for path in sorted(promtool.RULE_TESTS.glob("*.yml"))}


def test_promtool_accepts_the_rules() -> None:
    code, output = promtool.run("check", "rules", str(promtool.RULES))
    assert code == 0, output
    assert f"{len(_rules())} rules found" in output, output


def test_promtool_unit_tests_pass() -> None:
    files = sorted(str(path) for path in promtool.RULE_TESTS.glob("*.yml"))
    assert files, f"no rule tests in {promtool.RULE_TESTS}"
    code, output = promtool.run("test", "rules", *files)
    assert code == 0, output
    assert output.count("SUCCESS") == len(files), output


def test_rule_names_are_unique_and_alerts_only() -> None:
    names = _alert_names()
    assert len(names) == len(set(names))
    assert all("alert" in rule and "record" not in rule for rule in _rules())
    assert len(names) >= 14


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: str(rule["alert"]))
def test_every_rule_is_labelled_and_described_in_both_languages(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert set(annotations) == ANNOTATIONS
    for name in ("summary", "description"):
        assert VIETNAMESE.search(annotations[f"{name}_vi"]), f"{name}_vi is not Vietnamese"
        assert not VIETNAMESE.search(annotations[name]), f"{name} is not English"
    anchor = annotations["runbook_url"].removeprefix("docs/runbook.md#")
    assert anchor == rule["alert"].lower()
    headings = {line.removeprefix("## ").strip().lower()
                for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
                if line.startswith("## ")}
    assert anchor in headings, f"docs/runbook.md has no section '## {rule['alert']}'"


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: str(rule["alert"]))
def test_every_rule_names_declared_metrics_and_known_jobs(rule: dict[str, Any]) -> None:
    expr = rule["expr"]
    assert not undeclared(expr), f"not in common/ or ingest/metrics.py: {undeclared(expr)}"
    jobs = set(re.findall(r'job="([^"]+)"', expr))
    assert jobs <= JOBS
    # The gateway serves only the ocop_ingest_* metrics, and nothing else serves them.
    if "ocop_ingest_" in expr:
        assert jobs == {"ocop-ingest"}, "ocop_ingest_* metrics come from job ocop-ingest only"
    elif "ocop_" in expr:
        assert "ocop-ingest" not in jobs, "the gateway serves no other ocop_* metric"
    # Every process exposes every declared metric: naming the job keeps the web's idle
    # copy of a worker gauge (and the other way round) out of the expression.
    if "ocop_" in expr and "ocop_redis_errors_total" not in expr:
        assert jobs, "an ocop_* expression must name the job that updates the metric"


def test_every_rule_fires_in_a_unit_test() -> None:
    fired = {
        case["alertname"]
        for tests in _rule_tests().values()
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert set(_alert_names()) <= fired, set(_alert_names()) - fired


@pytest.mark.parametrize("file", ["healthy.yml", "idle.yml"])
def test_every_rule_is_silent_on_healthy_and_idle_systems(file: str) -> None:
    tests = _rule_tests()[file]
    assert tests
    for test in tests:
        cases = test["alert_rule_test"]
        assert all(case["exp_alerts"] == [] for case in cases), test["name"]
        checked = {case["alertname"] for case in cases}
        assert checked == set(_alert_names()), (test["name"], set(_alert_names()) - checked)
