"""The list clauses a department may cite when it returns a part: rows of the version that
routed the event, never free text (a free note may only accompany the row)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlmodel import Session, col, select

from dispatch.core.errors import Conflict, InvalidInput, NotFound
from dispatch.events.models import Assignment, Event
from dispatch.events.scopes import event_scope
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.lists.versions import list_in_force, load_rules
from dispatch.reference.models import Department
from dispatch.users.policy import Action, Actor, authorize

# The stored citation fits the assignment's return_clause column.
CITATION_LENGTH = 200


class ClausePublic(BaseModel):
    """One row of the list as a returning department cites it."""

    code: str
    row_number: int
    name: str
    lead_department_id: int | None
    lead_department_name: str | None
    co_department_names: list[str]
    department_duties: str | None
    township_duties_text: str | None
    legal_basis: str | None
    routed: bool  # the row the event was routed by


class ClausesPublic(BaseModel):
    """The list version that routed an event, and its rows in list order."""

    list_id: int | None
    list_version: int
    clauses: list[ClausePublic]


def routing_rules(session: Session, event: Event) -> MatterRules:
    """Return the list version that routed the event (or, unrouted, the one then in force)."""
    if event.matter_list_id is not None:
        return load_rules(session, event.matter_list_id)
    found = list_in_force(session, event.county_code or "", event.received_at)
    if found is None or found.id is None:
        raise Conflict("该事件所在县没有生效的责任清单，无法援引条款", field="clause_code")
    return load_rules(session, found.id)


def for_assignment(session: Session, actor: Actor, assignment_id: int) -> ClausesPublic:
    """Return the clauses a part's holder may cite, to whoever may see the event."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"任务 {assignment_id} 不存在", field="assignment_id")
    event = session.get(Event, assignment.event_id)
    assert event is not None
    authorize(actor, Action.VIEW_EVENT, event=event_scope(session, event))
    return clauses_of(session, event)


def clauses_of(session: Session, event: Event) -> ClausesPublic:
    """Return every row of the routing list version, the event's own matter flagged."""
    rules = routing_rules(session, event)
    names = _department_names(session, rules.matters)
    return ClausesPublic(
        list_id=rules.list_id,
        list_version=rules.version,
        clauses=[_public(m, names, routed=m.code == event.matter_code) for m in rules.matters],
    )


def cite(
    session: Session, event: Event, code: str, note: str | None
) -> tuple[str, dict[str, object]]:
    """Return the citation of one row (for the part) and its particulars (for the step)."""
    rules = routing_rules(session, event)
    matter = rules.get(code)
    if matter is None:
        raise InvalidInput(
            f"清单第 {rules.version} 版中没有事项「{code}」，请从派单所依据的清单中选择",
            field="clause_code",
            code="unknown_clause",
        )
    names = _department_names(session, [matter])
    clause = _public(matter, names, routed=matter.code == event.matter_code)
    lead = f"，牵头 {clause.lead_department_name}" if clause.lead_department_name else ""
    text = f"清单第{rules.version}版 第{matter.row_number}项「{matter.name}」{lead}"
    if note:
        text = f"{text}；{note}"
    if len(text) > CITATION_LENGTH:
        text = text[: CITATION_LENGTH - 1] + "…"
    particulars: dict[str, object] = {
        "list_id": rules.list_id,
        "list_version": rules.version,
        **clause.model_dump(),
        "note": note,
    }
    return text, particulars


def _public(matter: MatterRule, names: dict[int, str], *, routed: bool) -> ClausePublic:
    lead = matter.lead_department_id
    return ClausePublic(
        code=matter.code,
        row_number=matter.row_number,
        name=matter.name,
        lead_department_id=lead,
        lead_department_name=names.get(lead) if lead is not None else None,
        co_department_names=[names[i] for i in matter.co_department_ids if i in names],
        department_duties=matter.department_duties,
        township_duties_text=matter.township_duties_text,
        legal_basis=matter.legal_basis,
        routed=routed,
    )


def _department_names(session: Session, matters: Sequence[MatterRule]) -> dict[int, str]:
    ids = {m.lead_department_id for m in matters if m.lead_department_id is not None}
    ids.update(i for m in matters for i in m.co_department_ids)
    if not ids:
        return {}
    rows = session.exec(select(Department.id, Department.name).where(col(Department.id).in_(ids)))
    return {i: name for i, name in rows if i is not None}
