"""Automatic supervision notices: the county's rules, applied by the scheduler each round.

Each county keeps its rules as data (`reference.county_rules`, default: sign overdue → 普通;
handling overdue by 1 working day → 黄牌; by 3 working days → 红牌). "Overdue by N working
days" is measured on the work calendar from the deadline: the notice is due once N working
days have run since it (0: as soon as it passes). A rule on the sign deadline applies to a
part still pending, one on the handling deadline to a part pending or signed.

Each level is issued at most once per assignment: the scan skips levels already issued and
the partial unique index (assignment, level) where automatic refuses a second copy. The scan
is set-based: per county and rule, one query of the live parts whose deadline is at most the
rule's cutoff (the latest deadline whose notice is due now, `due_cutoff`) still missing the
level, on the deadline's partial index (`events.deadlines`), locked, skipping those another
transaction holds; then one INSERT of all the notices found, and one of their steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, not_, or_, true
from sqlmodel import Session, col, select

from dispatch.core.bulk import insert_many
from dispatch.core.clock import as_aware, beijing_text, utcnow
from dispatch.events.deadlines import Deadline, key_reached, live
from dispatch.events.models import (
    Assignment,
    Event,
    NoticeLevel,
    NoticeStatus,
    SupervisionNotice,
)
from dispatch.events.steps import add_system_steps
from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.reference.county_rules import (
    DEFAULTS,
    CountySettings,
    SupervisionRule,
    county_settings,
)
from dispatch.reference.models import CountyRules
from dispatch.supervision.batch import department_names, events_by_id
from dispatch.supervision.notices import NOTICE_LEVEL_LABELS

_KIND_LABELS = {"sign": "签收", "handle": "办结"}
_MICROSECOND = timedelta(microseconds=1)


def due_at(calendar: WorkCalendar, deadline: datetime, rule: SupervisionRule) -> datetime:
    """Return when the rule's notice falls due: the deadline plus its working days."""
    deadline = as_aware(deadline)
    if rule.overdue_working_days <= 0:
        return deadline
    return calendar.add_working_days(deadline, rule.overdue_working_days)


def due_cutoff(calendar: WorkCalendar, rule: SupervisionRule, now: datetime) -> datetime:
    """Return the latest deadline whose notice is due at now under the rule.

    `due_at` never moves back as the deadline moves on (a working day counts only workdays'
    time), so the deadlines due are exactly those up to this one, found to the microsecond
    by bisection: each scan is then one range on the deadline's index.
    """
    now = as_aware(now)
    if rule.overdue_working_days <= 0:
        return now
    step = timedelta(days=rule.overdue_working_days + 14)
    low, high = now - step, now  # due_at(high) > now: N working days take N days at least
    while due_at(calendar, low, rule) > now:
        low -= step
    while high - low > _MICROSECOND:
        middle = low + (high - low) // 2
        if due_at(calendar, middle, rule) <= now:
            low = middle
        else:
            high = middle
    return low


def _missing(level: NoticeLevel) -> ColumnElement[bool]:
    """Select the parts without an automatic notice of the level.

    One probe of the partial unique index (assignment, level) per part. OFFSET 0 keeps
    PostgreSQL from planning an anti-join instead, which it would size by the notices'
    statistics: right after a large batch they are stale (a handful of rows), and the join
    it picks then compares every part with every notice.
    """
    issued = (
        select(col(SupervisionNotice.id))
        .where(
            col(SupervisionNotice.assignment_id) == col(Assignment.id),
            # As the partial unique index states it (`WHERE automatic`), so that it serves.
            col(SupervisionNotice.automatic),
            col(SupervisionNotice.level) == level,
        )
        .offset(0)
    )
    return not_(issued.exists())


def _county_groups(session: Session) -> list[tuple[ColumnElement[bool], CountySettings]]:
    """Return each county with rules of its own, and the rest (the defaults), as conditions."""
    codes = sorted(c for c in session.exec(select(CountyRules.county_code)).all() if c)
    county = col(Event.county_code)
    groups = [(county == code, county_settings(session, code)) for code in codes]
    rest = or_(county.is_(None), county.not_in(codes)) if codes else true()
    return [*groups, (rest, DEFAULTS)]


@dataclass(frozen=True, slots=True)
class _Due:
    """One notice a rule calls for: the part (its event, department, deadline) and the rule."""

    assignment_id: int
    position: int  # the rule's place in its county's list: the first rule of a level wins
    event_id: int
    department_id: int
    deadline: datetime
    rule: SupervisionRule


def issue_rule_notices(
    session: Session,
    *,
    now: datetime | None = None,
    calendar: WorkCalendar | None = None,
    limit: int | None = None,
) -> list[SupervisionNotice]:
    """Issue every notice the county rules now call for; each level once per assignment.

    The notices come in the order of their parts, and of the rules within a part. With a
    limit, at most that many are issued (the next call issues the rest).
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    cutoffs: dict[str, datetime] = {}
    found: list[_Due] = []
    for in_county, settings in _county_groups(session):
        for position, rule in enumerate(settings.supervision_rules):
            left = None if limit is None else limit - len(found)
            if left is not None and left <= 0:
                break
            if rule.key not in cutoffs:
                calendar = calendar or load_calendar(session)
                cutoffs[rule.key] = due_cutoff(calendar, rule, now)
            found.extend(_due(session, rule, position, in_county, cutoffs[rule.key], dialect, left))
    chosen: dict[tuple[int, NoticeLevel], _Due] = {}
    for due in sorted(found, key=lambda d: (d.assignment_id, d.position)):
        chosen.setdefault((due.assignment_id, NoticeLevel(due.rule.level)), due)
    if not chosen:
        return []
    notices = _insert(session, list(chosen.values()), now)
    departments = {key: due.department_id for key, due in chosen.items()}
    _record(session, [(n, departments[n.assignment_id, n.level]) for n in notices])
    return notices


def _due(
    session: Session,
    rule: SupervisionRule,
    position: int,
    in_county: ColumnElement[bool],
    cutoff: datetime,
    dialect: str,
    limit: int | None,
) -> list[_Due]:
    """Find the parts of the rule's counties past its cutoff and still missing its level."""
    kind: Deadline = "sign" if rule.deadline == "sign" else "handle"
    deadline = col(Assignment.sign_by if kind == "sign" else Assignment.handle_by)
    due = (
        select(Assignment.id, Assignment.event_id, Assignment.department_id, deadline)
        .join(Event, col(Event.id) == Assignment.event_id)
        .where(
            live(kind),
            # Implied by the next condition (a due key is never after its deadline); stated
            # so that the deadline's partial index serves the scan.
            key_reached(kind, dialect, cutoff),
            deadline <= cutoff,
            _missing(NoticeLevel(rule.level)),
            in_county,
        )
        .with_for_update(of=Assignment, skip_locked=True)
    )
    if limit is not None:
        # No ORDER BY: with a limit it could lead the planner to walk the primary key.
        due = due.limit(limit)
    return [
        _Due(assignment_id, position, event_id, department_id, at, rule)
        for assignment_id, event_id, department_id, at in session.exec(due).all()
        if assignment_id is not None and at is not None
    ]


def _insert(session: Session, chosen: list[_Due], now: datetime) -> list[SupervisionNotice]:
    """Write the notices in one INSERT, in the order found; return them in that order."""
    values = []
    for due in chosen:
        rule, level = due.rule, NoticeLevel(due.rule.level)
        what = _KIND_LABELS.get(rule.deadline, rule.deadline)
        days = rule.overdue_working_days
        late = f"已超期 {days} 个工作日" if days else "已超期"
        values.append(
            {
                "event_id": due.event_id,
                "assignment_id": due.assignment_id,
                "level": level,
                "status": NoticeStatus.OPEN,
                "automatic": True,
                "rule": rule.key,
                "note": (
                    f"{what}{late}（时限 {beijing_text(due.deadline)}），"
                    f"按县督办规则{NOTICE_LEVEL_LABELS[level]}"
                ),
                "issued_at": now,
            }
        )
    return sorted(insert_many(session, SupervisionNotice, values), key=lambda n: n.id or 0)


def _record(session: Session, issued: list[tuple[SupervisionNotice, int]]) -> None:
    """Record each notice issued as a step on its event (as notices.record_issued does)."""
    events = events_by_id(session, (notice.event_id for notice, _ in issued))
    names = department_names(session, (department for _, department in issued))
    entries = []
    for notice, department in issued:
        entries.append(
            (
                events[notice.event_id],
                {
                    "action": "supervise",
                    "assignment_id": notice.assignment_id,
                    "to_org": names.get(department, str(department)),
                    "reason": f"{NOTICE_LEVEL_LABELS[notice.level]}：{notice.note}",
                    "data": {
                        "notice_id": notice.id,
                        "level": notice.level.value,
                        "automatic": True,
                        "rule": notice.rule,
                    },
                },
            )
        )
    add_system_steps(session, entries, at=issued[0][0].issued_at)
