"""Request dependencies: the settings, a session per request (committed at the end), the router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from dispatch.db import session_scope
from dispatch.router import Router
from dispatch.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session; the request owns the transaction: commit on success, else roll back."""
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


def get_router(request: Request, session: Annotated[Session, Depends(get_session)]) -> Router:
    """Return the app's router, loading it from the database the first time."""
    router: Router | None = request.app.state.router
    if router is None:
        settings: Settings = request.app.state.settings
        router = Router.load(
            session,
            near_distance_m=settings.near_boundary_m,
            threshold=settings.classify_threshold,
        )
        request.app.state.router = router
    return router


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
RouterDep = Annotated[Router, Depends(get_router)]
