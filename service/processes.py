"""`sipingtai up` helpers: embedded Redis when none is configured, a worker, the scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType

from dispatch.core.redis import EmbeddedRedis, start_embedded_redis
from dispatch.core.settings import Settings


class Supervisor:
    """Start Redis (embedded unless REDIS_URL is set), one RQ worker and the scheduler.

    Leaving the `with` block (Ctrl-C included) stops every process it started.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedRedis | None = None
        self.children: list[subprocess.Popen[bytes]] = []

    @property
    def redis_label(self) -> str:
        """Say which Redis is in use."""
        return f"embedded {self.embedded.url}" if self.embedded else "REDIS_URL"

    def __enter__(self) -> Supervisor:
        if not self.settings.redis_url:
            self.embedded = start_embedded_redis(self.settings.data_dir)
            self.settings = self.settings.model_copy(update={"redis_url": self.embedded.url})
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.effective_database_url,
            "REDIS_URL": self.settings.redis_url or "",
            "SIPINGTAI_DATA_DIR": str(self.settings.data_dir),
        }
        for command in (["worker"], ["scheduler"]):
            self.children.append(
                subprocess.Popen([sys.executable, "-m", "service.cli", *command], env=env)
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.embedded is not None:
            self.embedded.close()
