"""Host tokens: signed, expiring, one session each."""

from __future__ import annotations

import pytest

from common.tokens import HostTokens, TokenProblem

NOW = 1_795_748_400_000
TOKENS = HostTokens(secret="s" * 32)


def test_a_token_opens_its_session_until_it_expires() -> None:
    token = TOKENS.issue("cp-01", expires_at_ms=NOW + 1000)
    assert TOKENS.check(token, session_id="cp-01", now_ms=NOW).ok
    expired = TOKENS.check(token, session_id="cp-01", now_ms=NOW + 1000)
    assert (expired.problem, expired.http_status) == (TokenProblem.EXPIRED, 401)


@pytest.mark.parametrize(
    ("token", "problem", "status"),
    [
        (None, TokenProblem.MISSING, 401),
        ("", TokenProblem.MISSING, 401),
        ("garbage", TokenProblem.INVALID, 401),
        (HostTokens(secret="x" * 32).issue("cp-01", expires_at_ms=NOW + 1000),
         TokenProblem.INVALID, 401),
        (TOKENS.issue("cp-02", expires_at_ms=NOW + 1000), TokenProblem.OTHER_SESSION, 403),
    ],
)
def test_refusals(token: str | None, problem: TokenProblem, status: int) -> None:
    check = TOKENS.check(token, session_id="cp-01", now_ms=NOW)
    assert (check.problem, check.http_status) == (problem, status)


def test_a_short_secret_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="OCOP_TOKEN_SECRET"):
        HostTokens(secret="short")  # noqa: S106  (a test value, not a credential)
