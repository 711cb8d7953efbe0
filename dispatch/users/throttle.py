"""Sign-in throttling: exponential lockouts per username and per client address.

The counters live in the database, not in Redis: signing in needs the database anyway, a
Redis outage or restart must neither let guesses through nor lock everyone out, and the
refused sign-ins are kept beside them for the administrators. Both rows are read locked
(`FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` serialises writers), so concurrent guesses queue up
and each one counts: a burst cannot slip more guesses past the threshold than it allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import DomainError, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from dispatch.users.models import LoginThrottle, RefusalReason, RefusedLogin, User
from dispatch.users.service import authenticate, get_user_by_username, normalise_username

BAD_CREDENTIALS = "用户名或密码错误"


@dataclass(frozen=True, slots=True)
class Policy:
    """How many failures are free before lockouts start, and how long those grow."""

    free_failures: int
    first_lockout: timedelta = timedelta(seconds=1)
    max_lockout: timedelta = timedelta(minutes=15)
    # A counter whose last failure is older than this starts again from zero.
    forget_after: timedelta = timedelta(hours=1)

    def lockout(self, failures: int) -> timedelta | None:
        """Return the lockout after this many failures: none, then 1 s doubling to the cap."""
        if failures < self.free_failures:
            return None
        doublings = min(failures - self.free_failures, 20)
        return min(self.first_lockout * 2**doublings, self.max_lockout)


@dataclass(frozen=True, slots=True)
class Throttle:
    """The policies of usernames and of client addresses."""

    user: Policy = Policy(free_failures=5)
    # An office's computers often share one address, so an address gets more free failures.
    address: Policy = Policy(free_failures=20)

    def of(self, key: str) -> Policy:
        """Return the policy of a throttle key."""
        return self.user if key.startswith("user:") else self.address


DEFAULT_THROTTLE = Throttle()
MAX_KEY_PART = 100


def user_key(username: str) -> str:
    """Return the throttle key of a username (as it would be looked up)."""
    return f"user:{normalise_username(username)[:MAX_KEY_PART]}"


def address_key(address: str) -> str:
    """Return the throttle key of a client address."""
    return f"address:{address[:MAX_KEY_PART]}"


def sign_in(
    session: Session,
    username: str,
    password: str,
    *,
    address: str,
    throttle: Throttle = DEFAULT_THROTTLE,
    now: datetime | None = None,
) -> User | DomainError:
    """Return the user, or the refusal to answer with: Unauthorized or TooManyAttempts.

    The refusal is returned, not raised, so that the caller commits it: the failure counts
    and the RefusedLogin row must outlive the refused request. While a lockout of the username
    or of the address runs, even the right password is refused, and nothing is verified.
    """
    if "\x00" in username:  # PostgreSQL text cannot hold NUL: refuse before any lookup
        return InvalidInput("用户名含有非法字符", field="username", code="nul_character")
    now = now or utcnow()
    rows = [_locked_row(session, key) for key in sorted({user_key(username), address_key(address)})]
    until = max(
        (r.locked_until for r in rows if r.locked_until and r.locked_until > now), default=None
    )
    if until is not None:
        _record(session, username, address, RefusalReason.LOCKED_OUT, now)
        wait = max(1, math.ceil((until - now).total_seconds()))
        return TooManyAttempts(
            f"登录失败次数过多，已暂时锁定，请 {wait} 秒后再试",
            retry_after=wait,
        )
    user = authenticate(session, username, password)
    if user is None:
        for row in rows:
            _count_failure(row, throttle.of(row.key), now)
        _record(session, username, address, RefusalReason.BAD_CREDENTIALS, now)
        return Unauthorized(BAD_CREDENTIALS, code="bad_credentials")
    for row in rows:
        if row.key.startswith("user:"):
            _reset(row)
    session.flush()
    return user


def unlock(
    session: Session, *, username: str | None = None, address: str | None = None
) -> list[str]:
    """Clear the lockout and failures of a user and/or an address; return the keys cleared."""
    if username is None and address is None:
        raise InvalidInput("请指定用户名或地址", field="username", code="field_required")
    keys: list[str] = []
    if username is not None:
        if get_user_by_username(session, username) is None:
            raise NotFound(f"用户「{username}」不存在", field="username")
        keys.append(user_key(username))
    if address is not None:
        keys.append(address_key(address))
    for key in keys:
        row = session.get(LoginThrottle, key, with_for_update=True)
        if row is not None:
            _reset(row)
    session.flush()
    return keys


def refused_logins(session: Session, *, limit: int = 100) -> list[RefusedLogin]:
    """Return the latest refused sign-ins, newest first."""
    query = select(RefusedLogin).order_by(col(RefusedLogin.at).desc(), col(RefusedLogin.id).desc())
    return list(session.exec(query.limit(limit)).all())


def _locked_row(session: Session, key: str) -> LoginThrottle:
    """Return the key's row read for update, creating it (race-free) when it is new."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.exec(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _count_failure(row: LoginThrottle, policy: Policy, now: datetime) -> None:
    if row.last_failure_at is None or now - row.last_failure_at > policy.forget_after:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    lockout = policy.lockout(row.failures)
    row.locked_until = now + lockout if lockout else None


def _reset(row: LoginThrottle) -> None:
    row.failures = 0
    row.locked_until = None
    row.last_failure_at = None


def _record(
    session: Session, username: str, address: str, reason: RefusalReason, now: datetime
) -> None:
    session.add(
        RefusedLogin(
            at=now,
            username=normalise_username(username)[:MAX_KEY_PART],
            address=address[:MAX_KEY_PART],
            reason=reason,
        )
    )
    session.flush()
