"""Request dependencies: the settings, a session per request (committed at the end), the router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session

from dispatch.core.errors import Unauthorized
from dispatch.core.settings import Settings
from dispatch.reference.calendar import WorkCalendar
from dispatch.routing.cache import Built, ReferenceCache
from dispatch.routing.router import Router
from dispatch.transaction import transaction
from dispatch.users.models import User
from dispatch.users.policy import Actor
from dispatch.users.scopes import actor_for
from dispatch.users.tokens import user_from_token


# Dependencies that only read what the app holds are async: a sync one costs each request a
# hop to the thread pool and back, which is a large share of a cheap request's CPU.
async def get_settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield the request's session: it commits before the response is sent, else rolls back.

    Declared with scope="function" (below), so the commit runs when the route returns and a
    commit that fails becomes the response (409, 503), never a 200 after the fact.
    """
    engine: Engine = request.app.state.engine
    with transaction(engine, request.app.state.redis) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_built(request: Request, session: SessionDep) -> Built:
    """Return the router and calendar, rebuilt when reference data changed (within seconds).

    Checking the generation reads the database, so only then does it go to a thread.
    """
    cache: ReferenceCache = request.app.state.reference
    built = cache.fresh()
    if built is None:
        built = await to_thread.run_sync(cache.get, session)
    return built


BuiltDep = Annotated[Built, Depends(get_built)]


async def get_router(built: BuiltDep) -> Router:
    """Return the router of the reference data in force."""
    return built.router


RouterDep = Annotated[Router, Depends(get_router)]

# auto_error=False: a missing header is answered by our own bilingual 401, like a bad token.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
NOT_SIGNED_IN = "未登录，请先登录"
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    token: BearerToken,
) -> User:
    """Return the active user of the request's Bearer token; 401 without a valid one."""
    if not token:
        raise Unauthorized(NOT_SIGNED_IN)
    return user_from_token(session, token, settings)


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_optional_user(
    session: SessionDep,
    settings: SettingsDep,
    token: BearerToken,
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


async def get_calendar(built: BuiltDep) -> WorkCalendar:
    """Return the work calendar in force."""
    return built.calendar


CalendarDep = Annotated[WorkCalendar, Depends(get_calendar)]
