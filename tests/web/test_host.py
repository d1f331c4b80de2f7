"""The host hub without I/O: the authentication deadline is 2 s at most, and a session's
payload is built again only when what it is built from changed."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from common.settings import Settings
from common.tokens import HostTokens
from store.keys import Keys
from web.host import DEFAULT_AUTH_TIMEOUT_S, MAX_AUTH_TIMEOUT_S, HostHub, payload_inputs
from web.payload import Json, build_session
from web.reader import SessionRows, StoreReader
from web.scopes import Fair
from web.server import WebApp

_SECRET = "unit-test-secret-0123456789"  # noqa: S105  (signs nothing real)


def _settings() -> Settings:
    return Settings(token_secret=SecretStr(_SECRET))


def _hub(auth_timeout_s: float = DEFAULT_AUTH_TIMEOUT_S) -> HostHub:
    # The client is never used: building one opens no connection.
    reader = StoreReader(Redis(), keys=Keys("unit"), shards=1)
    return HostHub(reader=reader, tokens=HostTokens(secret=_SECRET), settings=_settings(),
                   board_changed=asyncio.Event(), auth_timeout_s=auth_timeout_s)


def test_the_default_deadline_is_the_maximum_of_two_seconds() -> None:
    assert DEFAULT_AUTH_TIMEOUT_S == MAX_AUTH_TIMEOUT_S == 2.0
    assert _hub().auth_timeout_s == 2.0
    assert _hub(auth_timeout_s=0.5).auth_timeout_s == 0.5


@pytest.mark.parametrize("seconds", [2.01, 5.0, 0.0, -1.0, float("inf"), float("nan")])
def test_a_deadline_outside_zero_to_two_seconds_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match=f"auth_timeout_s must be above 0 and at most 2.0 s, "
                                         f"got {seconds}"):
        _hub(auth_timeout_s=seconds)


def test_the_web_app_cannot_raise_it_either() -> None:
    with pytest.raises(ValueError, match="auth_timeout_s"):
        WebApp(settings=_settings(), auth_timeout_s=10.0)


H = 3_600_000
NOW = 1_795_748_400_000
FAIR = Fair(fair_id="cg", title="Chợ phiên OCOP", start_ms=NOW - H, end_ms=NOW + H)


def _rows(**changes: Any) -> SessionRows:
    rows = SessionRows(session_id="cp-01", now_ms=NOW, found=True,
                       counters={"views": "3", "gmv_vnd": "120000"}, unique_viewers=2,
                       minutes={NOW // 60_000 * 60_000: ["3", "1", "1", "120000"]},
                       today=["3", "1", "1", "120000"], rank_above=1, sessions_ranked=4,
                       next_gmv_above=200_000, catalog='{"title": "Phiên 1"}', fair=FAIR)
    return dataclasses.replace(rows, **changes)


# Another value for every field build_session reads (session_id and now_ms aside).
OTHER = {"found": False, "counters": {"views": "4", "gmv_vnd": "120000"},
         "unique_viewers": 3, "minutes": {NOW // 60_000 * 60_000: ["4", "1", "1", "120000"]},
         "today": ["4", "1", "1", "120000"], "rank_above": 0, "sessions_ranked": 5,
         "next_gmv_above": None, "catalog": '{"title": "Phiên 2"}', "fair": None}


def test_every_input_of_a_session_payload_is_in_its_fingerprint() -> None:
    # A field added to SessionRows must be listed here and in payload_inputs.
    assert {f.name for f in dataclasses.fields(SessionRows)} == \
        {*OTHER, "session_id", "now_ms"}
    for name, value in OTHER.items():
        assert payload_inputs(_rows(**{name: value})) != payload_inputs(_rows()), name
    assert payload_inputs(_rows(session_id="cp-02")) != payload_inputs(_rows())
    # The clock alone changes nothing, until the fair's status changes with it.
    assert payload_inputs(_rows(now_ms=NOW + 60_000)) == payload_inputs(_rows())
    assert payload_inputs(_rows(now_ms=NOW + 2 * H)) != payload_inputs(_rows())


def test_an_unchanged_session_is_not_built_again_and_a_changed_one_is() -> None:
    hub = _hub()
    built: list[SessionRows] = []
    real = hub._payload

    def counting(rows: SessionRows) -> Json:
        built.append(rows)
        return real(rows)

    hub._payload = counting  # type: ignore[method-assign]
    first, body = hub._current(_rows())
    again, same = hub._current(_rows(now_ms=NOW + 1_000))
    assert len(built) == 1 and again is first and same is body
    changed, new_body = hub._current(_rows(counters={"views": "4", "gmv_vnd": "120000"}))
    assert len(built) == 2 and new_body["views"] == 4 and body["views"] == 3
    assert changed == build_session(_rows(counters={"views": "4", "gmv_vnd": "120000"}),
                                    title=hub.settings.fair_title,
                                    place=hub.settings.fair_place)
