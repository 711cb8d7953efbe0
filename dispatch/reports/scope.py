"""Whose rows a reader sees: the county's readers all; a department its own and its units'; a
township its own."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.users.models import UserRole
from dispatch.users.policy import Action, Actor, authorize


@dataclass(frozen=True, slots=True)
class ReportScope:
    """None for a dimension: every row; else only the rows of these departments or township."""

    department_ids: frozenset[int] | None = None
    township_code: str | None = None

    @property
    def everything(self) -> bool:
        """Return whether the reader sees the whole county."""
        return self.department_ids is None and self.township_code is None


def report_scope(actor: Actor) -> ReportScope:
    """Return the rows a reader of the assessment and the ledger may see (Forbidden if none)."""
    authorize(actor, Action.READ_REPORTS)
    if actor.role is UserRole.DEPARTMENT_STAFF:
        return ReportScope(department_ids=actor.department_ids)
    if actor.role is UserRole.TOWNSHIP_OPERATOR:
        return ReportScope(township_code=actor.township_code or "")
    return ReportScope()
