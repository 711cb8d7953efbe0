"""Why a part came back to its department: derived from the steps, one query per batch.

A part comes back when the township's check fails (verify_fail, then a rework step on the
part), when a follow-up rating of 1-2 reopens the event (rate_unsatisfied, then rework), or
when the command centre refuses its return (refuse_return, whose reason is the centre's).
The latest of these is the one a card shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, SQLModel, col, select

from dispatch.events.models import Step


class CameBackKind(StrEnum):
    """What sent a part back to its department."""

    VERIFY_FAILED = "verify_failed"
    REOPENED = "reopened"
    RETURN_REFUSED = "return_refused"


CAME_BACK_LABELS: dict[CameBackKind, str] = {
    CameBackKind.VERIFY_FAILED: "核查不通过",
    CameBackKind.REOPENED: "回访不满意重启",
    CameBackKind.RETURN_REFUSED: "退回被驳回",
}

# The event steps whose reason a rework step on a part carries over.
_CAUSES = {"verify_fail": CameBackKind.VERIFY_FAILED, "rate_unsatisfied": CameBackKind.REOPENED}
_ON_PART = ("rework", "refuse_return")


class CameBack(SQLModel):
    """The latest reason a part came back, in the words of whoever sent it back."""

    kind: CameBackKind
    note: str | None
    at: datetime
    rating: int | None = None


def came_back_by_assignment(session: Session, event_ids: Iterable[int]) -> dict[int, CameBack]:
    """Return, per assignment id of these events, the latest reason it came back."""
    wanted = sorted(set(event_ids))
    if not wanted:
        return {}
    steps = session.exec(
        select(Step)
        .where(
            col(Step.event_id).in_(wanted),
            col(Step.action).in_([*_CAUSES, *_ON_PART]),
        )
        .order_by(col(Step.at), col(Step.id))
    ).all()
    causes: dict[int, Step] = {}
    found: dict[int, CameBack] = {}
    for step in steps:
        if step.action in _CAUSES:
            causes[step.event_id] = step
        elif step.assignment_id is None:
            continue
        elif step.action == "refuse_return":
            found[step.assignment_id] = CameBack(
                kind=CameBackKind.RETURN_REFUSED, note=step.reason, at=step.at
            )
        elif (cause := causes.get(step.event_id)) is not None:
            rating = (cause.data or {}).get("rating")
            found[step.assignment_id] = CameBack(
                kind=_CAUSES[cause.action],
                note=cause.reason,
                at=step.at,
                rating=rating if isinstance(rating, int) else None,
            )
    return found
