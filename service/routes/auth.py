"""Signing in: the OAuth2 password flow that issues a Bearer token, and who the caller is.

Failed sign-ins are throttled per username and per client address (`dispatch.users.throttle`);
an administrator lists the refused ones and lifts a lockout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from dispatch.boards.access import signed_in_user
from dispatch.core.errors import DomainError
from dispatch.users.models import RefusalReason
from dispatch.users.policy import Action, authorize
from dispatch.users.service import UserPublic
from dispatch.users.throttle import Policy, Throttle, refused_logins, sign_in, unlock
from dispatch.users.tokens import issue_token
from service.deps import CurrentActor, CurrentUser, SessionDep, SettingsDep
from service.errors import error_response

router = APIRouter(prefix="/auth", tags=["auth"])

UNKNOWN_ADDRESS = "unknown"


class TokenPublic(BaseModel):
    """A Bearer token, how many seconds it lasts, and whose it is."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserPublic


class RefusedLoginPublic(BaseModel):
    """A refused sign-in: when, as whom, from where, and why."""

    at: datetime
    username: str
    address: str
    reason: RefusalReason


class UnlockRequest(BaseModel):
    """Whose lockout to lift: a username, a client address, or both."""

    username: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=100)


class UnlockPublic(BaseModel):
    """The throttle keys cleared."""

    unlocked: list[str]


def client_address(request: Request) -> str:
    """Return the address the request came from (the proxy's, unless uvicorn trusts it)."""
    return request.client.host if request.client else UNKNOWN_ADDRESS


@router.post(
    "/token",
    response_model=TokenPublic,
    responses={
        401: {"description": "用户名或密码错误"},
        429: {"description": "失败次数过多，暂时锁定（Retry-After 秒后再试）"},
    },
)
def issue(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic | JSONResponse:
    """Exchange a username and password (form fields) for a Bearer token."""
    response.headers["Cache-Control"] = "no-store"  # a token must never be cached (RFC 6749)
    throttle = Throttle(
        user=Policy(free_failures=settings.login_free_failures),
        address=Policy(free_failures=settings.login_free_failures_per_address),
    )
    outcome = sign_in(
        session, form.username, form.password, address=client_address(request), throttle=throttle
    )
    if isinstance(outcome, DomainError):
        return error_response(outcome)  # returned, not raised: the failure is committed
    return TokenPublic(
        access_token=issue_token(outcome, settings),
        expires_in=int(settings.token_ttl.total_seconds()),
        user=signed_in_user(session, outcome),
    )


@router.get("/me")
def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    """Return the signed-in user: their scope's names, the actions and boards they may use."""
    return signed_in_user(session, user)


@router.get("/refused")
def list_refused(
    actor: CurrentActor,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RefusedLoginPublic]:
    """List the latest refused sign-ins, newest first (administrators only)."""
    authorize(actor, Action.MANAGE_REFERENCE)
    return [
        RefusedLoginPublic.model_validate(r, from_attributes=True)
        for r in refused_logins(session, limit=limit)
    ]


@router.post("/unlock")
def lift_lockout(body: UnlockRequest, actor: CurrentActor, session: SessionDep) -> UnlockPublic:
    """Lift the sign-in lockout of a user or an address (administrators only)."""
    authorize(actor, Action.MANAGE_REFERENCE)
    return UnlockPublic(unlocked=unlock(session, username=body.username, address=body.address))
