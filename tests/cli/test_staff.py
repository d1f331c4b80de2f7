"""The staff commands: ``screens list``/``message`` and ``board hide``/``unhide``/``hidden``,
against the real Redis; a bad input is refused by name before anything is written."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import click
import pytest
import redis
from click.testing import CliRunner, Result

from cli.main import main
from cli.screens import parse_duration
from common.settings import Settings
from store.keys import Keys
from tests.conftest import settings_env
from tests.web.writes import now_ms
from web.hub import MAX_MESSAGE_CHARS


def _run(settings: Settings | None, *args: str) -> Result:
    env = settings_env(settings) if settings is not None else None
    return CliRunner().invoke(main, list(args), env=env)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400),
                                               ("2h", 7200), (" 10m ", 600)])
def test_a_duration_is_read_in_hours_minutes_and_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m", "0s", "-5m", "5m1h"])
def test_a_bad_duration_is_refused_by_name(text: str) -> None:
    with pytest.raises(click.BadParameter, match=re.escape(repr(text))):
        parse_duration(text)


def test_a_bad_duration_is_a_usage_error_naming_it() -> None:
    result = _run(None, "screens", "message", "Hi", "--for", "5 minutes")
    assert result.exit_code == 2
    assert "--for" in result.output and "'5 minutes'" in result.output


@pytest.mark.parametrize("args", [[], ["Hi", "--clear"], ["--clear", "--for", "5m"]])
def test_message_wants_either_a_text_or_clear(args: list[str]) -> None:
    result = _run(None, "screens", "message", *args)
    assert result.exit_code == 2, result.output
    assert "--clear" in result.output


def test_a_message_too_long_is_refused() -> None:
    result = _run(None, "screens", "message", "x" * (MAX_MESSAGE_CHARS + 1))
    assert result.exit_code == 2
    assert f"{MAX_MESSAGE_CHARS + 1} characters" in result.output


def test_screens_list_without_configured_screens_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OCOP_SCREENS", raising=False)
    result = _run(None, "screens", "list")
    assert result.exit_code == 1
    assert "OCOP_SCREENS" in result.output


@pytest.mark.integration
def test_screens_list_shows_each_screen_its_last_contact_and_staleness(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(screens="stage-left,stage-right,entrance", web_screen_stale_s=15)
    keys = Keys(settings.key_prefix)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        client.hset(keys.screens_seen(), mapping={"stage-left": now_ms() - 2_000,
                                                  "stage-right": now_ms() - 120_000})
        result = _run(settings, "screens", "list")
    finally:
        client.close()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["SCREEN", "LAST", "CONTACT", "(ICT)", "STALENESS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["stage-left", "stage-right", "entrance"]
    assert rows["stage-left"].endswith("(ok)") and " 2 s " in rows["stage-left"]
    assert rows["stage-right"].endswith("120 s (stale)")
    assert rows["entrance"].split()[1:] == ["never", "-"]


@pytest.mark.integration
def test_a_message_is_stored_with_its_expiry_and_cleared(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    keys = Keys(settings.key_prefix)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        result = _run(settings, "screens", "message", "Phiên đấu giá bắt đầu lúc 15:00",
                      "--for", "5m")
        assert result.exit_code == 0, result.output
        assert "up for 300 s; 0 web process(es) told" in result.output
        stored = json.loads(client.get(keys.screens_message()) or "")
        assert stored["text"] == "Phiên đấu giá bắt đầu lúc 15:00"
        assert 0 < stored["until_ms"] - now_ms() <= 300_000
        assert 0 < client.ttl(keys.screens_message()) <= 300
        result = _run(settings, "screens", "message", "Until cleared")
        assert "up until cleared" in result.output
        assert client.ttl(keys.screens_message()) == -1
        result = _run(settings, "screens", "message", "--clear")
        assert result.exit_code == 0 and "taken down" in result.output
        assert client.get(keys.screens_message()) is None
    finally:
        client.close()


@pytest.mark.integration
def test_hide_refuses_an_unknown_session_and_unhide_one_not_hidden(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    keys = Keys(settings.key_prefix)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        result = _run(settings, "board", "hide", "no-such-session")
        assert result.exit_code == 1
        assert "unknown session 'no-such-session'" in result.output
        assert not client.exists(keys.hidden_sessions())
        result = _run(settings, "board", "unhide", "cp-1")
        assert result.exit_code == 1 and "'cp-1' is not hidden" in result.output

        client.sadd(keys.sessions(1), "cp-1")  # counted, not in the catalog: a test stream
        assert _run(settings, "board", "hide", "cp-1").exit_code == 0
        assert client.smembers(keys.hidden_sessions()) == {"cp-1"}
        assert _run(settings, "board", "hidden").output == "cp-1\n"
        result = _run(settings, "board", "unhide", "cp-1")
        assert result.exit_code == 0 and "back on the leaderboards" in result.output
        assert client.smembers(keys.hidden_sessions()) == set()
    finally:
        client.close()
