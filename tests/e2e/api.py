"""Setting the scene for a browser test over the running service's HTTP API, as its users."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.conftest import PASSWORD, Service
from tests.service.test_loop import report_body

TIMEOUT = 60.0  # two shared cores: an answer may take a while


@dataclass
class Api:
    """The demo users acting over HTTP on the service the browsers use."""

    service: Service
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        """Sign in once per user and return the Authorization header."""
        if user not in self.tokens:
            signed = httpx.post(
                f"{self.service.url}/api/auth/token",
                data={"username": user, "password": PASSWORD},
                timeout=TIMEOUT,
            )
            assert signed.status_code == 200, signed.text
            self.tokens[user] = signed.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def act(self, user: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST an action as a user and expect it to succeed."""
        answer = httpx.post(
            f"{self.service.url}/api/{path}",
            json=body or {},
            headers=self.headers(user),
            timeout=TIMEOUT,
        )
        assert answer.status_code in (200, 201), f"{path}: {answer.text}"
        result: dict[str, Any] = answer.json()
        return result

    def event(self, event_id: int, user: str = "centre") -> dict[str, Any]:
        """Read an event."""
        answer = httpx.get(
            f"{self.service.url}/api/events/{event_id}", headers=self.headers(user), timeout=TIMEOUT
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def report(self, **body: Any) -> int:
        """Report as the grid worker and wait until the worker has routed it."""
        event_id = int(self.act("grid", "events", report_body(**body))["id"])
        deadline = time.monotonic() + 30
        while self.event(event_id)["status"] == "reported":
            assert time.monotonic() < deadline, f"event {event_id} was never routed"
            time.sleep(0.2)
        return event_id

    def part(self, event_id: int, role: str) -> dict[str, Any]:
        """Return the event's live part of a role."""
        (found,) = [
            a
            for a in self.event(event_id)["assignments"]
            if a["role"] == role and a["status"] != "cancelled"
        ]
        return found

    def resolve(self, event_id: int) -> None:
        """Sign and feed back every part (the township's first): the event awaits its check."""
        for role, user in (("territorial", "township"), ("lead", "zhifa"), ("co", "shichang")):
            part = self.part(event_id, role)
            self.act(user, f"assignments/{part['id']}/sign")
            self.act(user, f"assignments/{part['id']}/feedback", {"note": "已处置"})
        assert self.event(event_id)["status"] == "resolved"
