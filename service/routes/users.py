"""The administrator's user management and reference data status (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.core.bounds import Id, Offset
from dispatch.reference.status import ReferenceStatus, reference_status
from dispatch.users import admin
from dispatch.users.admin import (
    Deactivation,
    NewPassword,
    ScopeChange,
    UserAdminPublic,
    UserCreate,
    UsersPage,
    UserWithPassword,
)
from dispatch.users.models import User, UserRole
from dispatch.users.policy import Action, authorize
from service.deps import CurrentActor, SessionDep

router = APIRouter(tags=["admin"])


def _with_password(session: SessionDep, user: User, shown: str | None) -> UserWithPassword:
    return UserWithPassword(user=admin.admin_public(session, user), generated_password=shown)


@router.get("/users")
def list_users(
    session: SessionDep,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=100, description="用户名或显示名称")] = None,
    role: UserRole | None = None,
    active: bool | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UsersPage:
    """List and search the users, by username."""
    authorize(actor, Action.MANAGE_REFERENCE)
    users, total = admin.search_users(
        session, text=q, role=role, active=active, offset=offset, limit=limit
    )
    return UsersPage(data=[admin.admin_public(session, u) for u in users], count=total)


@router.post("/users", status_code=201)
def add_user(body: UserCreate, session: SessionDep, actor: CurrentActor) -> UserWithPassword:
    """Add a user with a role and the scope it needs; a generated password is shown once."""
    authorize(actor, Action.MANAGE_REFERENCE)
    user, shown = admin.add_user(session, body)
    return _with_password(session, user, shown)


@router.post("/users/{user_id}/deactivate")
def deactivate(
    user_id: Id, session: SessionDep, actor: CurrentActor, body: Deactivation | None = None
) -> UserAdminPublic:
    """Deactivate a user: they cannot sign in, and their tokens stop working at once."""
    authorize(actor, Action.MANAGE_REFERENCE)
    version = body.version if body else None
    return admin.admin_public(session, admin.deactivate_user(session, actor.id, user_id, version))


@router.post("/users/{user_id}/reactivate")
def reactivate(
    user_id: Id, body: NewPassword, session: SessionDep, actor: CurrentActor
) -> UserWithPassword:
    """Reactivate a user with a new password (given, or generated and shown once)."""
    authorize(actor, Action.MANAGE_REFERENCE)
    user, shown = admin.reactivate_user(session, user_id, body)
    return _with_password(session, user, shown)


@router.post("/users/{user_id}/password")
def reset_password(
    user_id: Id, body: NewPassword, session: SessionDep, actor: CurrentActor
) -> UserWithPassword:
    """Set a temporary password (given, or generated and shown once); old tokens stop working."""
    authorize(actor, Action.MANAGE_REFERENCE)
    user, shown = admin.reset_password(session, user_id, body)
    return _with_password(session, user, shown)


@router.put("/users/{user_id}/role")
def change_role(
    user_id: Id, body: ScopeChange, session: SessionDep, actor: CurrentActor
) -> UserAdminPublic:
    """Change a user's role and scope; the scope must fit the role."""
    authorize(actor, Action.MANAGE_REFERENCE)
    return admin.admin_public(session, admin.change_scope(session, actor.id, user_id, body))


@router.get("/reference/status")
def read_reference_status(session: SessionDep, actor: CurrentActor) -> ReferenceStatus:
    """Report the reference data loaded: layers, departments, list versions, calendar years."""
    authorize(actor, Action.MANAGE_REFERENCE)
    return reference_status(session)
