"""The disputes report: the period's disputes by matter, by pair of departments, how they were
ruled (the lead named, against the list that routed the event) and how long ruling took.

A dispute belongs to the period in which it was opened. Disputes are few beside parts (one in
hundreds of events), so their rows are read once and folded here; the pairs feed the
revision agenda (duties.py) as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from sqlalchemy import select
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from dispatch.core.clock import as_utc, utcnow
from dispatch.disputes.models import Dispute, DisputeParty, DisputeStatus, ListChange
from dispatch.reference.models import Department, DepartmentKind, Matter
from dispatch.reports.grouping import EVIDENCE_CAP, median
from dispatch.reports.periods import Period
from dispatch.reports.workload_schemas import (
    DisputeLine,
    DisputeMatter,
    DisputePair,
    DisputesReport,
    MatterRef,
    PeriodPublic,
    RuledLead,
)
from dispatch.users.policy import Action, Actor, authorize


class Directory:
    """The departments by id, each with its agency (a stationed unit's county department)."""

    def __init__(self, session: Session) -> None:
        self.departments = {d.id: d for d in session.exec(select_rows(Department)).all()}

    def name(self, department_id: int | None) -> str:
        """Return a department's name (its id if it is gone)."""
        found = self.departments.get(department_id)
        return found.name if found is not None else f"#{department_id}"

    def agency(self, department_id: int) -> int:
        """Return the county department a stationed unit belongs to, or the department itself."""
        found = self.departments.get(department_id)
        if (
            found is not None
            and found.kind == DepartmentKind.STATIONED_UNIT
            and found.parent_id is not None
        ):
            return found.parent_id
        return department_id


def matter_names(session: Session) -> dict[str, str]:
    """Return each matter code's name as the newest list version spells it."""
    rows = session.execute(
        select(col(Matter.code), col(Matter.name)).order_by(col(Matter.list_id))
    ).all()
    return dict(rows)


@dataclass(frozen=True, slots=True)
class Contest:
    """One dispute of the period with what the reports need of it."""

    dispute: Dispute
    agencies: tuple[int, ...]  # the parties' agencies, in order of first return
    listed_lead_id: int | None
    changes: tuple[int, ...]

    def contenders(self, directory: Directory) -> set[int]:
        """Return the agencies contending: the parties, and the one ruled to lead."""
        found = set(self.agencies)
        if self.dispute.lead_department_id is not None:
            found.add(directory.agency(self.dispute.lead_department_id))
        return found

    def kept_list(self, directory: Directory) -> bool | None:
        """Return whether the ruling kept the list's lead (None: open, or no listed lead)."""
        ruled, listed = self.dispute.lead_department_id, self.listed_lead_id
        if ruled is None or listed is None:
            return None
        return directory.agency(ruled) == directory.agency(listed)

    @property
    def hours_to_ruling(self) -> float | None:
        """Return the hours from opening to ruling."""
        if self.dispute.ruled_at is None:
            return None
        spent = as_utc(self.dispute.ruled_at) - as_utc(self.dispute.opened_at)
        return spent.total_seconds() / 3600


def load_contests(session: Session, period: Period, directory: Directory) -> list[Contest]:
    """Read the disputes opened in the period, newest first, with parties and linked changes."""
    disputes = list(
        session.exec(
            select_rows(Dispute)
            .where(col(Dispute.opened_at) >= period.start, col(Dispute.opened_at) < period.end)
            .order_by(col(Dispute.opened_at).desc(), col(Dispute.id).desc())
        ).all()
    )
    if not disputes:
        return []
    ids = [d.id for d in disputes]
    parties: dict[int, list[int]] = {}
    for dispute_id, department_id in session.execute(
        select(col(DisputeParty.dispute_id), col(DisputeParty.department_id))
        .where(col(DisputeParty.dispute_id).in_(ids))
        .order_by(col(DisputeParty.returned_at), col(DisputeParty.assignment_id))
    ):
        agency = directory.agency(int(department_id))
        found = parties.setdefault(int(dispute_id), [])
        if agency not in found:
            found.append(agency)
    list_ids = {d.matter_list_id for d in disputes if d.matter_list_id is not None}
    listed: dict[tuple[int, str], int | None] = {
        (int(list_id), code): lead
        for list_id, code, lead in session.execute(
            select(col(Matter.list_id), col(Matter.code), col(Matter.lead_department_id)).where(
                col(Matter.list_id).in_(list_ids)
            )
        )
    }
    changes: dict[int, list[int]] = {}
    for change_id, dispute_id in session.execute(
        select(col(ListChange.id), col(ListChange.dispute_id))
        .where(col(ListChange.dispute_id).in_(ids))
        .order_by(col(ListChange.id))
    ):
        changes.setdefault(int(dispute_id), []).append(int(change_id))
    return [
        Contest(
            dispute=d,
            agencies=tuple(parties.get(d.id or 0, [])),
            listed_lead_id=(
                listed.get((d.matter_list_id, d.matter_code or ""))
                if d.matter_list_id is not None
                else None
            ),
            changes=tuple(changes.get(d.id or 0, [])),
        )
        for d in disputes
    ]


def pairs_of(contests: Iterable[Contest], directory: Directory) -> list[DisputePair]:
    """Return the pairs of agencies that contend in the disputes, most disputes first."""
    found: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
    for c in contests:
        for a, b in combinations(sorted(c.contenders(directory)), 2):
            dispute_ids, event_ids = found.setdefault((a, b), ([], []))
            dispute_ids.append(c.dispute.id or 0)
            if c.dispute.event_id not in event_ids:
                event_ids.append(c.dispute.event_id)
    pairs = [
        DisputePair(
            first_id=a,
            first_name=directory.name(a),
            second_id=b,
            second_name=directory.name(b),
            disputes=len(dispute_ids),
            dispute_ids=dispute_ids[:EVIDENCE_CAP],
            event_ids=event_ids[:EVIDENCE_CAP],
        )
        for (a, b), (dispute_ids, event_ids) in found.items()
    ]
    pairs.sort(key=lambda p: (-p.disputes, p.first_name, p.second_name))
    return pairs


def _line(c: Contest, directory: Directory, names: dict[str, str]) -> DisputeLine:
    d = c.dispute
    assert d.id is not None
    return DisputeLine(
        id=d.id,
        event_id=d.event_id,
        matter=MatterRef(code=d.matter_code or "", name=names.get(d.matter_code or "")),
        trigger=d.trigger,
        status=d.status,
        opened_at=d.opened_at,
        ruled_at=d.ruled_at,
        hours_to_ruling=c.hours_to_ruling,
        party_names=[directory.name(a) for a in c.agencies],
        listed_lead_name=(
            directory.name(c.listed_lead_id) if c.listed_lead_id is not None else None
        ),
        ruled_lead_id=d.lead_department_id,
        ruled_lead_name=(
            directory.name(d.lead_department_id) if d.lead_department_id is not None else None
        ),
        kept_list=c.kept_list(directory),
        minutes_ref=d.minutes_ref,
        change_ids=list(c.changes),
    )


def _by_matter(
    contests: Sequence[Contest], directory: Directory, names: dict[str, str]
) -> list[DisputeMatter]:
    groups: dict[str, list[Contest]] = {}
    for c in contests:
        groups.setdefault(c.dispute.matter_code or "", []).append(c)
    rows = []
    for code, group in groups.items():
        kept = [c.kept_list(directory) for c in group]
        rows.append(
            DisputeMatter(
                matter=MatterRef(code=code, name=names.get(code)),
                disputes=len(group),
                ruled=sum(1 for c in group if c.dispute.status == DisputeStatus.RULED),
                kept_list=sum(1 for k in kept if k is True),
                moved_lead=sum(1 for k in kept if k is False),
                hours_to_ruling_median=median(
                    h for c in group if (h := c.hours_to_ruling) is not None
                ),
                change_ids=[i for c in group for i in c.changes],
            )
        )
    rows.sort(key=lambda r: (-r.disputes, r.matter.code))
    return rows


def _by_ruled_lead(contests: Sequence[Contest], directory: Directory) -> list[RuledLead]:
    counts: dict[int, int] = {}
    for c in contests:
        if c.dispute.lead_department_id is not None:
            lead = c.dispute.lead_department_id
            counts[lead] = counts.get(lead, 0) + 1
    rows = [
        RuledLead(department_id=i, name=directory.name(i), disputes=n) for i, n in counts.items()
    ]
    rows.sort(key=lambda r: (-r.disputes, r.name))
    return rows


def disputes_report(
    session: Session, actor: Actor, period: Period, *, now: datetime | None = None
) -> DisputesReport:
    """Return the period's disputes by matter, pair and ruling (Forbidden unless READ_WORKLOAD)."""
    authorize(actor, Action.READ_WORKLOAD)
    directory = Directory(session)
    names = matter_names(session)
    contests = load_contests(session, period, directory)
    ruled = [c for c in contests if c.dispute.status == DisputeStatus.RULED]
    return DisputesReport(
        period=PeriodPublic(first=period.first, last=period.last, label=period.label),
        generated_at=now or utcnow(),
        disputes=len(contests),
        ruled=len(ruled),
        open=len(contests) - len(ruled),
        hours_to_ruling_median=median(h for c in ruled if (h := c.hours_to_ruling) is not None),
        by_matter=_by_matter(contests, directory, names),
        by_pair=pairs_of(contests, directory),
        by_ruled_lead=_by_ruled_lead(contests, directory),
        lines=[_line(c, directory, names) for c in contests],
    )
