"""The whole service for a browser: the built pages, the API over HTTP, a running RQ worker.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright through its
executable path; Playwright downloads no browser. Screenshots of each page go to
test-artifacts/screenshots/ (git-ignored), or to $SIPINGTAI_SCREENSHOTS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response

from dispatch.users.service import DEMO_PASSWORD
from tests.conftest import REPO
from tests.helpers import running_worker as start_worker
from tests.loop_fixtures import LiveServer, Loop

PAGES = REPO / "frontend" / "dist"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Return Debian's Chromium, or None where it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Start headless Chromium once for the run."""
    executable = chromium_path()
    if executable is None or not (PAGES / "index.html").is_file():
        missing = "Chromium" if executable is None else "the built pages (frontend/dist)"
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing on CI: .ci/run and ./dev test must provide it")
        pytest.skip(f"{missing} not available: `apt-get install chromium`, `./dev test`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    """Return a function that saves a page's screenshot under the test's name."""
    folder = Path(os.environ.get("SIPINGTAI_SCREENSHOTS", REPO / "test-artifacts" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, label: str) -> None:
        page.screenshot(path=str(folder / f"{request.node.name}-{label}.png"), full_page=True)

    return take


@dataclass
class Service:
    """The running service: its base URL, the loop underneath (for direct checks), its worker."""

    url: str
    loop: Loop
    worker: subprocess.Popen[bytes]


@pytest.fixture
def service(loop: Loop) -> Iterator[Service]:
    """Serve the pages and the API over real HTTP, with an RQ worker routing as events come."""
    with start_worker(loop.redis_url, quiet_stdout=True) as worker:
        settings = loop.settings.model_copy(update={"frontend_dir": PAGES})
        with LiveServer(settings) as live:
            yield Service(live.url, loop, worker)


PASSWORD = DEMO_PASSWORD


@dataclass
class ResponseWatch:
    """Every 4xx/5xx response the pages get, unless a test allowed it (`allow`)."""

    allowed: list[tuple[re.Pattern[str], int]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def allow(self, url_pattern: str, status: int) -> None:
        """Expect responses of this status to URLs matching the pattern (the test causes them)."""
        self.allowed.append((re.compile(url_pattern), status))

    def attach(self, context: BrowserContext) -> None:
        """Watch every page of a browser context."""
        context.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        if response.status < 400:
            return
        if any(p.search(response.url) and s == response.status for p, s in self.allowed):
            return
        self.unexpected.append(f"{response.status} {response.request.method} {response.url}")


@pytest.fixture
def responses() -> Iterator[ResponseWatch]:
    """Fail the test when the pages cause a 4xx/5xx it did not allow (a broken call is silent)."""
    watch = ResponseWatch()
    yield watch
    assert not watch.unexpected, "the pages got unexpected error responses:\n" + "\n".join(
        watch.unexpected
    )
