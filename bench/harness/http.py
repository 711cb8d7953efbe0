"""Wait for the benches' loopback HTTP servers to answer, and sign in as a demo user."""

from __future__ import annotations

import math
import subprocess
import time
from contextlib import suppress


def answer_time(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, interval_s: float = 0.2
) -> float:
    """Return the seconds until GET url answers; inf if the process exits or time runs out.

    An answer is 200, or 503 from a health check that is up but degraded (no worker yet).
    """
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout_s and process.poll() is None:
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code in (200, 503):
                return time.monotonic() - started
        time.sleep(interval_s)
    return math.inf


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Wait until GET url answers, failing if the process dies first or time runs out."""
    if not math.isinf(answer_time(url, process, timeout_s)):
        return
    if process.poll() is not None:
        raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def sign_in(base_url: str, username: str) -> str:
    """Return a bearer token for a demo user."""
    import httpx

    from dispatch.users.service import DEMO_PASSWORD

    response = httpx.post(
        f"{base_url}/api/auth/token",
        data={"username": username, "password": DEMO_PASSWORD},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])
