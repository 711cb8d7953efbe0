"""Domain errors: they know nothing of HTTP; the edge maps each class to a status once."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The request contradicts the current state (a forbidden transition, a duplicate)."""


class InvalidInput(DomainError):
    """The input is malformed or refers to something unknown; the message names the field."""


class TooLarge(InvalidInput):
    """An upload or a request body is over its size limit."""


class Unauthorized(DomainError):
    """The caller is not signed in: no credentials, wrong ones, or an expired token."""


class TooManyAttempts(Unauthorized):
    """Sign-in is locked for a while after repeated failures; retry_after says how long (s)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(DomainError):
    """The caller is signed in but may not do this; the message says who, what and why."""


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

    def __init__(self, problems: list[RowProblem], *, source: str | None = None) -> None:
        head = f"{source}: " if source else ""
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  …另有 {len(problems) - 50} 处问题" if len(problems) > 50 else ""
        summary = f"导入被拒绝，共 {len(problems)} 处问题，未写入任何数据"
        super().__init__(f"{head}{summary}:\n{shown}{more}")
        self.problems = problems
