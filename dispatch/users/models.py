"""Users: who signs in, with a role and a scope."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.core.clock import utcnow
from dispatch.core.db import BigId, StrEnumType
from dispatch.reference import models as _reference  # noqa: F401  (tables our foreign keys name)


class UserRole(StrEnum):
    """What a user may do; the scope says where."""

    GRID_WORKER = "grid_worker"
    TOWNSHIP_OPERATOR = "township_operator"
    DEPARTMENT_STAFF = "department_staff"
    COMMAND_CENTRE = "command_centre"
    ADMIN = "admin"
    STAFFING_OFFICE = "staffing_office"  # 编办: reviews list changes, publishes list versions


class User(SQLModel, table=True):
    """A person who signs in: a role and a scope (a township code or a department id)."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    username: str = Field(max_length=100, unique=True)
    display_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=500)
    role: UserRole = Field(sa_type=StrEnumType(UserRole, 32))
    township_code: str | None = Field(default=None, foreign_key="jurisdiction.code")
    department_id: int | None = Field(default=None, foreign_key="department.id", sa_type=BigId)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins counted for one username or one client address, and its lockout."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)  # "user:<name>" or "address:<ip>"
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None


class RefusalReason(StrEnum):
    """Why a sign-in was refused: wrong credentials, or the throttle's lockout."""

    BAD_CREDENTIALS = "bad_credentials"
    LOCKED_OUT = "locked_out"


class RefusedLogin(SQLModel, table=True):
    """One refused sign-in, kept for the administrators (never the password tried)."""

    __tablename__ = "refused_login"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    at: datetime = Field(default_factory=utcnow, index=True)
    username: str = Field(max_length=100, index=True)
    address: str = Field(max_length=100)
    reason: RefusalReason = Field(sa_type=StrEnumType(RefusalReason, 32))
