"""Automatic supervision notices: the county's rules, applied by the scheduler each round.

Each county keeps its rules as data (`reference.county_rules`, default: sign overdue → 普通;
handling overdue by 1 working day → 黄牌; by 3 working days → 红牌). "Overdue by N working
days" is measured on the work calendar from the deadline: the notice is due once N working
days have run since it (0: as soon as it passes). A rule on the sign deadline applies to a
part still pending, one on the handling deadline to a part pending or signed.

Each level is issued at most once per assignment: the scan skips levels already issued and
the partial unique index (assignment, level) where automatic refuses a second copy. The scan
is set-based: one query of candidates (live parts past a deadline still missing a level,
locked, skipping those another transaction holds), one of the levels they already have.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, not_, or_
from sqlmodel import Session, col, select

from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.events.models import (
    Assignment,
    AssignmentStatus,
    Event,
    NoticeLevel,
    SupervisionNotice,
)
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.reference.county_rules import (
    DEFAULTS,
    CountySettings,
    SupervisionRule,
    county_settings,
)
from dispatch.reference.models import CountyRules
from dispatch.supervision.notices import LIVE, NOTICE_LEVEL_LABELS, record_issued

_KIND_LABELS = {"sign": "签收", "handle": "办结"}


def due_at(calendar: WorkCalendar, deadline: datetime, rule: SupervisionRule) -> datetime:
    """Return when the rule's notice falls due: the deadline plus its working days."""
    deadline = as_aware(deadline)
    if rule.overdue_working_days <= 0:
        return deadline
    return calendar.add_working_days(deadline, rule.overdue_working_days)


def _levels_in_use(session: Session) -> set[NoticeLevel]:
    levels = {NoticeLevel(r.level) for r in DEFAULTS.supervision_rules}
    for raw in session.exec(select(CountyRules.supervision_rules)).all():
        levels.update(NoticeLevel(str(item["level"])) for item in raw)
    return levels


def _missing(level: NoticeLevel) -> ColumnElement[bool]:
    return not_(
        exists().where(
            col(SupervisionNotice.assignment_id) == col(Assignment.id),
            col(SupervisionNotice.automatic).is_(True),
            col(SupervisionNotice.level) == level,
        )
    )


def issue_rule_notices(
    session: Session, *, now: datetime | None = None, calendar: WorkCalendar | None = None
) -> list[SupervisionNotice]:
    """Issue every notice the county rules now call for; each level once per assignment."""
    now = now or utcnow()
    levels = _levels_in_use(session)
    if not levels:
        return []
    candidates = session.exec(
        select(Assignment, Event)
        .join(Event, col(Event.id) == Assignment.event_id)
        .where(
            col(Assignment.status).in_(LIVE),
            or_(
                and_(
                    col(Assignment.status) == AssignmentStatus.PENDING,
                    col(Assignment.sign_by) <= now,
                ),
                col(Assignment.handle_by) <= now,
            ),
            or_(*(_missing(level) for level in sorted(levels))),
        )
        .order_by(col(Assignment.id))
        .with_for_update(of=Assignment, skip_locked=True)
    ).all()
    if not candidates:
        return []
    ids = [a.id for a, _ in candidates if a.id is not None]
    issued_before = {
        (assignment_id, NoticeLevel(level))
        for assignment_id, level in session.exec(
            select(SupervisionNotice.assignment_id, SupervisionNotice.level).where(
                col(SupervisionNotice.automatic).is_(True),
                col(SupervisionNotice.assignment_id).in_(ids),
            )
        ).all()
    }
    calendar = calendar or load_calendar(session)
    settings: dict[str | None, CountySettings] = {}
    issued: list[SupervisionNotice] = []
    for assignment, event in candidates:
        assert assignment.id is not None
        if event.county_code not in settings:
            settings[event.county_code] = county_settings(session, event.county_code)
        for rule in settings[event.county_code].supervision_rules:
            level = NoticeLevel(rule.level)
            if (assignment.id, level) in issued_before:
                continue
            if rule.deadline == "sign" and assignment.status != AssignmentStatus.PENDING:
                continue
            deadline = assignment.sign_by if rule.deadline == "sign" else assignment.handle_by
            if deadline is None or as_aware(now) < due_at(calendar, deadline, rule):
                continue
            notice = _issue(session, event, assignment, rule, deadline, now)
            issued_before.add((assignment.id, level))
            issued.append(notice)
    return issued


def _issue(
    session: Session,
    event: Event,
    assignment: Assignment,
    rule: SupervisionRule,
    deadline: datetime,
    now: datetime,
) -> SupervisionNotice:
    assert assignment.id is not None
    kind = _KIND_LABELS.get(rule.deadline, rule.deadline)
    late = f"已超期 {rule.overdue_working_days} 个工作日" if rule.overdue_working_days else "已超期"
    level = NoticeLevel(rule.level)
    notice = SupervisionNotice(
        event_id=assignment.event_id,
        assignment_id=assignment.id,
        level=level,
        automatic=True,
        rule=rule.key,
        note=(
            f"{kind}{late}（时限 {beijing_text(deadline)}），"
            f"按县督办规则{NOTICE_LEVEL_LABELS[level]}"
        ),
        issued_at=now,
    )
    session.add(notice)
    session.flush()
    record_issued(session, event, assignment, notice, user=None)
    return notice
