"""`sipingtai up`'s children: Redis (embedded unless REDIS_URL is set), a worker, the scheduler."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis

from dispatch.core.queues import RECYCLE_STATUS
from dispatch.core.redis import connect, embedded_redis_argv
from dispatch.core.settings import Settings
from service.supervisor import ChildSpec, GaveUp, RestartPolicy, Supervisor

# A unix socket path longer than this does not fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100


class UpProcesses:
    """Run Redis (embedded unless REDIS_URL is set), one RQ worker and the scheduler, supervised.

    A child that exits is restarted with backoff (`service.supervisor`); the embedded Redis
    comes back on the same socket, where the worker and the API find it again. Leaving the
    `with` block (Ctrl-C included) stops every process it started.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        log: Callable[[str], None] = print,
        on_give_up: Callable[[GaveUp], None] | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.embedded_url: str | None = None
        specs: list[ChildSpec] = []
        if not settings.redis_url:
            socket = _socket_path(settings.data_dir)
            self.embedded_url = f"unix://{socket}"
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            specs.append(
                ChildSpec(
                    "redis",
                    embedded_redis_argv(settings.data_dir, socket),
                    ready=lambda: _answers(self.embedded_url or ""),
                )
            )
            self.settings = settings.model_copy(update={"redis_url": self.embedded_url})
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.effective_database_url,
            "REDIS_URL": self.settings.redis_url or "",
            "SIPINGTAI_DATA_DIR": str(self.settings.data_dir),
        }
        for command in ("worker", "scheduler"):
            argv = [sys.executable, "-m", "service.cli", command]
            planned = RECYCLE_STATUS if command == "worker" else None
            specs.append(ChildSpec(command, argv, env, planned_exit_status=planned))
        self.supervisor = Supervisor(specs, policy=policy, log=log, on_give_up=on_give_up)

    @property
    def redis_label(self) -> str:
        """Say which Redis is in use."""
        return f"embedded {self.embedded_url}" if self.embedded_url else "REDIS_URL"

    def __enter__(self) -> UpProcesses:
        self.supervisor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.supervisor.stop()


def _socket_path(data_dir: Path) -> Path:
    """Return where the embedded Redis listens: in the data directory if the path fits."""
    path = data_dir.resolve() / "redis.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    return Path(tempfile.mkdtemp(prefix="sipingtai-redis-")) / "redis.sock"


def _answers(url: str) -> bool:
    try:
        with connect(url) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False
