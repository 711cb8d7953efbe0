"""A token's signature is checked once; its expiry on every use; forged tokens never kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch.core.errors import Unauthorized
from dispatch.core.settings import Settings
from dispatch.users.models import User, UserRole
from dispatch.users.tokens import ClaimsCache, issue_token

SETTINGS = Settings(demo=True, secret_key="the-test-signing-key-" + "k" * 32)
USER = User(id=7, username="grid", role=UserRole.GRID_WORKER, password_hash="$x$" + "a" * 50)


def test_a_token_read_twice_gives_the_same_claims_and_is_checked_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = ClaimsCache()
    token = issue_token(USER, SETTINGS)
    first = cache.read(token, SETTINGS)
    assert first.user_id == 7 and first.role is UserRole.GRID_WORKER

    def no_second_check(*_args: object) -> None:
        raise AssertionError("the signature was checked again")

    monkeypatch.setattr("dispatch.users.tokens.read_token", no_second_check)
    assert cache.read(token, SETTINGS) is first


def test_a_kept_token_that_has_expired_is_refused_and_dropped() -> None:
    cache = ClaimsCache()
    token = issue_token(USER, SETTINGS, ttl=timedelta(seconds=1))
    claims = cache.read(token, SETTINGS)
    # The same claims, now past their expiry (as if a second had passed).
    cache._claims[token] = type(claims)(
        claims.user_id, claims.role, claims.issued_at, claims.issued_at, claims.password_mark
    )
    with pytest.raises(Unauthorized) as refused:
        cache.read(token, SETTINGS)
    assert refused.value.code == "token_expired"
    assert token not in cache._claims


def test_a_forged_token_is_refused_every_time_and_never_kept() -> None:
    cache = ClaimsCache()
    forged = issue_token(USER, Settings(demo=True, secret_key="another-secret-key-" + "x" * 32))
    for _ in range(2):
        with pytest.raises(Unauthorized):
            cache.read(forged, SETTINGS)
    assert not cache._claims


def test_the_cache_is_bounded() -> None:
    cache = ClaimsCache(limit=3)
    tokens = [issue_token(USER, SETTINGS, ttl=timedelta(minutes=i + 1)) for i in range(5)]
    for token in tokens:
        cache.read(token, SETTINGS)
        assert len(cache._claims) <= 3
