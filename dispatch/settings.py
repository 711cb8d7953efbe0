"""Settings read once from the environment, validated at start-up and passed down."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data lives and how routing behaves; every field has a working default."""

    model_config = SettingsConfigDict(env_prefix="SIPINGTAI_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="SQLite, embedded Redis, uploads")
    # DATABASE_URL and REDIS_URL are the conventional names, so they are read without prefix.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    near_boundary_m: float = Field(default=50.0, gt=0, le=5000)
    classify_threshold: float = Field(default=0.5, ge=0, le=1)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def effective_database_url(self) -> str:
        """Return DATABASE_URL, or the SQLite file under the data directory."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'sipingtai.db').resolve()}"


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
