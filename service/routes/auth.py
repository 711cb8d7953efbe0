"""Signing in: the OAuth2 password flow that issues a Bearer token, and who the caller is."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from dispatch.core.errors import Unauthorized
from dispatch.users.service import UserPublic, authenticate
from dispatch.users.tokens import issue_token
from service.deps import CurrentUser, SessionDep, SettingsDep

router = APIRouter(prefix="/auth", tags=["auth"])

BAD_CREDENTIALS = "用户名或密码错误 Incorrect username or password"


class TokenPublic(BaseModel):
    """A Bearer token, how many seconds it lasts, and whose it is."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserPublic


@router.post("/token")
def issue(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    """Exchange a username and password (form fields) for a Bearer token."""
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise Unauthorized(BAD_CREDENTIALS)
    return TokenPublic(
        access_token=issue_token(user, settings),
        expires_in=int(settings.token_ttl.total_seconds()),
        user=UserPublic.of(user, session),
    )


@router.get("/me")
def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    """Return the signed-in user, with the names of their township or department."""
    return UserPublic.of(user, session)
