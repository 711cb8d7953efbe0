"""The FastAPI application: reference data, locating and routing previews, health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from dispatch.core.db import POOL_OVERFLOW, POOL_SIZE, make_engine
from dispatch.core.redis import connect
from dispatch.core.settings import Settings, get_settings
from dispatch.routing.cache import ReferenceCache
from service.errors import document_errors, install_error_handlers
from service.inputs import refuse_nul
from service.intake import IntakeCommitter
from service.limits import MAX_BODY_BYTES, BodySizeLimit, ConcurrencyLimit
from service.live import Hubs
from service.logs import install_log_redaction
from service.routes import (
    auth,
    boards,
    county_rules,
    deliveries,
    disputes,
    duplicates,
    escalations,
    events,
    exports,
    history,
    lists,
    reference,
    reports,
    reports_workload,
    supervision,
    users,
)
from service.routes import extensions as extension_routes
from service.security import install_security
from service.shedding import INTAKE_PATH, InFlight, IntakeShedding, LoopLag

log = logging.getLogger(__name__)
API_THREADS = POOL_SIZE + POOL_OVERFLOW - 8
# Intake runs no thread and holds no connection of its own (service.intake's group commit).
INTAKE = (("POST", INTAKE_PATH),)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the API for the given settings (read from the environment by default)."""
    settings = settings or get_settings()
    if not settings.demo:
        settings.resolved_secret_key()  # refuse to start with a missing or placeholder key
    else:
        log.warning(
            "演示模式 DEMO MODE (SIPINGTAI_DEMO=true): 演示账号的密码是公开的，切勿用于真实数据 "
            "the demo users' password is published; never put real data here"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # here, after uvicorn has configured its loggers
        # Sync routes run in threads; keep them fewer than the database connections.
        to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        app.state.engine = make_engine(settings.effective_database_url)
        app.state.reference = ReferenceCache(
            near_distance_m=settings.near_boundary_m, threshold=settings.classify_threshold
        )
        app.state.redis = connect(settings.redis_url) if settings.redis_url else None
        app.state.intake = IntakeCommitter(app.state.engine, app.state.redis, app.state.reference)
        app.state.loop_lag = LoopLag()
        app.state.in_flight = InFlight()
        watching = asyncio.get_running_loop().create_task(app.state.loop_lag.watch())
        app.state.hubs = (
            Hubs(aioredis.Redis.from_url(settings.redis_url)) if settings.redis_url else None
        )
        yield
        watching.cancel()
        app.state.intake.close()
        if app.state.hubs is not None:
            await app.state.hubs.close()
            await app.state.hubs.redis.aclose()
        if app.state.redis is not None:
            app.state.redis.close()
        app.state.engine.dispose()

    app = FastAPI(
        title="四平台 Sipingtai",
        description="网格事件按辖区和责任清单分拨 — event dispatch for grassroots governance",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is served by service.security from local assets; ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_nul)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ConcurrencyLimit, limit=API_THREADS, exempt=INTAKE)
    app.add_middleware(IntakeShedding)
    install_security(app, settings.tile_url)  # outermost: every answer gets the headers
    app.include_router(reference.router, prefix="/api")
    app.include_router(auth.router, prefix="/api")
    app.include_router(events.router, prefix="/api")
    app.include_router(lists.router, prefix="/api")
    app.include_router(history.router, prefix="/api")
    app.include_router(deliveries.router, prefix="/api")
    app.include_router(users.router, prefix="/api")
    app.include_router(duplicates.router, prefix="/api")
    app.include_router(county_rules.router, prefix="/api")
    app.include_router(extension_routes.router, prefix="/api")
    app.include_router(escalations.router, prefix="/api")
    app.include_router(disputes.router, prefix="/api")
    app.include_router(supervision.router, prefix="/api")
    app.include_router(reports.router, prefix="/api")
    app.include_router(reports_workload.router, prefix="/api")
    app.include_router(exports.router, prefix="/api")
    app.include_router(boards.router)
    document_errors(app)
    mount_pages(app, settings.frontend_dir)
    return app


def mount_pages(app: FastAPI, directory: Path) -> None:
    """Serve the built web pages at /, or say how to build them when they are missing."""
    if (directory / "index.html").is_file():
        app.mount("/", StaticFiles(directory=directory, html=True), name="pages")
        return

    @app.get("/", include_in_schema=False)
    def pages_missing() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>四平台</title>"
            "<p>网页尚未构建。运行 <code>./dev up</code> 会自动构建；或在 frontend/ 下运行 "
            "<code>npm ci &amp;&amp; npm run build</code>。"
            "接口文档见 <a href=/docs>/docs</a>。</p>",
            status_code=503,
        )
