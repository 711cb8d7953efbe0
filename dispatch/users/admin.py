"""The administrator's work on accounts: find, add, deactivate, reactivate, reset, re-scope.

Every change reads the user's row locked, so of two administrators acting at once the second
sees what the first committed. A token stops working when its user is deactivated, changes
role or gets a new password (`users.tokens`); reactivation therefore always sets a new
password, so nothing issued before the deactivation works again.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from dispatch.core.bounds import Id
from dispatch.core.errors import Conflict, NotFound
from dispatch.users.models import User, UserRole
from dispatch.users.service import (
    MAX_PASSWORD_LENGTH,
    UserPublic,
    check_password,
    check_scope,
    create_user,
    hash_password,
)

# Temporary passwords the server makes: 12 characters without look-alikes (0/o, 1/l/i),
# about 59 bits, to be read aloud or copied once and changed by the person.
GENERATED_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 12


class UserAdminPublic(UserPublic):
    """A user as the administrator sees them: whether they may sign in, since when they exist."""

    active: bool
    created_at: datetime


class UsersPage(SQLModel):
    """One page of the user list and how many match."""

    data: list[UserAdminPublic]
    count: int


class UserCreate(SQLModel):
    """A new account; without a password the server generates one and shows it once."""

    username: str = Field(max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    role: UserRole
    township_code: str | None = Field(default=None, max_length=40)
    department_id: Id | None = None
    password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)


class ScopeChange(SQLModel):
    """A user's new role and the scope it needs (a township, a department, or neither)."""

    role: UserRole
    township_code: str | None = Field(default=None, max_length=40)
    department_id: Id | None = None


class NewPassword(SQLModel):
    """A temporary password the administrator chose; empty to have the server generate one."""

    password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)


class UserWithPassword(SQLModel):
    """The user after the change, and the generated password (shown this once; else null)."""

    user: UserAdminPublic
    generated_password: str | None


def admin_public(session: Session, user: User) -> UserAdminPublic:
    """Show a user with their scope's names, their state and creation time."""
    return UserAdminPublic(
        **UserPublic.of(user, session).model_dump(), active=user.active, created_at=user.created_at
    )


def search_users(
    session: Session,
    *,
    text: str | None = None,
    role: UserRole | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[User], int]:
    """Return a page of users by username, matching the text in username or display name."""
    query = select(User)
    if text and text.strip():
        pattern = f"%{text.strip().lower()}%"
        query = query.where(
            or_(
                col(User.username).like(pattern),
                func.lower(col(User.display_name)).like(pattern),
            )
        )
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active == active)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(User.username)).offset(offset).limit(limit)).all()
    return list(rows), int(total)


def lock_user(session: Session, user_id: int) -> User:
    """Return the user read afresh and locked for this transaction, or raise NotFound."""
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在", field="user_id")
    return user


def generate_password() -> str:
    """Make a temporary password from the unambiguous alphabet."""
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))


def _chosen_or_generated(password: str | None) -> tuple[str, str | None]:
    """Return the password to set and, when the server made it, the same to show once."""
    if password:
        check_password(password)
        return password, None
    made = generate_password()
    return made, made


def add_user(session: Session, body: UserCreate) -> tuple[User, str | None]:
    """Create an account; return it with the generated password, if one was generated."""
    password, shown = _chosen_or_generated(body.password)
    user = create_user(
        session,
        username=body.username,
        password=password,
        role=body.role,
        township_code=body.township_code or None,
        department_id=body.department_id,
        display_name=body.display_name,
    )
    return user, shown


def deactivate_user(session: Session, admin_id: int, user_id: int) -> User:
    """Stop an account from signing in; its tokens stop working at once."""
    user = lock_user(session, user_id)
    if user.id == admin_id:
        raise Conflict("不能停用自己的账号", field="user_id")
    if not user.active:
        raise Conflict(f"用户「{user.username}」已停用", field="user_id")
    user.active = False
    session.add(user)
    session.flush()
    return user


def reactivate_user(
    session: Session, user_id: int, password: str | None
) -> tuple[User, str | None]:
    """Let a deactivated account sign in again, with a new password."""
    user = lock_user(session, user_id)
    if user.active:
        raise Conflict(f"用户「{user.username}」已是启用状态", field="user_id")
    chosen, shown = _chosen_or_generated(password)
    user.active = True
    user.password_hash = hash_password(chosen)
    session.add(user)
    session.flush()
    return user, shown


def reset_password(session: Session, user_id: int, password: str | None) -> tuple[User, str | None]:
    """Give an account a temporary password; its earlier tokens stop working."""
    user = lock_user(session, user_id)
    chosen, shown = _chosen_or_generated(password)
    user.password_hash = hash_password(chosen)
    session.add(user)
    session.flush()
    return user, shown


def change_scope(session: Session, admin_id: int, user_id: int, body: ScopeChange) -> User:
    """Give a user a new role and scope, checked to fit; a new role ends their tokens."""
    user = lock_user(session, user_id)
    role = UserRole(body.role)
    township_code = body.township_code or None
    if user.id == admin_id and role is not UserRole.ADMIN:
        raise Conflict("不能取消自己的系统管理员角色", field="role")
    check_scope(session, role, township_code, body.department_id)
    user.role = role
    user.township_code = township_code
    user.department_id = body.department_id
    session.add(user)
    session.flush()
    return user
