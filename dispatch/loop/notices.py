"""Closing an assignment's supervision notices (督办) once the part is no longer live work.

A notice stays open (or acknowledged) until its assignment is fed back; a part cancelled,
re-dispatched or closed is no longer that department's work, so its notices close too.
`parts.move_assignment` calls `close_notices` on every transition that ends a part.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.events.models import (
    Assignment,
    AssignmentStatus,
    Event,
    NoticeStatus,
    SupervisionNotice,
)
from dispatch.events.steps import add_step
from dispatch.users.models import User

# A part in one of these states is no longer chased: its notices close.
ENDED_PARTS = (AssignmentStatus.FED_BACK, AssignmentStatus.CANCELLED)


def close_notices(
    session: Session,
    event: Event,
    assignment: Assignment,
    *,
    user: User | None,
    now: datetime,
) -> list[SupervisionNotice]:
    """Close the part's notices not yet closed, in one step; return those closed."""
    if assignment.status not in ENDED_PARTS:
        return []
    notices = list(
        session.exec(
            select(SupervisionNotice)
            .where(
                SupervisionNotice.assignment_id == assignment.id,
                col(SupervisionNotice.status) != NoticeStatus.CLOSED,
            )
            .order_by(col(SupervisionNotice.id))
            .with_for_update()
        )
    )
    if not notices:
        return []
    for notice in notices:
        notice.status = NoticeStatus.CLOSED
        notice.closed_at = now
        session.add(notice)
    why = "任务已反馈" if assignment.status == AssignmentStatus.FED_BACK else "任务已撤销或关闭"
    add_step(
        session,
        event,
        action="supervision_closed",
        actor=user,
        assignment=assignment,
        reason=f"{why}，督办 {len(notices)} 件随之关闭",
        data={"notice_ids": [n.id for n in notices]},
        at=now,
    )
    return notices
