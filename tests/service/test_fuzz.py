"""Fuzz every operation of the OpenAPI document: no server error, every answer as documented.

schemathesis generates requests from the document, valid ones and invalid ones, and sends
them to the app served by uvicorn, signed in as the command centre and as a grid worker.
Each operation gets `FUZZ_EXAMPLES` cases per mode and user (derandomized, so a run repeats
itself); set SIPINGTAI_FUZZ_EXAMPLES to fuzz much harder by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import response_schema_conformance

from dispatch.core.redis import connect
from dispatch.core.settings import Settings, get_settings
from dispatch.jobs.context import reset_worker_context
from dispatch.users.service import DEMO_PASSWORD
from service.openapi import openapi_document
from tests.conftest import demo_database
from tests.helpers import demo_grid_point
from tests.loop_fixtures import LiveServer, run_burst_worker
from tests.service.test_error_words import CODE, english_left
from tests.service.test_loop import XINSHI, report_body

FUZZ_EXAMPLES = int(os.environ.get("SIPINGTAI_FUZZ_EXAMPLES", "100"))
# A file to append each operation's figures to (JSON lines), for a run by hand.
FUZZ_REPORT = os.environ.get("SIPINGTAI_FUZZ_REPORT")
USERS = ("centre", "grid")
SEEDED = 12
IN_THE_COUNTY = [demo_grid_point(XINSHI, nth=nth) for nth in range(5)]
CHECKS = [not_a_server_error, response_schema_conformance]
# Health answers 503 "degraded" by design (no worker runs beside the fuzzed server): there the
# answer must still be as documented, and 503 is the only 5xx it may give.
HEALTH = "GET /api/health"
HEALTH_CHECKS = [response_schema_conformance]


def without_prefix_items(node: Any) -> Any:
    """Return the document with each `prefixItems` of one shape as `items` of that shape.

    schemathesis 4 rewrites OpenAPI 3.1's `prefixItems` (a tuple such as the map's centre)
    into draft-4 array `items`, then refuses its own rewrite as an invalid schema.
    """
    if isinstance(node, list):
        return [without_prefix_items(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: without_prefix_items(value) for key, value in node.items()}
    shapes = copied.pop("prefixItems", None)
    if shapes is not None:
        assert all(shape == shapes[0] for shape in shapes), shapes
        copied["items"] = shapes[0]
    return copied


SCHEMA = schemathesis.openapi.from_dict(without_prefix_items(openapi_document()))
OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)),
    key=lambda operation: operation.label,
)


@dataclass
class Findings:
    """What one operation's fuzzing found: cases sent, statuses seen, distinct failures."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    samples: dict[int, str] = field(default_factory=dict)


@dataclass
class Target:
    """The app served over a demo county of its own, and a signed-in session per user."""

    url: str
    sessions: dict[str, requests.Session]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, redis_server_url: str) -> Iterator[Target]:
    """Serve the app over a fresh demo county (fuzzing writes to it) with the demo users."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with demo_database(tmp, "fuzz", with_users=True) as url:
        settings = Settings(DATABASE_URL=url, REDIS_URL=redis_server_url, data_dir=tmp, demo=True)
        with LiveServer(settings) as server:
            sessions = {}
            for user in USERS:
                signed = requests.post(
                    f"{server.url}/api/auth/token",
                    data={"username": user, "password": DEMO_PASSWORD},
                    timeout=30,
                )
                assert signed.status_code == 200, signed.text
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {signed.json()['access_token']}"
                sessions[user] = session
            seed_events(server.url, sessions["grid"], url, redis_server_url)
            yield Target(server.url, sessions)
            for session in sessions.values():
                session.close()


def seed_events(url: str, grid: requests.Session, database_url: str, redis_url: str) -> None:
    """Report a few events and route them, so that small ids name real events and parts."""
    connect(redis_url).flushdb()
    for matter_code in ("C-004", "C-001", None, "C-004", "C-002", None):
        reported = grid.post(f"{url}/api/events", json=report_body(matter_code), timeout=30)
        assert reported.status_code == 201, reported.text
    # The worker reads its settings from the environment, like `sipingtai worker`.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("REDIS_URL", redis_url)
        get_settings.cache_clear()
        reset_worker_context()
        run_burst_worker(redis_url)
        reset_worker_context()
    get_settings.cache_clear()
    routed = grid.get(f"{url}/api/events/1", timeout=30).json()
    assert routed["assignments"], routed


def toward_real_rows(case: Case, nth: int) -> None:
    """Point every other valid case at rows that exist: small ids, a point in the county.

    Random ids rarely name a row and random coordinates rarely fall in the county, so without
    this most valid cases would stop at 404 or "no jurisdiction here" and never go deeper.
    """
    if nth % 2:
        return
    for name, value in (case.path_parameters or {}).items():
        if isinstance(value, int) and value > SEEDED:
            case.path_parameters[name] = value % SEEDED + 1
    body = case.body
    if isinstance(body, dict) and "lon" in body and "lat" in body:
        body["lon"], body["lat"] = IN_THE_COUNTY[nth % len(IN_THE_COUNTY)]
        if "reported_at" in body:
            body["reported_at"] = "2026-11-20T09:30:00+08:00"
        if "matter_code" in body and nth % 4:
            body["matter_code"] = None


def wording_failure(response: Any) -> str | None:
    """Say what is wrong with a refusal's body: no code, or English in a message."""
    try:
        detail = response.json()["detail"]
        items = [detail, *(detail.get("problems") or [])]
        for item in items:
            if not CODE.match(item["code"]) or english_left(item["message"]):
                return json.dumps(item, ensure_ascii=False)
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:500]
    return None


def shown(response: Any) -> str:
    """Return an answer's body as text to quote: a workbook's bytes are not UTF-8."""
    return bytes(response.content or b"").decode("utf-8", errors="replace")


def fuzz(target: Target, operation: APIOperation, user: str, examples: int) -> Findings:
    """Send `examples` valid and `examples` invalid cases of one operation as one user."""
    findings = Findings()
    session = target.sessions[user]

    def send(case: Case) -> None:
        findings.cases += 1
        if mode is GenerationMode.POSITIVE:
            toward_real_rows(case, findings.cases)
        try:
            response = case.call(base_url=target.url, session=session, timeout=30)
        except requests.RequestException as exc:
            findings.failures.setdefault(f"no answer: {type(exc).__name__}", repr(exc)[:2000])
            return
        findings.statuses[response.status_code] += 1
        findings.samples.setdefault(
            response.status_code, f"{shown(response)[:300]}\n{case.as_curl_command()[:700]}"
        )
        if 400 <= response.status_code < 500:
            worded = wording_failure(response)
            if worded:
                findings.failures.setdefault(f"not worded ({response.status_code})", worded)
        if operation.label == HEALTH and response.status_code not in (200, 503):
            findings.failures.setdefault(f"health answered {response.status_code}", shown(response))
        try:
            checks = HEALTH_CHECKS if operation.label == HEALTH else CHECKS
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            for failure in group.exceptions:
                findings.failures.setdefault(
                    f"{failure.title} ({response.status_code})",
                    f"{failure.message}\n{case.as_curl_command()}"[:2000],
                )

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategy = operation.as_strategy(generation_mode=mode)
        run = settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )(given(case=strategy)(send))
        # Unsatisfiable: nothing in this operation can be made invalid (no parameters, no body).
        with contextlib.suppress(Unsatisfiable):
            run()
    if FUZZ_REPORT:
        with open(FUZZ_REPORT, "a", encoding="utf-8") as out:
            line = {
                "operation": operation.label,
                "user": user,
                "cases": findings.cases,
                "statuses": dict(findings.statuses),
                "failures": findings.failures,
                "samples": findings.samples,
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return findings


@pytest.mark.slow
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_server_error_and_every_answer_as_documented(
    target: Target, operation: APIOperation, user: str
) -> None:
    findings = fuzz(target, operation, user, FUZZ_EXAMPLES)
    assert findings.cases > 0
    assert not findings.failures, "\n\n".join(
        f"{title}\n{detail}" for title, detail in findings.failures.items()
    )


def test_the_fuzzing_covers_every_operation_of_the_document() -> None:
    paths = openapi_document()["paths"]
    documented = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert {operation.label for operation in OPERATIONS} == documented
