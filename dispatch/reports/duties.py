"""Duties against work: what the list gives each department beside what it did, and the
revision agenda (the matters most returned and disputed, with the pairs who dispute them).

The list a duty is read from: for matters never raised, the version in force on the period's
last day; for lead work done elsewhere, the version that routed the event (Event.matter_list_id).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlmodel import Session, col

from dispatch.disputes.models import ListChange
from dispatch.events.models import Assignment, AssignmentRole, AssignmentStatus, Event, EventStatus
from dispatch.reference.lists.versions import list_in_force
from dispatch.reference.models import HandlingMode, JurisdictionRow, Matter
from dispatch.reports.agenda import Directory, load_contests, matter_names, pairs_of
from dispatch.reports.grouping import EVIDENCE_CAP, first_ids
from dispatch.reports.periods import Period
from dispatch.reports.workload_schemas import (
    AgendaItem,
    ChangeRef,
    HandledElsewhere,
    MatterRef,
    UnusedDuty,
)

# Events that did not happen as reported: weeded out, or folded into another report.
NOT_OCCURRED = (EventStatus.INVALID, EventStatus.MERGED)
# Parts whose last answer was their feedback (as workload.handled_part selects).
FED_BACK_OR_AFTER = (AssignmentStatus.FED_BACK, AssignmentStatus.CANCELLED)


def counties(session: Session) -> list[str]:
    """Return the codes of the counties loaded."""
    return list(
        session.execute(
            select(col(JurisdictionRow.code))
            .where(col(JurisdictionRow.level) == "county")
            .order_by(col(JurisdictionRow.code))
        ).scalars()
    )


def _unused(session: Session, period: Period, directory: Directory) -> list[UnusedDuty]:
    rows: list[UnusedDuty] = []
    for county in counties(session):
        in_force = list_in_force(session, county, period.last)
        if in_force is None:
            continue
        raised = (
            select(col(Event.matter_code))
            .where(
                col(Event.county_code) == county,
                col(Event.received_at) >= period.start,
                col(Event.received_at) < period.end,
                col(Event.status).not_in(NOT_OCCURRED),
                col(Event.matter_code).is_not(None),
            )
            .distinct()
        )
        for code, name, lead in session.execute(
            select(col(Matter.code), col(Matter.name), col(Matter.lead_department_id))
            .where(
                col(Matter.list_id) == in_force.id,
                col(Matter.lead_department_id).is_not(None),
                col(Matter.code).not_in(raised),
            )
            .order_by(col(Matter.row_number))
        ):
            rows.append(
                UnusedDuty(
                    department_id=int(lead),
                    department_name=directory.name(int(lead)),
                    matter=MatterRef(code=code, name=name),
                )
            )
    rows.sort(key=lambda r: (r.department_name, r.matter.code))
    return rows


def _elsewhere(
    session: Session, period: Period, directory: Directory, names: dict[str, str]
) -> list[HandledElsewhere]:
    listed = col(Matter.lead_department_id)
    holder = col(Assignment.department_id)
    acting_for = col(Assignment.on_behalf_of_id)
    condition = and_(
        col(Assignment.created_at) >= period.start,
        col(Assignment.created_at) < period.end,
        col(Assignment.role) == AssignmentRole.LEAD,
        col(Assignment.fed_back_at).is_not(None),
        col(Assignment.status).in_(FED_BACK_OR_AFTER),
        col(Matter.handling_mode) != HandlingMode.TOWNSHIP,  # the township's own platform leads
        listed.is_not(None),
        listed != holder,
        or_(acting_for.is_(None), listed != acting_for),
    )

    def joined(*columns: Any) -> Select[Any]:
        return (
            select(*columns)
            .join(Event, col(Event.id) == col(Assignment.event_id))
            .join(
                Matter,
                and_(
                    col(Matter.list_id) == col(Event.matter_list_id),
                    col(Matter.code) == col(Event.matter_code),
                ),
            )
            .where(condition)
        )

    keys = (holder, col(Event.matter_code), listed)
    counted = joined(*keys, func.count()).group_by(*keys)
    ids = first_ids(session, joined(*keys, col(Event.id)).group_by(*keys, col(Event.id)).subquery())
    rows = [
        HandledElsewhere(
            department_id=int(department_id),
            department_name=directory.name(int(department_id)),
            matter=MatterRef(code=code, name=names.get(code)),
            listed_lead_id=int(lead),
            listed_lead_name=directory.name(int(lead)),
            parts=int(n),
            event_ids=ids.get((department_id, code, lead), []),
        )
        for department_id, code, lead, n in session.execute(counted)
    ]
    rows.sort(key=lambda r: (-r.parts, r.department_name, r.matter.code))
    return rows


def duties_against_work(
    session: Session, period: Period
) -> tuple[list[UnusedDuty], list[HandledElsewhere]]:
    """Return the matters each department leads that never occurred, and lead work done
    on matters the list gives to someone else."""
    directory = Directory(session)
    return _unused(session, period, directory), _elsewhere(
        session, period, directory, matter_names(session)
    )


def revision_agenda(session: Session, period: Period) -> list[AgendaItem]:
    """Return the matters most disputed, then most returned, with their evidence, ranked."""
    directory = Directory(session)
    names = matter_names(session)
    returned = and_(
        col(Assignment.created_at) >= period.start,
        col(Assignment.created_at) < period.end,
        col(Assignment.returns) > 0,
    )
    code = col(Event.matter_code)
    returns = {
        matter: (int(total), int(parts))
        for matter, total, parts in session.execute(
            select(code, func.sum(col(Assignment.returns)), func.count())
            .join(Event, col(Event.id) == col(Assignment.event_id))
            .where(returned)
            .group_by(code)
        )
    }
    returned_events = first_ids(
        session,
        select(code, col(Event.id))
        .join(Assignment, col(Assignment.event_id) == col(Event.id))
        .where(returned)
        .group_by(code, col(Event.id))
        .subquery(),
    )
    contests = load_contests(session, period, directory)
    by_matter: dict[str, list[int]] = {}
    for index, contest in enumerate(contests):
        by_matter.setdefault(contest.dispute.matter_code or "", []).append(index)
    codes = {*(c for c in returns if c is not None), *by_matter}
    changes: dict[str, list[ChangeRef]] = {}
    if codes:
        for change_id, matter, status in session.execute(
            select(col(ListChange.id), col(ListChange.matter_code), col(ListChange.status))
            .where(
                col(ListChange.matter_code).in_(codes), col(ListChange.submitted_at) < period.end
            )
            .order_by(col(ListChange.id))
        ):
            changes.setdefault(matter, []).append(ChangeRef(id=int(change_id), status=status))
    leads = _leads_in_force(session, period)
    items: list[AgendaItem] = []
    for matter in codes:
        mine = [contests[i] for i in by_matter.get(matter, [])]
        total, parts = returns.get(matter, (0, 0))
        events = list(
            dict.fromkeys(
                [*(c.dispute.event_id for c in mine), *returned_events.get((matter,), [])]
            )
        )
        items.append(
            AgendaItem(
                rank=0,
                matter=MatterRef(code=matter, name=names.get(matter)),
                listed_lead_name=(
                    directory.name(leads[matter]) if leads.get(matter) is not None else None
                ),
                returns=total,
                returned_parts=parts,
                disputes=len(mine),
                event_ids=events[:EVIDENCE_CAP],
                dispute_ids=[c.dispute.id or 0 for c in mine][:EVIDENCE_CAP],
                pairs=pairs_of(mine, directory),
                changes=changes.get(matter, []),
            )
        )
    items.sort(key=lambda i: (-i.disputes, -i.returns, i.matter.code))
    for rank, item in enumerate(items, start=1):
        item.rank = rank
    return items


def _leads_in_force(session: Session, period: Period) -> dict[str, int | None]:
    leads: dict[str, int | None] = {}
    for county in counties(session):
        in_force = list_in_force(session, county, period.last)
        if in_force is None:
            continue
        leads.update(
            session.execute(
                select(col(Matter.code), col(Matter.lead_department_id)).where(
                    col(Matter.list_id) == in_force.id
                )
            ).all()
        )
    return leads
