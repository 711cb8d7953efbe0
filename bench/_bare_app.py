"""Serve the baseline for bench/intake.py: a bare FastAPI app that only validates a report.

    uvicorn --factory bench._bare_app:create_app  (from the repository root)

POST /api/events parses and validates the same body as the real route (the EventCreate
model) and answers 201; no authentication, database or Redis. The route is a plain
`def`, like the real one, so it takes the same hop through the thread pool. GET
/api/health answers at once, for readiness checks.
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI

from dispatch.events.schemas import EventCreate


def create_app() -> FastAPI:
    """Create the bare app."""
    app = FastAPI(title="bare intake baseline")
    ids = itertools.count(1)

    @app.post("/api/events", status_code=201)
    def create_event(body: EventCreate) -> dict[str, object]:
        """Validate a report and answer as if it were stored."""
        return {"id": next(ids), "client_id": str(body.client_id), "status": "reported"}

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        """Answer at once."""
        return {"status": "ok"}

    return app
