"""Host tokens: signed, expiring, one session each, with a rotatable secret."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from common.tokens import HostTokens, TokenProblem, TokenSecretError

NOW = 1_795_748_400_000
SECRET = "s" * 32
OLD = "o" * 32
OTHER = "x" * 32
TOKENS = HostTokens(secret=SECRET)
ROTATED = HostTokens(secret=SECRET, previous=OLD)
# How host tokens were signed before HMAC-SHA256: itsdangerous' default, SHA-1, with the
# same salt. Spelled out here because it is history, not something the module may change.
SHA1_SERIALIZER = URLSafeSerializer(SECRET, salt="ocop-live.host-token.v1")

session_ids = st.text(min_size=1, max_size=40)
expiries = st.integers(min_value=NOW + 1, max_value=NOW + 72 * 3_600_000)


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
        (HostTokens(secret=OTHER).issue("cp-01", expires_at_ms=NOW + 1000),
         TokenProblem.INVALID, 401),
        (SHA1_SERIALIZER.dumps({"sid": "cp-01", "exp": NOW + 1000}), TokenProblem.INVALID, 401),
        (TOKENS.issue("cp-02", expires_at_ms=NOW + 1000), TokenProblem.OTHER_SESSION, 403),
    ],
)
def test_refusals(token: str | None, problem: TokenProblem, status: int) -> None:
    check = TOKENS.check(token, session_id="cp-01", now_ms=NOW)
    assert (check.problem, check.http_status) == (problem, status)


@given(session_id=session_ids, expires_at_ms=expiries)
def test_a_sha1_token_is_invalid_whichever_secret_signed_it(session_id: str,
                                                            expires_at_ms: int) -> None:
    claims = {"sid": session_id, "exp": expires_at_ms}
    for secret in (SECRET, OLD):
        old_style = URLSafeSerializer(secret, salt="ocop-live.host-token.v1").dumps(claims)
        check = ROTATED.check(old_style, session_id=session_id, now_ms=NOW)
        assert check.problem is TokenProblem.INVALID


@given(session_id=session_ids, expires_at_ms=expiries)
def test_after_a_rotation_old_links_still_open_and_new_ones_use_the_new_secret(
        session_id: str, expires_at_ms: int) -> None:
    before = HostTokens(secret=OLD).issue(session_id, expires_at_ms=expires_at_ms)
    after = ROTATED.issue(session_id, expires_at_ms=expires_at_ms)
    assert ROTATED.check(before, session_id=session_id, now_ms=NOW).ok
    assert ROTATED.check(after, session_id=session_id, now_ms=NOW).ok
    # Only the first secret signs: dropping the previous one later voids nothing new.
    assert TOKENS.check(after, session_id=session_id, now_ms=NOW).ok
    assert HostTokens(secret=OLD).check(after, session_id=session_id,
                                        now_ms=NOW).problem is TokenProblem.INVALID
    # Once the previous secret is dropped, its links open nothing.
    assert TOKENS.check(before, session_id=session_id,
                        now_ms=NOW).problem is TokenProblem.INVALID


@given(session_id=session_ids, expires_at_ms=expiries)
def test_a_token_of_an_unrelated_secret_is_invalid_after_a_rotation(
        session_id: str, expires_at_ms: int) -> None:
    token = HostTokens(secret=OTHER).issue(session_id, expires_at_ms=expires_at_ms)
    assert ROTATED.check(token, session_id=session_id, now_ms=NOW).problem is TokenProblem.INVALID


def test_the_previous_secret_does_not_extend_expiry_or_session() -> None:
    token = HostTokens(secret=OLD).issue("cp-01", expires_at_ms=NOW + 1000)
    assert ROTATED.check(token, session_id="cp-01",
                         now_ms=NOW + 1000).problem is TokenProblem.EXPIRED
    assert ROTATED.check(token, session_id="cp-02",
                         now_ms=NOW).problem is TokenProblem.OTHER_SESSION


def test_a_previous_secret_equal_to_the_secret_changes_nothing() -> None:
    same = HostTokens(secret=SECRET, previous=SECRET)
    token = same.issue("cp-01", expires_at_ms=NOW + 1000)
    assert TOKENS.check(token, session_id="cp-01", now_ms=NOW).ok


@pytest.mark.parametrize(
    ("secret", "previous", "setting"),
    [
        ("short", "", "OCOP_TOKEN_SECRET has 5 characters"),
        ("", OLD, "OCOP_TOKEN_SECRET has 0 characters"),
        (SECRET, "p" * 15, "OCOP_TOKEN_SECRET_PREVIOUS has 15 characters"),
    ],
)
def test_a_short_secret_is_refused_naming_its_setting(secret: str, previous: str,
                                                      setting: str) -> None:
    with pytest.raises(TokenSecretError, match=setting) as raised:
        HostTokens(secret=secret, previous=previous)
    # The message names the setting, never the secret itself.
    assert not [value for value in (secret, previous) if value and value in str(raised.value)]
    assert isinstance(raised.value, ValueError)  # what the command line turns into an error


def test_sixteen_characters_are_enough_for_both() -> None:
    tokens = HostTokens(secret="n" * 16, previous="p" * 16)
    token = HostTokens(secret="p" * 16).issue("cp-01", expires_at_ms=NOW + 1000)
    assert tokens.check(token, session_id="cp-01", now_ms=NOW).ok
