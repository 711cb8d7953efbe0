"""编制 evidence: what each department and stationed unit did in a period, against its posts.

A part belongs to the period in which it was dispatched (Assignment.created_at). One GROUP BY
over the period's parts (by department, role and matter) gives every count; the matters'
weights (county data, default 1) are applied to those groups, never to single parts.
docs/METRICS.md ("编制评估与修订议程") writes out each definition.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from dispatch.core.clock import utcnow
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Escalation,
    Event,
    Step,
)
from dispatch.reference.county_rules import county_settings
from dispatch.reference.models import Department, DepartmentKind, JurisdictionRow
from dispatch.reports.duties import NOT_OCCURRED, counties, duties_against_work, revision_agenda
from dispatch.reports.grouping import hours_between, median, medians_by
from dispatch.reports.periods import Period
from dispatch.reports.workload_schemas import (
    PeriodPublic,
    TownshipRow,
    WorkloadReport,
    WorkloadRow,
)
from dispatch.users.policy import Action, Actor, authorize

# The kinds of unit the workload table lists (township platforms: the townships' view).
STAFFED_KINDS = (DepartmentKind.COUNTY_DEPARTMENT, DepartmentKind.STATIONED_UNIT)
VERIFY_FAIL_STEP = "verify_fail"


def handled_part() -> ColumnElement[bool]:
    """Select parts fed back: 已反馈, or cancelled after their feedback (a ruling, a merge)."""
    return and_(
        col(Assignment.fed_back_at).is_not(None),
        col(Assignment.status).in_([AssignmentStatus.FED_BACK, AssignmentStatus.CANCELLED]),
    )


def in_hand_part() -> ColumnElement[bool]:
    """Select parts still with their department: pending or signed."""
    return col(Assignment.status).in_([AssignmentStatus.PENDING, AssignmentStatus.SIGNED])


def overdue_part(now: datetime) -> ColumnElement[bool]:
    """Select held parts past their handling deadline: fed back after it, or still live past it."""
    return or_(
        and_(handled_part(), col(Assignment.fed_back_at) > col(Assignment.handle_by)),
        and_(in_hand_part(), col(Assignment.handle_by) <= now),
    )


def in_period(period: Period) -> ColumnElement[bool]:
    """Select the parts dispatched in the period."""
    return and_(col(Assignment.created_at) >= period.start, col(Assignment.created_at) < period.end)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass
class _Tally:
    parts: int = 0
    held: int = 0
    handled: dict[AssignmentRole, int] = field(default_factory=dict)
    weighted: float = 0.0
    overdue: int = 0
    timed: int = 0
    hours: float = 0.0


def _tallies(
    session: Session, period: Period, weight: dict[str, float], now: datetime
) -> dict[int, _Tally]:
    """Count the period's parts per department, by role and matter, in one GROUP BY."""
    handled = handled_part()
    timed = and_(handled, col(Assignment.signed_at).is_not(None))
    hours = hours_between(session, col(Assignment.signed_at), col(Assignment.fed_back_at))
    query = (
        select(
            col(Assignment.department_id),
            col(Assignment.role),
            col(Event.matter_code),
            func.count(),
            _count(or_(handled, in_hand_part())),
            _count(handled),
            _count(overdue_part(now)),
            _count(timed),
            func.coalesce(func.sum(case((timed, hours), else_=0.0)), 0.0),
        )
        .join(Event, col(Event.id) == col(Assignment.event_id))
        .where(in_period(period))
        .group_by(col(Assignment.department_id), col(Assignment.role), col(Event.matter_code))
    )
    found: dict[int, _Tally] = {}
    for department_id, role, matter, parts, held, done, late, n_timed, spent in session.execute(
        query
    ):
        tally = found.setdefault(int(department_id), _Tally())
        tally.parts += int(parts)
        tally.held += int(held)
        part_role = AssignmentRole(role)
        tally.handled[part_role] = tally.handled.get(part_role, 0) + int(done)
        tally.weighted += int(done) * weight.get(matter or "", 1.0)
        tally.overdue += int(late)
        tally.timed += int(n_timed)
        tally.hours += float(spent)
    return found


def _handling_medians(session: Session, period: Period) -> dict[int, float]:
    handled = and_(handled_part(), col(Assignment.signed_at).is_not(None))
    hours = hours_between(session, col(Assignment.signed_at), col(Assignment.fed_back_at))
    query = select(col(Assignment.department_id)).where(in_period(period), handled)
    found: dict[tuple[Hashable, ...], float] = medians_by(
        session, [col(Assignment.department_id)], hours, query
    )
    return {int(str(key[0])): value for key, value in found.items()}


def _ratio(numerator: float, denominator: int | None) -> float | None:
    return numerator / denominator if denominator else None


def workload_rows(
    session: Session, period: Period, weight: dict[str, float], now: datetime
) -> tuple[list[WorkloadRow], float | None, int]:
    """Return every department's and unit's row, the county median per person and its basis."""
    tallies = _tallies(session, period, weight, now)
    medians = _handling_medians(session, period)
    departments = session.exec(
        select_rows(Department)
        .where(col(Department.kind).in_(STAFFED_KINDS))
        .order_by(col(Department.kind), col(Department.id))
    ).all()
    names = {d.id: d.name for d in departments}
    rows: list[WorkloadRow] = []
    for d in departments:
        assert d.id is not None
        t = tallies.get(d.id, _Tally())
        rows.append(
            WorkloadRow(
                department_id=d.id,
                name=d.name,
                short_name=d.short_name,
                kind=d.kind,
                parent_id=d.parent_id,
                parent_name=names.get(d.parent_id) if d.parent_id is not None else None,
                parts=t.parts,
                held=t.held,
                handled=sum(t.handled.values()),
                handled_lead=t.handled.get(AssignmentRole.LEAD, 0),
                handled_co=t.handled.get(AssignmentRole.CO, 0),
                handled_territorial=t.handled.get(AssignmentRole.TERRITORIAL, 0),
                weighted_work=round(t.weighted, 6),
                authorised_staff=d.authorised_staff,
                actual_staff=d.actual_staff,
                staff_gap=(
                    d.authorised_staff - d.actual_staff
                    if d.authorised_staff is not None and d.actual_staff is not None
                    else None
                ),
                work_per_post=_ratio(t.weighted, d.authorised_staff),
                work_per_person=_ratio(t.weighted, d.actual_staff),
                saturation=None,
                timed=t.timed,
                handling_hours_total=round(t.hours, 4),
                handling_hours_median=medians.get(d.id),
                overdue=t.overdue,
                overdue_rate=_ratio(t.overdue, t.held),
            )
        )
    # The benchmark: departments with people in post that did weighted work in the period (a
    # utility that no event reached in a month would otherwise pull the median to 0).
    per_person = [r.work_per_person for r in rows if r.work_per_person and r.weighted_work > 0]
    county_median = median(per_person)
    for r in rows:
        if r.work_per_person is not None and county_median:
            r.saturation = r.work_per_person / county_median
    return rows, county_median, len(per_person)


def township_rows(session: Session, period: Period) -> list[TownshipRow]:
    """Return each township's events per 10,000 residents, self-handled share, calls, failures."""
    received = and_(
        col(Event.received_at) >= period.start,
        col(Event.received_at) < period.end,
        col(Event.status).not_in(NOT_OCCURRED),
        col(Event.township_code).is_not(None),
    )
    # Events whose lead part a township platform fed back (its parts come after the report).
    platform_led = (
        select(col(Assignment.event_id))
        .join(Department, col(Department.id) == col(Assignment.department_id))
        .where(
            col(Assignment.created_at) >= period.start,
            col(Assignment.role) == AssignmentRole.LEAD,
            col(Assignment.status) == AssignmentStatus.FED_BACK,
            col(Department.kind) == DepartmentKind.TOWNSHIP_PLATFORM,
        )
    )
    events = {
        code: (int(n), int(own))
        for code, n, own in session.execute(
            select(
                col(Event.township_code),
                func.count(),
                _count(or_(col(Event.handled_on_site), col(Event.id).in_(platform_led))),
            )
            .where(received)
            .group_by(col(Event.township_code))
        )
    }
    calls = dict(
        session.execute(
            select(col(Escalation.township_code), func.count())
            .where(
                col(Escalation.called_at) >= period.start, col(Escalation.called_at) < period.end
            )
            .group_by(col(Escalation.township_code))
        ).all()
    )
    # A failed verification counts with its event, as the events do: received in the period.
    failures = dict(
        session.execute(
            select(col(Event.township_code), func.count())
            .select_from(Step)
            .join(Event, col(Event.id) == col(Step.event_id))
            .where(received, col(Step.action) == VERIFY_FAIL_STEP)
            .group_by(col(Event.township_code))
        ).all()
    )
    townships = session.exec(
        select_rows(JurisdictionRow)
        .where(JurisdictionRow.level == "township")
        .order_by(col(JurisdictionRow.code))
    ).all()
    rows: list[TownshipRow] = []
    for t in townships:
        n, own = events.get(t.code, (0, 0))
        rows.append(
            TownshipRow(
                township_code=t.code,
                name=t.name,
                population=t.population,
                events=n,
                events_per_10k=n * 10000 / t.population if t.population else None,
                self_handled=own,
                self_handled_rate=own / n if n else None,
                escalations=int(calls.get(t.code, 0)),
                verification_failures=int(failures.get(t.code, 0)),
            )
        )
    return rows


def period_public(period: Period) -> PeriodPublic:
    """Return the period as the API names it."""
    return PeriodPublic(first=period.first, last=period.last, label=period.label)


def workload_report(
    session: Session, actor: Actor, period: Period, *, now: datetime | None = None
) -> WorkloadReport:
    """Return the staffing office's evidence for the period (Forbidden unless READ_WORKLOAD)."""
    authorize(actor, Action.READ_WORKLOAD)
    now = now or utcnow()
    weight: dict[str, float] = {}
    for county in counties(session):
        weight.update(county_settings(session, county).matter_weights)
    rows, county_median, basis = workload_rows(session, period, weight, now)
    unused, elsewhere = duties_against_work(session, period)
    return WorkloadReport(
        period=period_public(period),
        generated_at=now,
        median_work_per_person=county_median,
        median_basis=basis,
        matter_weights=weight,
        rows=rows,
        unused_duties=unused,
        handled_elsewhere=elsewhere,
        agenda=revision_agenda(session, period),
        townships=township_rows(session, period),
    )
