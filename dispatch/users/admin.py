"""The administrator's work on accounts: find, add, deactivate, reactivate, reset, re-scope.

Every change reads the user's row locked, so of two administrators acting at once the second
sees what the first committed; a change that names the version it was made against (what the
administrator's page saw) is refused once another change came first. A token stops working
when its user is deactivated, changes role or gets a new password (`users.tokens`);
reactivation therefore always sets a new password, so nothing issued before the
deactivation works again.
"""

from __future__ import annotations

import hashlib
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


# What a change names as the user's version it was made against (UserAdminPublic.version).
VersionField = Field(default=None, max_length=64, description="用户版本 version as last read")


class UserAdminPublic(UserPublic):
    """A user as the administrator sees them: whether they may sign in, since when, version.

    The version changes with any change of password, role, scope or state; a change sent with
    the version it was made against is refused when someone else changed the user first.
    """

    active: bool
    created_at: datetime
    version: str


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
    version: str | None = VersionField


class NewPassword(SQLModel):
    """A temporary password the administrator chose; empty to have the server generate one."""

    password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)
    version: str | None = VersionField


class Deactivation(SQLModel):
    """Which version of the user the administrator deactivates (optional)."""

    version: str | None = VersionField


class UserWithPassword(SQLModel):
    """The user after the change, and the generated password (shown this once; else null)."""

    user: UserAdminPublic
    generated_password: str | None


def user_version(user: User) -> str:
    """Return a mark of everything an administrator changes on a user."""
    state = f"{user.password_hash}|{user.role}|{user.township_code}|{user.department_id}|"
    return hashlib.sha256(f"{state}{user.active}".encode()).hexdigest()[:16]


def admin_public(session: Session, user: User) -> UserAdminPublic:
    """Show a user with their scope's names, their state, creation time and version."""
    return UserAdminPublic(
        **UserPublic.of(user, session).model_dump(),
        active=user.active,
        created_at=user.created_at,
        version=user_version(user),
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


def lock_user(session: Session, user_id: int, version: str | None = None) -> User:
    """Return the user read afresh and locked, or raise NotFound; Conflict if changed since."""
    user = session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在", field="user_id")
    if version is not None and version != user_version(user):
        raise Conflict(f"用户「{user.username}」刚被他人修改，请刷新后重试", field="version")
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


def deactivate_user(
    session: Session, admin_id: int | None, user_id: int, version: str | None = None
) -> User:
    """Stop an account from signing in; its tokens stop working at once (None: the CLI)."""
    user = lock_user(session, user_id, version)
    if user.id == admin_id:
        raise Conflict("不能停用自己的账号", field="user_id")
    if not user.active:
        raise Conflict(f"用户「{user.username}」已停用", field="user_id")
    user.active = False
    session.add(user)
    session.flush()
    return user


def reactivate_user(session: Session, user_id: int, body: NewPassword) -> tuple[User, str | None]:
    """Let a deactivated account sign in again, with a new password."""
    user = lock_user(session, user_id, body.version)
    if user.active:
        raise Conflict(f"用户「{user.username}」已是启用状态", field="user_id")
    chosen, shown = _chosen_or_generated(body.password)
    user.active = True
    user.password_hash = hash_password(chosen)
    session.add(user)
    session.flush()
    return user, shown


def reset_password(session: Session, user_id: int, body: NewPassword) -> tuple[User, str | None]:
    """Give an account a temporary password; its earlier tokens stop working."""
    user = lock_user(session, user_id, body.version)
    chosen, shown = _chosen_or_generated(body.password)
    user.password_hash = hash_password(chosen)
    session.add(user)
    session.flush()
    return user, shown


def change_scope(session: Session, admin_id: int, user_id: int, body: ScopeChange) -> User:
    """Give a user a new role and scope, checked to fit; a new role ends their tokens."""
    user = lock_user(session, user_id, body.version)
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
