"""Settings read once from the environment, validated at start-up and passed down."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.core.files import private_dir


class Settings(BaseSettings):
    """Where the data lives and how routing behaves; every field has a working default."""

    model_config = SettingsConfigDict(env_prefix="SIPINGTAI_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="SQLite, embedded Redis, uploads")
    # DATABASE_URL and REDIS_URL are the conventional names, so they are read without prefix.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    near_boundary_m: float = Field(default=50.0, gt=0, le=5000)
    classify_threshold: float = Field(default=0.5, ge=0, le=1)
    # Demo mode: a random signing key kept in the data directory, and demo users at `up`.
    demo: bool = Field(default=True, description="SIPINGTAI_DEMO=false for a real deployment")
    secret_key: SecretStr | None = Field(default=None, description="signs the login tokens")
    token_ttl_minutes: int = Field(default=720, ge=1, le=60 * 24 * 30)
    # Failed sign-ins allowed before lockouts (1 s, doubling to 15 min) per username and per
    # client address; an office behind one address needs more than one person does.
    login_free_failures: int = Field(default=5, ge=1, le=1000)
    login_free_failures_per_address: int = Field(default=20, ge=1, le=100000)
    # The web map's tile layer; empty means none (a plain background that works offline).
    tile_url: str = Field(default="", max_length=500, description="e.g. https://…/{z}/{x}/{y}.png")
    tile_attribution: str = Field(default="", max_length=500)
    # A routing worker whose resident memory passes this finishes its job and exits for a
    # fresh process (started again by `up`'s supervisor, or by Docker); 0 for no bound.
    worker_max_rss_mb: float = Field(default=1024.0, ge=0, le=1024 * 1024)
    frontend_dir: Path = Field(
        default=Path(__file__).resolve().parents[2] / "frontend" / "dist",
        description="the built web pages served at /",
    )
    _key_memo: tuple[Path, str] | None = PrivateAttr(default=None)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def _explicit_secret_key(self) -> str:
        return self.secret_key.get_secret_value().strip() if self.secret_key else ""

    @property
    def token_ttl(self) -> timedelta:
        """Return how long a login token stays valid."""
        return timedelta(minutes=self.token_ttl_minutes)

    @property
    def secret_key_file(self) -> Path:
        """Return where demo mode keeps its generated signing key."""
        return self.data_dir / "secret_key"

    def resolved_secret_key(self) -> str:
        """Return the token signing key: the configured one, or in demo mode the data dir's own.

        Outside demo mode a missing, placeholder or short SIPINGTAI_SECRET_KEY is refused
        (SecretKeyError). In demo mode without one, a random key is created once in
        `<data_dir>/secret_key` (mode 0600) and reused by every later start.
        """
        explicit = self._explicit_secret_key()
        if not self.demo:
            problem = secret_key_problem(explicit)
            if problem:
                raise SecretKeyError(problem)
            return explicit
        if explicit:
            return explicit
        path = self.secret_key_file.resolve()
        if self._key_memo is None or self._key_memo[0] != path:
            self._key_memo = (path, _load_or_create_key(path))
        return self._key_memo[1]

    @property
    def effective_database_url(self) -> str:
        """Return DATABASE_URL, or the SQLite file under the data directory."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'sipingtai.db').resolve()}"


MIN_SECRET_KEY_LENGTH = 32
_PLACEHOLDER_WORDS = (
    "changethis",
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "secret-key-here",
    "your-secret",
    "your_secret",
    "example",
    "xxxxxxxx",
)


class SecretKeyError(ValueError):
    """The token signing key is unusable; the message says what to do."""


def secret_key_problem(key: str) -> str | None:
    """Say why a key must not sign tokens outside demo mode, or None when it will do."""
    hint = (
        "请设置 SIPINGTAI_SECRET_KEY 为至少 32 个字符的随机串，例如 "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`；"
        "或以 SIPINGTAI_DEMO=true 运行示例模式"
    )
    if not key:
        return (
            "非示例模式必须设置签名密钥 SIPINGTAI_SECRET_KEY is not set "
            f"(SIPINGTAI_DEMO=false). {hint}"
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return (
            f"SIPINGTAI_SECRET_KEY 太短 is too short ({len(key)} < {MIN_SECRET_KEY_LENGTH} "
            f"characters). {hint}"
        )
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(key)) < 8:
        return f"SIPINGTAI_SECRET_KEY 是占位符 looks like a placeholder, not a random key. {hint}"
    return None


def _load_or_create_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = _create_key_file(path)
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SecretKeyError(
            f"密钥文件 {path} 内容无效 holds no usable key; 删除该文件即可重新生成 delete it "
            "to generate a new one (existing logins end)"
        )
    return key


def _create_key_file(path: Path) -> str:
    """Write a new random key readable by the owner only; if another process won, use theirs."""
    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(key + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces an existing key
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(temporary)
    return key


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()
