"""Sign-in throttling: lockouts per username and per address, 429 with Retry-After, unlock."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dispatch.core.clock import utcnow
from dispatch.core.db import make_engine, session_scope
from dispatch.core.errors import TooManyAttempts, Unauthorized
from dispatch.core.settings import Settings
from dispatch.users.models import LoginThrottle, RefusalReason, RefusedLogin, UserRole
from dispatch.users.service import DEMO_PASSWORD, create_user, ensure_demo_users
from dispatch.users.throttle import Policy, sign_in
from service.app import create_app

PASSWORD = "right-password-1"
WRONG = "wrong-password-1"

Client = Callable[..., TestClient]


@pytest.fixture(scope="module")
def settings(demo_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Demo-mode settings over the shared demo database (with its demo users)."""
    engine = make_engine(demo_database_url)
    with session_scope(engine) as session:
        ensure_demo_users(session)
    engine.dispose()
    return Settings(
        DATABASE_URL=demo_database_url, data_dir=tmp_path_factory.mktemp("throttle"), demo=True
    )


@pytest.fixture
def username(settings: Settings) -> str:
    """Create a user of this test's own, so no other test's failures count against it."""
    name = f"throttle-{secrets.token_hex(4)}"
    engine = make_engine(settings.effective_database_url)
    with session_scope(engine) as session:
        create_user(session, username=name, password=PASSWORD, role=UserRole.COMMAND_CENTRE)
    engine.dispose()
    return name


@pytest.fixture
def client_from(settings: Settings) -> Iterator[Client]:
    """Return clients of the app that come from a given address (one of this test's own)."""
    app = create_app(settings)
    opened: list[TestClient] = []

    def open_from(address: str | None = None) -> TestClient:
        address = address or f"198.51.100.{secrets.randbelow(250) + 1}-{secrets.token_hex(3)}"
        client = TestClient(app, client=(address, 50000))
        client.__enter__()
        opened.append(client)
        return client

    yield open_from
    for client in opened:
        client.__exit__(None, None, None)


def post(client: TestClient, username: str, password: str) -> tuple[int, dict[str, str], dict]:
    """Post the sign-in form; return the status, the headers and the JSON body."""
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    return response.status_code, dict(response.headers), response.json()


def lock_out(client: TestClient, username: str) -> None:
    """Fail five sign-ins in a row: the fifth has just begun a 1 s lockout."""
    for _ in range(5):
        assert post(client, username, WRONG)[0] == 401


def test_thirty_wrong_passwords_lock_the_user_out_even_for_the_right_one(
    client_from: Client, username: str
) -> None:
    client = client_from()
    statuses: list[int] = []
    right_after_a_lockout_began: list[tuple[int, str]] = []
    for attempt in range(30):
        statuses.append(post(client, username, WRONG)[0])
        if attempt >= 4 and statuses[-1] == 401:  # this failure began a lockout (1 s, 2 s, …)
            status, headers, body = post(client, username, PASSWORD)
            right_after_a_lockout_began.append((status, headers.get("retry-after", "")))
            assert "登录失败次数过多" in body["detail"]["message"]
    assert statuses[:5] == [401] * 5  # the first failures are free
    assert statuses.count(401) <= 7, statuses  # then lockouts: at most a retry after each
    assert right_after_a_lockout_began, statuses
    for status, retry_after in right_after_a_lockout_began:
        assert status == 429 and int(retry_after) >= 1


def test_another_address_does_not_help_the_username_is_locked(
    client_from: Client, username: str
) -> None:
    lock_out(client_from(), username)
    assert post(client_from(), username, PASSWORD)[0] == 429


def test_the_lockout_doubles_and_ends(settings: Settings, username: str) -> None:
    engine = make_engine(settings.effective_database_url)
    start = datetime.now(UTC)

    def attempt(password: str, at_s: float) -> int | None:
        """Sign in at start + at_s; return None for success, else Retry-After (0 for a 401)."""
        with session_scope(engine) as session:
            outcome = sign_in(
                session,
                username,
                password,
                address="192.0.2.9",
                now=start + timedelta(seconds=at_s),
            )
        if isinstance(outcome, TooManyAttempts):
            return outcome.retry_after
        return 0 if isinstance(outcome, Unauthorized) else None

    try:
        assert [attempt(WRONG, 0.1 * i) for i in range(5)] == [0] * 5
        assert attempt(PASSWORD, 0.5) == 1  # locked for 1 s from the fifth failure (0.4 s)
        assert attempt(WRONG, 1.5) == 0  # the lockout ended: a sixth failure, 2 s now
        assert attempt(PASSWORD, 1.6) == 2
        assert attempt(WRONG, 3.6) == 0  # a seventh: 4 s
        assert attempt(PASSWORD, 3.7) == 4
        assert attempt(PASSWORD, 7.7) is None  # over: the right password works
        # A success forgets the username's failures: the next wrong one is free again.
        assert attempt(WRONG, 7.8) == 0
        assert attempt(PASSWORD, 7.9) is None
    finally:
        engine.dispose()


def test_concurrent_guesses_cannot_slip_past_the_threshold(
    client_from: Client, username: str
) -> None:
    client = client_from()
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: post(client, username, WRONG)[0], range(30)))
    assert sorted(set(statuses)) == [401, 429]
    # Each guess is counted under the row lock; the lockouts that follow (1 s, 2 s, 4 s…)
    # let through at most one guess each within the burst.
    assert statuses.count(401) <= 8, statuses


def test_one_address_guessing_many_usernames_is_locked_out(
    client_from: Client, username: str
) -> None:
    client = client_from()
    statuses = [post(client, f"nobody-{i}", WRONG)[0] for i in range(20)]
    assert statuses == [401] * 20  # the twentieth began the address's lockout
    # The address is locked for every user, the right password included...
    assert post(client, username, PASSWORD)[0] == 429
    # ...but the user may still sign in from elsewhere.
    assert post(client_from(), username, PASSWORD)[0] == 200


def test_refused_sign_ins_are_recorded_and_an_admin_lists_them(
    client_from: Client, username: str, settings: Settings
) -> None:
    address = f"203.0.113.7-{secrets.token_hex(3)}"
    client = client_from(address)
    for _ in range(6):
        post(client, username, WRONG)
    engine = make_engine(settings.effective_database_url)
    with session_scope(engine) as session:
        rows = session.exec(select(RefusedLogin).where(RefusedLogin.username == username)).all()
    engine.dispose()
    reasons = [r.reason for r in rows]
    assert reasons.count(RefusalReason.BAD_CREDENTIALS) == 5
    assert reasons.count(RefusalReason.LOCKED_OUT) == 1
    assert {r.address for r in rows} == {address}

    admin = client_from()
    token = post(admin, "admin", DEMO_PASSWORD)[2]["access_token"]
    listed = admin.get("/api/auth/refused?limit=1000", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    mine = [r for r in listed.json() if r["username"] == username]
    assert len(mine) == 6 and "password" not in str(mine)


def test_an_admin_unlocks_a_user_over_the_api_and_others_may_not(
    client_from: Client, username: str, settings: Settings
) -> None:
    client = client_from()
    lock_out(client, username)
    # Stretch the 1 s lockout to the 15-minute cap, so a slow machine cannot outwait it.
    engine = make_engine(settings.effective_database_url)
    with session_scope(engine) as session:
        row = session.get(LoginThrottle, f"user:{username}")
        assert row is not None and row.locked_until is not None
        row.locked_until = utcnow() + timedelta(minutes=15)
        session.add(row)
    engine.dispose()
    assert post(client, username, PASSWORD)[0] == 429

    centre = client_from()
    centre_token = post(centre, "centre", DEMO_PASSWORD)[2]["access_token"]
    refused = centre.post(
        "/api/auth/unlock",
        json={"username": username},
        headers={"Authorization": f"Bearer {centre_token}"},
    )
    assert refused.status_code == 403

    admin = client_from()
    token = post(admin, "admin", DEMO_PASSWORD)[2]["access_token"]
    response = admin.post(
        "/api/auth/unlock",
        json={"username": username},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"unlocked": [f"user:{username}"]}
    assert post(client, username, PASSWORD)[0] == 200

    unknown = admin.post(
        "/api/auth/unlock",
        json={"username": "no-such-user-x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert unknown.status_code == 404


def test_user_unlock_on_the_command_line(
    client_from: Client, username: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dispatch.core.settings import get_settings
    from service.cli import app

    client = client_from()
    lock_out(client, username)
    assert post(client, username, PASSWORD)[0] == 429
    monkeypatch.setenv("DATABASE_URL", settings.effective_database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["user", "unlock", username], catch_exceptions=False)
        missing = CliRunner().invoke(app, ["user", "unlock", "no-such-user-x"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"user:{username}" in result.output
    assert missing.exit_code == 2
    assert post(client, username, PASSWORD)[0] == 200


def test_the_policy_backs_off_exponentially_to_a_cap() -> None:
    policy = Policy(free_failures=5)
    assert [policy.lockout(n) for n in range(5)] == [None] * 5
    seconds = [policy.lockout(n).total_seconds() for n in range(5, 16)]  # type: ignore[union-attr]
    assert seconds[:5] == [1, 2, 4, 8, 16]
    assert seconds[-1] == 900  # capped at 15 minutes


def test_a_username_with_nul_is_refused_naming_the_field(client_from: Client) -> None:
    status, _, body = post(client_from(), "ad\x00min", WRONG)
    assert status == 422  # was a 500 on PostgreSQL, whose text cannot hold NUL
    assert body["detail"]["field"] == "username"
