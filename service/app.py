"""The FastAPI application: reference data, locating and routing previews, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from dispatch.db import POOL_OVERFLOW, POOL_SIZE, make_engine
from dispatch.queue import connect
from dispatch.settings import Settings, get_settings
from service.errors import install_error_handlers
from service.limits import MAX_BODY_BYTES, BodySizeLimit, ConcurrencyLimit
from service.routes import auth, deliveries, events, reference

API_THREADS = POOL_SIZE + POOL_OVERFLOW - 8


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the API for the given settings (read from the environment by default)."""
    settings = settings or get_settings()
    if not settings.demo:
        settings.resolved_secret_key()  # refuse to start with a missing or placeholder key

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in threads; keep them fewer than the database connections.
        to_thread.current_default_thread_limiter().total_tokens = API_THREADS
        app.state.engine = make_engine(settings.effective_database_url)
        app.state.router = None
        app.state.calendar = None
        app.state.redis = connect(settings.redis_url) if settings.redis_url else None
        yield
        if app.state.redis is not None:
            app.state.redis.close()
        app.state.engine.dispose()

    app = FastAPI(
        title="四平台 Sipingtai",
        description="网格事件按辖区和责任清单分拨 — event dispatch for grassroots governance",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ConcurrencyLimit, limit=API_THREADS)
    app.include_router(reference.router, prefix="/api")
    app.include_router(auth.router, prefix="/api")
    app.include_router(events.router, prefix="/api")
    app.include_router(deliveries.router, prefix="/api")
    return app
