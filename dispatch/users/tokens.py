"""Login tokens: HS256 JWTs naming the user and role, signed with the settings' secret key."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlmodel import Session, col, select

from dispatch.core.errors import Unauthorized
from dispatch.core.settings import Settings
from dispatch.users.models import User, UserRole
from dispatch.users.service import get_user

ALGORITHM = "HS256"
INVALID_TOKEN = "登录凭证无效，请重新登录"
EXPIRED_TOKEN = "登录已过期，请重新登录"
UNKNOWN_USER = "用户不存在或已停用，请重新登录"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: whose it is, with which role, until when."""

    user_id: int
    role: UserRole
    issued_at: datetime
    expires_at: datetime
    password_mark: str


def password_mark(user: User) -> str:
    """Return a short mark of the user's password hash: a new password ends older tokens.

    The hash is salted, so the mark says nothing of the password; setting any password
    (even the same one) makes a new salt and so a new mark.
    """
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def issue_token(user: User, settings: Settings, *, ttl: timedelta | None = None) -> str:
    """Sign a token for the user, valid for the settings' lifetime unless ttl says otherwise."""
    assert user.id is not None
    now = datetime.now(UTC)
    payload = {
        "sub": str(user.id),
        "role": UserRole(user.role).value,
        "pwd": password_mark(user),
        "iat": now,
        "exp": now + (settings.token_ttl if ttl is None else ttl),
    }
    return jwt.encode(payload, settings.resolved_secret_key(), algorithm=ALGORITHM)


def read_token(token: str, settings: Settings) -> TokenClaims:
    """Check a token's signature and expiry and return its claims; Unauthorized otherwise."""
    try:
        payload = jwt.decode(
            token,
            settings.resolved_secret_key(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "pwd"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(EXPIRED_TOKEN, code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized(INVALID_TOKEN, code="invalid_token") from None
    try:
        return TokenClaims(
            user_id=int(payload["sub"]),
            role=UserRole(str(payload.get("role"))),
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
            password_mark=str(payload["pwd"]),
        )
    except (TypeError, ValueError):
        raise Unauthorized(INVALID_TOKEN, code="invalid_token") from None


class ClaimsCache:
    """Tokens already checked, with their claims: a signature is checked once per token.

    Decoding and checking a token costs about 0.1 ms, a large share of a cheap request.
    Only what the signature proves is kept (a token's claims never change); expiry is
    checked again on every use, and the user behind the claims is read as before, so a
    deactivation or a new password still ends the token at once. Bounded: when full, it
    starts again empty.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._claims: dict[str, TokenClaims] = {}

    def read(self, token: str, settings: Settings) -> TokenClaims:
        """Return the token's claims (checked once), or raise Unauthorized as read_token does."""
        claims = self._claims.get(token)
        if claims is None:
            claims = read_token(token, settings)
            if len(self._claims) >= self.limit:
                self._claims.clear()
            self._claims[token] = claims
        elif claims.expires_at <= datetime.now(UTC):
            del self._claims[token]
            raise Unauthorized(EXPIRED_TOKEN, code="token_expired")
        return claims


def user_from_token(session: Session, token: str, settings: Settings) -> User:
    """Return the active user a token belongs to (for headers and websocket `token` queries).

    A deleted or deactivated user, or one whose role or password changed since the token
    was issued, is refused: they must sign in again.
    """
    claims = read_token(token, settings)
    return _holder(get_user(session, claims.user_id), claims)


def users_of_claims(session: Session, claims: Sequence[TokenClaims]) -> list[User | Unauthorized]:
    """Return each token's active user, or the refusal user_from_token would raise: one query.

    For requests that share a transaction (intake's group commit): read in the same
    transaction that writes, a deactivation committed before it is always seen.
    """
    wanted = {c.user_id for c in claims}
    found = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(wanted)))}
    outcomes: list[User | Unauthorized] = []
    for claim in claims:
        try:
            outcomes.append(_holder(found.get(claim.user_id), claim))
        except Unauthorized as refused:
            outcomes.append(refused)
    return outcomes


def _holder(user: User | None, claims: TokenClaims) -> User:
    """Return the user if the token still speaks for them, else raise Unauthorized."""
    if (
        user is None
        or not user.active
        or user.role != claims.role
        or password_mark(user) != claims.password_mark
    ):
        raise Unauthorized(UNKNOWN_USER, code="unknown_user")
    return user
