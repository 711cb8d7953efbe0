"""Users: passwords, creation with a checked scope, sign-in, the demo users."""

from __future__ import annotations

import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Field, Session, SQLModel, col, select

from dispatch.core.errors import Conflict, InvalidInput
from dispatch.reference.jurisdictions import jurisdiction_name
from dispatch.reference.models import Department, JurisdictionRow
from dispatch.users.models import User, UserRole
from dispatch.users.policy import ROLE_LABELS, TOWNSHIP_ROLES

TOWNSHIP_LEVEL = "township"
USERNAME_PATTERN = re.compile(r"[a-z0-9._-]{3,100}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
UNSCOPED_ROLES = frozenset({UserRole.COMMAND_CENTRE, UserRole.ADMIN, UserRole.STAFFING_OFFICE})

# The demo county's users, one per role; created by `sipingtai up` in demo mode only.
DEMO_PASSWORD = "demo-2026"
DEMO_USERS: tuple[tuple[str, UserRole, str | None, str], ...] = (
    ("grid", UserRole.GRID_WORKER, "320999004", "新市镇网格员（示例）"),
    ("township", UserRole.TOWNSHIP_OPERATOR, "320999004", "新市镇综合信息指挥室（示例）"),
    ("zhifa", UserRole.DEPARTMENT_STAFF, "县综合行政执法局", "县综合行政执法局（示例）"),
    ("shichang", UserRole.DEPARTMENT_STAFF, "县市场监督管理局", "县市场监督管理局（示例）"),
    ("centre", UserRole.COMMAND_CENTRE, None, "县社会治理中心（示例）"),
    ("admin", UserRole.ADMIN, None, "系统管理员（示例）"),
    ("bianban", UserRole.STAFFING_OFFICE, None, "县委编办（示例）"),
)

_hasher = PasswordHasher()


class UserPublic(SQLModel):
    """A user as the API shows them: never the password hash."""

    id: int
    username: str
    role: UserRole
    township_code: str | None
    department_id: int | None
    display_name: str | None
    township_name: str | None = None
    department_name: str | None = None
    actions: list[str] = Field(
        default_factory=list,
        description="在本人范围内允许的操作（policy 的 Action 编码），页面据此显示按钮",
    )
    boards: list[str] = Field(
        default_factory=list, description="允许查看的看板：county、township、department"
    )

    @classmethod
    def of(cls, user: User, session: Session | None = None) -> UserPublic:
        """Copy the public fields of a stored user; with a session, name their scope too."""
        assert user.id is not None
        department = (
            session.get(Department, user.department_id)
            if session is not None and user.department_id is not None
            else None
        )
        return cls(
            id=user.id,
            username=user.username,
            role=UserRole(user.role),
            township_code=user.township_code,
            department_id=user.department_id,
            display_name=user.display_name,
            township_name=jurisdiction_name(session, user.township_code) if session else None,
            department_name=department.name if department else None,
        )


# ---- Passwords ----------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """Hash a password with argon2id at the current parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return whether the password matches the hash; a malformed hash never matches."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """Return a hash to verify against when the user is unknown, so both cases cost the same."""
    return _hasher.hash(secrets.token_urlsafe(16))


def normalise_username(username: str) -> str:
    """Usernames are case-insensitive: store and look them up in lower case, trimmed."""
    return username.strip().lower()


# ---- Persistence --------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User | None:
    """Return the user with this id."""
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    """Return the user with this username (case-insensitive)."""
    return session.exec(select(User).where(User.username == normalise_username(username))).first()


def list_users(session: Session) -> list[User]:
    """Return every user, by username."""
    return list(session.exec(select(User).order_by(col(User.username))).all())


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: UserRole,
    township_code: str | None = None,
    department_id: int | None = None,
    display_name: str | None = None,
) -> User:
    """Create an active user after checking the name, the password and that the scope fits."""
    try:
        role = UserRole(role)
    except ValueError:
        choices = "、".join(ROLE_LABELS[r] for r in UserRole)
        raise InvalidInput(
            f"角色「{role}」无效，应为{choices}之一", field="role", code="unknown_role"
        ) from None
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            "用户名须为 3–100 个字母、数字或 . _ -",
            code="invalid_username",
            field="username",
        )
    check_password(password)
    display = display_name.strip() if display_name else None
    if display is not None and len(display) > 200:
        raise InvalidInput("显示名称过长（超过 200 字）", field="display_name", code="too_long")
    check_scope(session, role, township_code, department_id)
    if get_user_by_username(session, name) is not None:
        raise Conflict(f"用户名「{name}」已存在", field="username", code="username_taken")
    user = User(
        username=name,
        display_name=display or None,
        password_hash=hash_password(password),
        role=role,
        township_code=township_code,
        department_id=department_id,
    )
    session.add(user)
    session.flush()
    return user


def check_password(password: str) -> None:
    """Refuse a password shorter or longer than the rules allow."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"密码至少 {MIN_PASSWORD_LENGTH} 个字符", code="password_too_short", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"密码过长（超过 {MAX_PASSWORD_LENGTH} 个字符）",
            field="password",
            code="password_too_long",
        )


def check_scope(
    session: Session, role: UserRole, township_code: str | None, department_id: int | None
) -> None:
    """Refuse a scope that does not fit the role: a township, a department, or neither."""
    label = ROLE_LABELS[role]
    if role in TOWNSHIP_ROLES:
        if department_id is not None:
            raise InvalidInput(
                f"{label}属于乡镇，不属于部门", field="department_id", code="scope_mismatch"
            )
        if not township_code:
            raise InvalidInput(
                f"{label}必须指定所属乡镇", field="township_code", code="scope_required"
            )
        level = session.exec(
            select(JurisdictionRow.level).where(JurisdictionRow.code == township_code)
        ).first()
        if level != TOWNSHIP_LEVEL:
            raise InvalidInput(
                f"「{township_code}」不是已导入的乡镇",
                code="unknown_township",
                field="township_code",
            )
    elif role is UserRole.DEPARTMENT_STAFF:
        if township_code is not None:
            raise InvalidInput(
                f"{label}属于部门，不属于乡镇",
                code="scope_mismatch",
                field="township_code",
            )
        if department_id is None:
            raise InvalidInput(
                f"{label}必须指定所属部门",
                code="scope_required",
                field="department_id",
            )
        if session.get(Department, department_id) is None:
            raise InvalidInput(
                f"部门 {department_id} 不存在", field="department_id", code="unknown_department"
            )
    else:
        for field, value in (("township_code", township_code), ("department_id", department_id)):
            if value is not None:
                raise InvalidInput(
                    f"{label}面向全县，不指定乡镇或部门", field=field, code="scope_mismatch"
                )


def resolve_scope(
    session: Session, role: UserRole, scope: str | None
) -> tuple[str | None, int | None]:
    """Turn a typed scope into (township_code, department_id) for the role.

    A township is given by code or by its unique name; a department by id, by name or by
    its unique short name. Command centre and admin take no scope.
    """
    role = UserRole(role)
    label = ROLE_LABELS[role]
    text = scope.strip() if scope else ""
    if role in UNSCOPED_ROLES:
        if text:
            raise InvalidInput(f"{label}面向全县，不指定范围", field="scope", code="scope_mismatch")
        return None, None
    if not text:
        what = "乡镇编码或名称" if role in TOWNSHIP_ROLES else "部门名称"
        raise InvalidInput(f"{label}须指定{what}", field="scope", code="scope_required")
    if role in TOWNSHIP_ROLES:
        rows = session.exec(
            select(JurisdictionRow.code).where(
                JurisdictionRow.level == TOWNSHIP_LEVEL,
                (JurisdictionRow.code == text) | (JurisdictionRow.name == text),
            )
        ).all()
        if len(rows) != 1:
            problem = "有重名，请改用乡镇编码" if rows else "不是已导入的乡镇"
            raise InvalidInput(f"「{text}」{problem}", field="scope")
        return rows[0], None
    return None, _department_id(session, text)


def _department_id(session: Session, text: str) -> int:
    if text.isdigit() and (found := session.get(Department, int(text))) is not None:
        assert found.id is not None
        return found.id
    by_name = session.exec(select(Department.id).where(Department.name == text)).first()
    if by_name is not None:
        return by_name
    by_short = session.exec(select(Department.id).where(Department.short_name == text)).all()
    if len(by_short) == 1 and by_short[0] is not None:
        return by_short[0]
    problem = "简称有重名，请用全称" if by_short else "不在部门名录中"
    raise InvalidInput(f"部门「{text}」{problem}", field="scope")


def scope_label(session: Session, user: User) -> str | None:
    """Name the user's scope: the township or the department, for listings."""
    if user.township_code is not None:
        name = jurisdiction_name(session, user.township_code)
        return f"{name} ({user.township_code})" if name else user.township_code
    if user.department_id is not None:
        department = session.get(Department, user.department_id)
        return department.name if department else f"#{user.department_id}"
    return None


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user these credentials belong to, or None; never say which part failed.

    An unknown username still costs one hash verification, so timing does not tell
    which usernames exist. A hash made with older parameters is upgraded on success.
    """
    user = get_user_by_username(session, username)
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password) or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
        session.flush()
    return user


def ensure_demo_users(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo county's users if absent; return (username, role, password) to print.

    Every demo user gets DEMO_PASSWORD. A demo user whose password was changed since, or
    who was deactivated, is left alone and not listed.
    """
    usable: list[tuple[str, str, str]] = []
    for username, role, scope, display_name in DEMO_USERS:
        user = get_user_by_username(session, username)
        if user is None:
            township_code, department_id = resolve_scope(session, role, scope)
            user = create_user(
                session,
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                township_code=township_code,
                department_id=department_id,
                display_name=display_name,
            )
        elif not user.active or not verify_password(user.password_hash, DEMO_PASSWORD):
            continue
        usable.append((user.username, user.role, DEMO_PASSWORD))
    return usable
