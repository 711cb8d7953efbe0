"""Request dependencies: the settings, a session per request (committed at the end), the router."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session

from dispatch.boards.publisher import publish_after_commit
from dispatch.core.db import session_scope
from dispatch.core.errors import Unauthorized
from dispatch.core.settings import Settings
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.routing.router import Router
from dispatch.users.models import User
from dispatch.users.policy import Actor
from dispatch.users.scopes import actor_for
from dispatch.users.tokens import user_from_token


def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session; the request owns the transaction: commit on success, else roll back."""
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        publish_after_commit(session, request.app.state.redis)
        yield session


# The first requests after start-up arrive together; one of them builds, the others wait.
_loading = threading.Lock()


def get_router(request: Request, session: Annotated[Session, Depends(get_session)]) -> Router:
    """Return the app's router, loading it from the database the first time."""
    router: Router | None = request.app.state.router
    if router is None:
        with _loading:
            router = request.app.state.router
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

# auto_error=False: a missing header is answered by our own bilingual 401, like a bad token.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
NOT_SIGNED_IN = "未登录，请先登录 Not authenticated: sign in first"


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    """Return the active user of the request's Bearer token; 401 without a valid one."""
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    return user_from_token(session, token, settings)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_optional_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User | None:
    """Return the user of a valid Bearer token, else None: for routes open to everyone."""
    if not token:
        return None
    try:
        return user_from_token(session, token, settings)
    except Unauthorized:
        return None


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def get_current_actor(session: SessionDep, user: CurrentUser) -> Actor:
    """Return the signed-in user as the permission rules see them."""
    return actor_for(session, user)


CurrentActor = Annotated[Actor, Depends(get_current_actor)]


def get_calendar(request: Request, session: SessionDep) -> WorkCalendar:
    """Return the work calendar, loaded from the database the first time."""
    calendar: WorkCalendar | None = getattr(request.app.state, "calendar", None)
    if calendar is None:
        with _loading:
            calendar = getattr(request.app.state, "calendar", None)
            if calendar is None:
                calendar = load_calendar(session)
                request.app.state.calendar = calendar
    return calendar


CalendarDep = Annotated[WorkCalendar, Depends(get_calendar)]
