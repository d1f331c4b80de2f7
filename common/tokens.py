"""Host tokens: signed, expiring, bound to one session."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "ocop-live.host-token.v1"


class TokenProblem(enum.Enum):
    """Why a token does not open a session (maps to 401 or 403)."""

    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"
    OTHER_SESSION = "other_session"


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
    """Issues and checks host tokens.

    Usage::

        tokens = HostTokens(secret="...")
        token = tokens.issue("cp-01", expires_at_ms=now_ms + 12 * 3600_000)
        tokens.check(token, session_id="cp-01", now_ms=now_ms).ok  # True
    """

    def __init__(self, *, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError(
                "token secret must be at least 16 characters; set OCOP_TOKEN_SECRET "
                "(`ocop-live stack env` prints one for the local stack)"
            )
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

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
