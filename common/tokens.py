"""Host tokens: signed, expiring, bound to one session."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

# Unchanged by the move to SHA-256: the digest alone makes every SHA-1 token fail to verify
# (tests/common/test_tokens.py checks it), and itsdangerous tries no other digest.
_SALT = "ocop-live.host-token.v1"
# Shorter secrets can be guessed offline from one leaked token.
MIN_SECRET_LENGTH = 16
# The longest a host token may live (`ocop-live token issue --ttl-hours`). A secret that
# was rotated out opens nothing once this long has passed, so it can then be dropped.
MAX_TTL_HOURS = 72.0


class TokenProblem(enum.Enum):
    """Why a token does not open a session (maps to 401 or 403)."""

    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    OTHER_SESSION = "other_session"


class TokenSecretError(ValueError):
    """A token secret too short to sign with; the message names its setting."""


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """Outcome of checking a token against the session it asks for."""

    problem: TokenProblem | None

    @property
    def ok(self) -> bool:
        """True when the token opens the session."""
        return self.problem is None

    @property
    def http_status(self) -> int:
        """401 for no or bad credentials, 403 for a valid token of another session."""
        if self.problem is None:
            return 200
        return 403 if self.problem is TokenProblem.OTHER_SESSION else 401


class HostTokens:
    """Issues and checks host tokens, signed with HMAC-SHA256.

    ``secret`` signs and checks; ``previous`` (empty: none) only checks, so the secret can
    be rotated without voiding the links hosts already have (docs/runbook.md, "Rotating
    the token secret"). Both need at least 16 characters. Tokens signed with
    itsdangerous' SHA-1 default, as host tokens were before, are refused as invalid (the
    host needs a new link), whichever secret signed them.

    Usage::

        tokens = HostTokens(secret="...", previous="...")
        token = tokens.issue("cp-01", expires_at_ms=now_ms + 12 * 3600_000)
        tokens.check(token, session_id="cp-01", now_ms=now_ms).ok  # True
    """

    def __init__(self, *, secret: str, previous: str = "") -> None:
        _require_length(secret, setting="OCOP_TOKEN_SECRET")
        if previous:
            _require_length(previous, setting="OCOP_TOKEN_SECRET_PREVIOUS")
        # itsdangerous signs with the last key of the list and accepts any of them.
        keys = [previous, secret] if previous and previous != secret else [secret]
        self._serializer = URLSafeSerializer(
            keys, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, session_id: str, *, expires_at_ms: int) -> str:
        """A token that opens ``session_id`` until ``expires_at_ms``."""
        return str(self._serializer.dumps({"sid": session_id, "exp": expires_at_ms}))

    def check(self, token: str | None, *, session_id: str, now_ms: int) -> TokenCheck:
        """Whether ``token`` opens ``session_id`` at ``now_ms``."""
        if not token:
            return TokenCheck(TokenProblem.MISSING)
        try:
            claims = self._serializer.loads(token)
        except BadSignature:
            return TokenCheck(TokenProblem.INVALID)
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            return TokenCheck(TokenProblem.INVALID)
        if claims["exp"] <= now_ms:
            return TokenCheck(TokenProblem.EXPIRED)
        if claims.get("sid") != session_id:
            return TokenCheck(TokenProblem.OTHER_SESSION)
        return TokenCheck(None)


def _require_length(secret: str, *, setting: str) -> None:
    if len(secret) < MIN_SECRET_LENGTH:
        raise TokenSecretError(
            f"{setting} has {len(secret)} characters, needs at least {MIN_SECRET_LENGTH} "
            "(`ocop-live stack env` prints one for the local stack)"
        )
