"""Signing in over HTTP, tokens, the `user` commands and the token signing key."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import jwt
import pytest
import typer
from fastapi.testclient import TestClient

from dispatch.core.db import make_engine, session_scope
from dispatch.core.errors import Unauthorized
from dispatch.core.settings import SecretKeyError, Settings, get_settings
from dispatch.users.models import User, UserRole
from dispatch.users.service import (
    DEMO_PASSWORD,
    create_user,
    ensure_demo_users,
    get_user_by_username,
)
from dispatch.users.tokens import issue_token, read_token
from service.app import create_app
from tests.service.conftest import RunCli

INACTIVE = "test-auth-inactive"
STRONG_KEY = "k8Jw2vQz9Lr4Xp7Tn3Yb6Hc1Fd5Gs0Ma"


@pytest.fixture(scope="module")
def demo_users(demo_database_url: str) -> dict[str, str]:
    """Add the demo users and one inactive user to the shared demo database (adds only)."""
    engine = make_engine(demo_database_url)
    try:
        with session_scope(engine) as session:
            printed = ensure_demo_users(session)
            if get_user_by_username(session, INACTIVE) is None:
                user = create_user(
                    session,
                    username=INACTIVE,
                    password=DEMO_PASSWORD,
                    role=UserRole.COMMAND_CENTRE,
                )
                user.active = False
    finally:
        engine.dispose()
    return {name: password for name, _, password in printed}


@pytest.fixture(scope="module")
def auth_settings(demo_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Demo-mode settings whose signing key lives in a fresh data directory."""
    return Settings(
        DATABASE_URL=demo_database_url, data_dir=tmp_path_factory.mktemp("auth-data"), demo=True
    )


@pytest.fixture(scope="module")
def client(auth_settings: Settings, demo_users: dict[str, str]) -> Iterator[TestClient]:
    """Serve the app over the demo database with its demo users."""
    with TestClient(create_app(auth_settings)) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str) -> tuple[int, dict[str, object]]:
    """Post the OAuth2 password form; return the status and the JSON body."""
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    return response.status_code, response.json()


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def user_like(user_id: int, role: UserRole, password_hash: str = "") -> User:
    """Return an unsaved user with this id, role and password hash, to sign tokens for."""
    return User(id=user_id, username="x", password_hash=password_hash, role=role)


def stored_hash(settings: Settings, username: str) -> str:
    """Return the password hash stored for a user (a token carries a mark of it)."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            user = get_user_by_username(session, username)
            assert user is not None
            return user.password_hash
    finally:
        engine.dispose()


# ---- The password flow ----------------------------------------------------------------------


def test_good_credentials_get_a_bearer_token_for_that_user(
    client: TestClient, auth_settings: Settings, demo_users: dict[str, str]
) -> None:
    assert demo_users["zhifa"] == DEMO_PASSWORD
    status, body = sign_in(client, "zhifa", DEMO_PASSWORD)
    assert status == 200, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 720 * 60
    user = body["user"]
    assert isinstance(user, dict)
    assert set(user) == {
        "id",
        "username",
        "role",
        "township_code",
        "department_id",
        "display_name",
        "township_name",
        "department_name",
        "actions",
        "boards",
    }
    assert user["username"] == "zhifa" and user["role"] == "department_staff"
    assert user["department_name"] == "县综合行政执法局" and user["township_name"] is None
    assert user["township_code"] is None and isinstance(user["department_id"], int)
    token = body["access_token"]
    assert isinstance(token, str)
    claims = read_token(token, auth_settings)
    assert claims.user_id == user["id"] and claims.role is UserRole.DEPARTMENT_STAFF
    assert timedelta(minutes=719) < claims.expires_at - claims.issued_at <= timedelta(minutes=720)


def test_me_returns_the_signed_in_user(client: TestClient) -> None:
    _, body = sign_in(client, "GRID", DEMO_PASSWORD)  # usernames are case-insensitive
    token = body["access_token"]
    assert isinstance(token, str)
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 200
    me = response.json()
    assert me == body["user"]
    assert me["role"] == "grid_worker" and me["township_code"] == "320999004"
    assert "password_hash" not in me


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: TestClient) -> None:
    wrong_password = client.post(
        "/api/auth/token", data={"username": "centre", "password": "not-the-password"}
    )
    unknown_user = client.post(
        "/api/auth/token", data={"username": "no-such-user", "password": DEMO_PASSWORD}
    )
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        message = response.json()["detail"]["message"]
        assert message == "用户名或密码错误"
        assert response.json()["detail"]["code"] == "bad_credentials"
    assert wrong_password.json() == unknown_user.json()


def test_an_inactive_user_cannot_sign_in_nor_use_a_token(
    client: TestClient, auth_settings: Settings
) -> None:
    status, body = sign_in(client, INACTIVE, DEMO_PASSWORD)
    assert status == 401
    assert "用户名或密码错误" in str(body)

    engine = make_engine(auth_settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            inactive = get_user_by_username(session, INACTIVE)
            assert inactive is not None and not inactive.active
            token = issue_token(inactive, auth_settings)
    finally:
        engine.dispose()
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert "已停用" in response.json()["detail"]["message"]


def test_the_form_is_the_oauth2_password_form(client: TestClient) -> None:
    response = client.post("/api/auth/token", json={"username": "admin", "password": DEMO_PASSWORD})
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "username"

    no_password = client.post("/api/auth/token", data={"username": "admin"})
    assert no_password.status_code == 422
    assert no_password.json()["detail"]["field"] == "password"


# ---- Tokens -----------------------------------------------------------------------------


def _user_id(client: TestClient, username: str) -> int:
    _, body = sign_in(client, username, DEMO_PASSWORD)
    user = body["user"]
    assert isinstance(user, dict)
    return int(user["id"])


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "未登录"),
        ({"Authorization": "Bearer"}, "未登录"),
        ({"Authorization": "Bearer not.a.token"}, "登录凭证无效"),
        ({"Authorization": "Basic YWRtaW46ZGVtby0yMDI2"}, "未登录"),
    ],
    ids=["no-header", "empty-bearer", "garbage", "basic-auth"],
)
def test_me_without_a_usable_token_is_401_with_a_bearer_challenge(
    client: TestClient, headers: dict[str, str], message: str
) -> None:
    response = client.get("/api/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert message in response.json()["detail"]["message"]


def test_an_expired_token_is_refused_saying_so(client: TestClient, auth_settings: Settings) -> None:
    user = user_like(
        _user_id(client, "township"),
        UserRole.TOWNSHIP_OPERATOR,
        stored_hash(auth_settings, "township"),
    )
    fresh = issue_token(user, auth_settings)
    assert client.get("/api/auth/me", headers=bearer(fresh)).status_code == 200
    expired = issue_token(user, auth_settings, ttl=timedelta(minutes=-1))
    response = client.get("/api/auth/me", headers=bearer(expired))
    assert response.status_code == 401
    assert "过期" in response.json()["detail"]["message"]
    with pytest.raises(Unauthorized, match="过期"):
        read_token(expired, auth_settings)


def test_a_token_signed_with_another_key_is_refused(
    client: TestClient, auth_settings: Settings
) -> None:
    user_id = _user_id(client, "admin")
    forged = jwt.encode(
        {"sub": str(user_id), "role": "admin", "iat": 0, "exp": 2_000_000_000},
        "another-key-another-key-another-key!",
        algorithm="HS256",
    )
    response = client.get("/api/auth/me", headers=bearer(forged))
    assert response.status_code == 401
    assert "登录凭证无效" in response.json()["detail"]["message"]


def test_a_token_of_a_deleted_user_or_of_a_former_role_is_refused(
    client: TestClient, auth_settings: Settings
) -> None:
    deleted = issue_token(user_like(987_654_321, UserRole.ADMIN), auth_settings)
    assert client.get("/api/auth/me", headers=bearer(deleted)).status_code == 401

    grid_id, grid_hash = _user_id(client, "grid"), stored_hash(auth_settings, "grid")
    promoted = issue_token(user_like(grid_id, UserRole.ADMIN, grid_hash), auth_settings)
    assert client.get("/api/auth/me", headers=bearer(promoted)).status_code == 401
    as_issued = issue_token(user_like(grid_id, UserRole.GRID_WORKER, grid_hash), auth_settings)
    assert client.get("/api/auth/me", headers=bearer(as_issued)).status_code == 200
    with_another_password = issue_token(user_like(grid_id, UserRole.GRID_WORKER), auth_settings)
    assert client.get("/api/auth/me", headers=bearer(with_another_password)).status_code == 401


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "admin", "iat": 0, "exp": 2_000_000_000},
        {"sub": "abc", "role": "admin", "iat": 0, "exp": 2_000_000_000},
        {"sub": "1", "role": "mayor", "iat": 0, "exp": 2_000_000_000},
        {"sub": "1", "role": "admin", "iat": 0, "pwd": "x"},
        {"sub": "1", "role": "admin", "iat": 0, "exp": 2_000_000_000},
    ],
    ids=["no-sub", "sub-not-an-id", "unknown-role", "no-exp", "no-password-mark"],
)
def test_a_well_signed_token_with_bad_claims_is_refused(
    auth_settings: Settings, payload: dict[str, object]
) -> None:
    token = jwt.encode(payload, auth_settings.resolved_secret_key(), algorithm="HS256")
    with pytest.raises(Unauthorized, match="登录凭证无效"):
        read_token(token, auth_settings)


# ---- The `user` commands ------------------------------------------------------------------


def test_user_add_reads_the_password_from_stdin_and_the_user_can_sign_in(
    demo_cli: RunCli, client: TestClient
) -> None:
    added = demo_cli(
        "user",
        "add",
        "test-cli-market",
        "--role",
        "department_staff",
        "--scope",
        "县市场监督管理局",
        "--display-name",
        "市场监管局值班员",
        input="market password 1\n",
    )
    assert added.exit_code == 0, added.output
    assert "test-cli-market (department_staff, 县市场监督管理局)" in added.output

    township = demo_cli(
        "user",
        "add",
        "Test-CLI-Hekou",
        "--role",
        "township_operator",
        "--scope",
        "河口镇",
        input="hekou password 1\n",
    )
    assert township.exit_code == 0, township.output
    assert "test-cli-hekou (township_operator, 河口镇 (320999005))" in township.output

    listed = demo_cli("user", "list")
    assert listed.exit_code == 0
    line = next(x for x in listed.output.splitlines() if x.startswith("test-cli-market "))
    assert "department_staff" in line and "市场监管局值班员" in line

    status, body = sign_in(client, "test-cli-market", "market password 1")
    assert status == 200, body


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("test-cli-empty", "--role", "admin"), "\n", "密码为空"),
        (("test-cli-short", "--role", "admin"), "short\n", "密码至少 8 个字符"),
        (("test-cli-noscope", "--role", "grid_worker"), "long enough\n", "须指定乡镇"),
        (("test-cli-scope", "--role", "admin", "--scope", "新市镇"), "long enough\n", "不指定范围"),
        (
            ("test-cli-dept", "--role", "department_staff", "--scope", "县不存在局"),
            "long enough\n",
            "不在部门名录中",
        ),
        (("centre", "--role", "command_centre"), "long enough\n", "已存在"),
        (("x", "--role", "admin"), "long enough\n", "用户名须为 3–100"),
    ],
    ids=[
        "empty-password",
        "short-password",
        "no-scope",
        "scope-for-admin",
        "unknown-dept",
        "duplicate",
        "bad-username",
    ],
)
def test_user_add_refuses_bad_input_with_status_2(
    demo_cli: RunCli, demo_users: dict[str, str], args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = demo_cli("user", "add", *args, input=stdin)
    assert result.exit_code == 2
    assert message in result.output


def test_on_a_terminal_the_password_is_asked_twice_and_a_mismatch_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import getpass
    import io

    from service.cli import _read_new_password

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = ["first password", "second password", "same password", "same password"]
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": answers.pop(0))
    monkeypatch.setattr("sys.stdin", Terminal())
    with pytest.raises(typer.Exit) as refused:
        _read_new_password()
    assert refused.value.exit_code == 2
    assert _read_new_password() == "same password"
    assert answers == []


# ---- The signing key ----------------------------------------------------------------------


def test_demo_mode_creates_a_private_key_file_once_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "not-yet-there"
    first = Settings(data_dir=data_dir, demo=True)
    key = first.resolved_secret_key()
    key_file = data_dir / "secret_key"
    assert key_file.read_text(encoding="utf-8").strip() == key
    assert len(key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temporary file left

    restarted = Settings(data_dir=data_dir, demo=True)
    assert restarted.resolved_secret_key() == key
    token = issue_token(user_like(1, UserRole.ADMIN), first)
    assert read_token(token, restarted).user_id == 1

    elsewhere = Settings(data_dir=tmp_path / "other", demo=True)
    assert elsewhere.resolved_secret_key() != key
    with pytest.raises(Unauthorized):
        read_token(token, elsewhere)


def test_demo_mode_refuses_a_damaged_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("short\n", encoding="utf-8")
    with pytest.raises(SecretKeyError, match="删除该文件"):
        Settings(data_dir=tmp_path, demo=True).resolved_secret_key()


def test_demo_mode_uses_a_configured_key_as_given(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo=True, secret_key=STRONG_KEY)
    assert settings.resolved_secret_key() == STRONG_KEY
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("   ", "is not set"),
        ("s3cr3t-but-short", "too short"),
        ("changethis-changethis-changethis-42", "placeholder"),
        ("a" * 40, "placeholder"),
    ],
    ids=["missing", "empty", "blank", "short", "changethis", "one-letter"],
)
def test_outside_demo_mode_a_weak_key_is_refused_and_the_app_will_not_start(
    tmp_path: Path, key: str | None, reason: str
) -> None:
    settings = Settings(data_dir=tmp_path, demo=False, secret_key=key)
    with pytest.raises(SecretKeyError, match=reason) as refused:
        settings.resolved_secret_key()
    assert "SIPINGTAI_SECRET_KEY" in str(refused.value)
    if key and key.strip():
        assert key not in str(refused.value)  # the message never echoes the secret
    with pytest.raises(SecretKeyError):
        create_app(settings)
    assert not (tmp_path / "secret_key").exists()


def test_outside_demo_mode_a_strong_key_from_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPINGTAI_DEMO", "false")
    monkeypatch.setenv("SIPINGTAI_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv("SIPINGTAI_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.demo is False
    assert settings.resolved_secret_key() == STRONG_KEY
    assert STRONG_KEY not in repr(settings)
    create_app(settings)
    assert not (tmp_path / "secret_key").exists()


def test_up_refuses_to_start_outside_demo_mode_without_a_key(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_migrate(_url: str) -> None:
        raise AssertionError("up went on to migrate instead of refusing")

    monkeypatch.setenv("SIPINGTAI_DEMO", "false")
    monkeypatch.setenv("SIPINGTAI_SECRET_KEY", "changethis")
    monkeypatch.setattr("service.cli.migrate", must_not_migrate)
    get_settings.cache_clear()
    result = cli("up")
    assert result.exit_code == 2
    assert "SIPINGTAI_SECRET_KEY" in result.output


def test_user_deactivate_reactivate_and_password_on_the_command_line(
    demo_cli: RunCli, client: TestClient
) -> None:
    name = f"test-cli-{uuid4().hex[:8]}"
    added = demo_cli("user", "add", name, "--role", "command_centre", input="first password\n")
    assert added.exit_code == 0, added.output
    status, body = sign_in(client, name, "first password")
    assert status == 200
    token = bearer(str(body["access_token"]))

    gone = demo_cli("user", "deactivate", name)
    assert gone.exit_code == 0 and "已停用" in gone.output
    assert client.get("/api/auth/me", headers=token).status_code == 401
    assert sign_in(client, name, "first password")[0] == 401
    again = demo_cli("user", "deactivate", name)
    assert again.exit_code == 2 and "已停用" in again.output

    back = demo_cli("user", "reactivate", name, "--generate")
    assert back.exit_code == 0, back.output
    shown = back.output.rsplit(": ", 1)[1].strip()
    assert sign_in(client, name, shown)[0] == 200
    assert sign_in(client, name, "first password")[0] == 401

    reset = demo_cli("user", "password", name, input="second password\n")
    assert reset.exit_code == 0 and "temporary password" not in reset.output
    assert sign_in(client, name, "second password")[0] == 200
    assert demo_cli("user", "password", "nobody-here", "--generate").exit_code == 2
