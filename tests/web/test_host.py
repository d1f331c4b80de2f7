"""The host hub's construction: the authentication deadline is 2 s at most (no I/O)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from common.settings import Settings
from common.tokens import HostTokens
from store.keys import Keys
from web.host import DEFAULT_AUTH_TIMEOUT_S, MAX_AUTH_TIMEOUT_S, HostHub
from web.reader import StoreReader
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
