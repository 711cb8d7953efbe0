"""Domain errors: they know nothing of HTTP; the edge maps each class to a status once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    `message` is Chinese, for a person; `code` is stable snake_case, for a program (the class
    default unless a raise names a finer one); `extra` holds codes the message spells out in
    words, such as the current status and the refused action.
    """

    code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.extra = extra or {}


class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(DomainError):
    """The request contradicts the current state (a forbidden transition, a duplicate)."""

    code = "conflict"


class InvalidInput(DomainError):
    """The input is malformed or refers to something unknown; the message names the field."""

    code = "invalid_input"


class TooLarge(InvalidInput):
    """An upload or a request body is over its size limit."""

    code = "too_large"


class Unauthorized(DomainError):
    """The caller is not signed in: no credentials, wrong ones, or an expired token."""

    code = "not_signed_in"


class TooManyAttempts(Unauthorized):
    """Sign-in is locked for a while after repeated failures; retry_after says how long (s)."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """The caller is signed in but may not do this; the message says who, what and why."""

    code = "forbidden"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One refused row of an imported file, worded for the person who wrote the file."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return self.message


class ImportRejected(InvalidInput):
    """A file import was refused as a whole; nothing was written."""

    code = "import_rejected"

    def __init__(self, problems: list[RowProblem], *, source: str | None = None) -> None:
        head = f"{source}: " if source else ""
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  …另有 {len(problems) - 50} 处问题" if len(problems) > 50 else ""
        summary = f"导入被拒绝，共 {len(problems)} 处问题，未写入任何数据"
        super().__init__(f"{head}{summary}:\n{shown}{more}")
        self.problems = problems
