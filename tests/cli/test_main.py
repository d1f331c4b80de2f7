"""The ocop-live command's offline parts: tokens and catalog errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from common.tokens import MAX_TTL_HOURS, HostTokens

SECRET = "cli-test-secret-0123456789"  # noqa: S105  (a test value, not a credential)


def test_token_issue_prints_a_token_for_that_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCOP_TOKEN_SECRET", SECRET)
    result = CliRunner().invoke(main, ["token", "issue", "--session", "cp-1", "--ttl-hours", "1"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    now = time.time_ns() // 1_000_000
    assert HostTokens(secret=SECRET).check(token, session_id="cp-1", now_ms=now).ok
    assert not HostTokens(secret=SECRET).check(token, session_id="cp-1",
                                               now_ms=now + 3_700_000).ok


def test_token_issue_accepts_the_longest_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCOP_TOKEN_SECRET", SECRET)
    result = CliRunner().invoke(main, ["token", "issue", "--session", "cp-1",
                                       "--ttl-hours", f"{MAX_TTL_HOURS:g}"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    later = time.time_ns() // 1_000_000 + int((MAX_TTL_HOURS - 1) * 3_600_000)
    assert HostTokens(secret=SECRET).check(token, session_id="cp-1", now_ms=later).ok


@pytest.mark.parametrize("ttl", [f"{MAX_TTL_HOURS + 0.01:g}", "168", "1e9", "inf"])
def test_token_issue_refuses_a_ttl_over_the_maximum(monkeypatch: pytest.MonkeyPatch,
                                                    ttl: str) -> None:
    monkeypatch.setenv("OCOP_TOKEN_SECRET", SECRET)
    result = CliRunner().invoke(main, ["token", "issue", "--session", "cp-1", "--ttl-hours", ttl])
    assert result.exit_code == 2, result.output  # a usage error
    assert "--ttl-hours" in result.output
    assert f"{MAX_TTL_HOURS:g}" in result.output
    assert result.stdout == ""  # and no token


def test_token_issue_without_a_secret_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCOP_TOKEN_SECRET", raising=False)
    result = CliRunner().invoke(main, ["token", "issue", "--session", "cp-1"])
    assert result.exit_code != 0
    assert "OCOP_TOKEN_SECRET" in result.output


def test_catalog_load_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text('{"sessions": [{"session_id": "x", "title": 5}]}', encoding="utf-8")
    result = CliRunner().invoke(main, ["catalog", "load", str(bad)])
    assert result.exit_code != 0
    assert str(bad) in result.output
    assert "title" in result.output


def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCOP_PARTITIONS", "zero")
    result = CliRunner().invoke(main, ["token", "issue", "--session", "cp-1"])
    assert result.exit_code != 0
    assert "OCOP_PARTITIONS='zero'" in result.output


def test_development_commands_come_from_the_entry_point_group() -> None:
    # The product never imports devtools: its commands arrive as plugins.
    assert {"stack", "simulate"} <= set(main.commands)
    assert main.commands["stack"].callback is not None
    assert main.commands["stack"].callback.__module__.startswith("devtools.")
