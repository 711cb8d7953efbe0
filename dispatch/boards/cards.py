"""Cards: the whole current state of one event, as every board shows it, and board deltas."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from dispatch.boards.streams import Board, BoardKind, BoardMessage, CardChange
from dispatch.core.clock import utcnow
from dispatch.events.came_back import CameBack, came_back_by_assignment
from dispatch.events.models import Assignment, Event, Step
from dispatch.events.schemas import EventCard, StepPublic
from dispatch.events.steps import WrittenStep
from dispatch.reference.models import Department, JurisdictionRow, Matter, Platform

DESCRIPTION_CHARS = 300


# ---- Cards: the whole current state of one event, as every board shows it ----------------

# Which delta type a transaction's steps amount to: the first found in this order wins, so
# "routed" beats the dispatch steps that come with it and "signed" the lead_sign after it.
_TYPE_OF_ACTION: dict[str, str] = {
    "need_triage": "needs_triage",
    "route": "routed",
    "triage_route": "routed",
    "rate_unsatisfied": "reopened",
    "verify_fail": "verify_failed",
    "verify_pass": "verified",
    "close": "closed",
    "rate_satisfied": "rated",
    "mark_invalid": "invalid",
    "merge": "merged",
    "redispatch": "redispatched",
    "refuse_return": "return_refused",
    "return": "returned",
    "all_fed_back": "fed_back",
    "feed_back": "fed_back",
    "lead_sign": "signed",
    "sign": "signed",
    "overdue": "overdue",
    "deadline_near": "deadline_near",
    "report": "reported",
    "handle_on_site": "reported",
}
_PRIORITY = {action: rank for rank, action in enumerate(_TYPE_OF_ACTION)}
# Steps that only intake writes: an event with nothing else in the transaction has no parts.
_INTAKE = frozenset({"report", "handle_on_site"})


def delta_type(actions: Iterable[str]) -> str:
    """Name what a transaction's steps amount to for a board ("changed" when nothing known)."""
    known = [a for a in actions if a in _PRIORITY]
    if not known:
        return "changed"
    return _TYPE_OF_ACTION[min(known, key=_PRIORITY.__getitem__)]


@dataclass(frozen=True, slots=True)
class Names:
    """Names of jurisdictions, departments, platforms and matters for a batch of cards."""

    places: dict[str, str]
    departments: dict[int, str]
    platforms: dict[str, str]
    matters: dict[tuple[int | None, str], str]


def names_for(session: Session, events: Sequence[Event], assignments: list[Assignment]) -> Names:
    """Look up the names the cards of these events show, in at most four queries."""
    codes = {c for e in events for c in (e.township_code, e.village_code, e.grid_code) if c}
    departments = {a.department_id for a in assignments} | {
        a.on_behalf_of_id for a in assignments if a.on_behalf_of_id is not None
    }
    platforms = {e.platform_code for e in events if e.platform_code}
    keys = {(e.matter_list_id, e.matter_code) for e in events if e.matter_code}
    list_ids = sorted({k[0] for k in keys if k[0] is not None})
    matters: dict[tuple[int | None, str], str] = {}
    if list_ids:
        for list_id, code, name in session.exec(
            select(Matter.list_id, Matter.code, Matter.name).where(
                col(Matter.list_id).in_(list_ids),
                col(Matter.code).in_(sorted({k[1] for k in keys if k[1]})),
            )
        ).all():
            matters[(list_id, code)] = name
    return Names(
        places=_lookup(session, JurisdictionRow.code, JurisdictionRow.name, codes),
        departments=_lookup(session, Department.id, Department.name, departments),
        platforms=_lookup(session, Platform.code, Platform.name, platforms),
        matters=matters,
    )


def _lookup(session: Session, key: Any, name: Any, wanted: set[Any]) -> dict[Any, str]:
    """Return the names of the wanted keys, in one query (none for no keys)."""
    if not wanted:
        return {}
    return dict(session.exec(select(key, name).where(col(key).in_(sorted(wanted)))).all())


def _values(row: SQLModel) -> dict[str, Any]:
    """Return a row's column values, read from its __dict__ where the ORM keeps them.

    A flushed or loaded row holds every column there; reading them in one go skips the ORM's
    attribute descriptors, a good part of a card's cost. Anything expired is loaded as usual.
    """
    values = vars(row)
    missing = type(row).model_fields.keys() - values.keys()
    return {**values, **{name: getattr(row, name) for name in missing}}


def _dumped(back: CameBack | None) -> dict[str, Any] | None:
    return back.model_dump() if back is not None else None


def _brief(description: str) -> str:
    if len(description) <= DESCRIPTION_CHARS:
        return description
    return description[:DESCRIPTION_CHARS] + "…"


def _card(
    event: Event, assignments: list[Assignment], names: Names, back: Mapping[int, CameBack]
) -> EventCard:
    departments = names.departments
    parts = [
        {
            **_values(a),
            "department_name": departments.get(a.department_id, ""),
            "on_behalf_of_name": departments.get(a.on_behalf_of_id or -1),
            "came_back": _dumped(back.get(a.id or -1)),
        }
        for a in assignments
    ]
    return EventCard.model_validate(
        {
            **_values(event),
            "description": _brief(event.description),
            "township_name": names.places.get(event.township_code or ""),
            "village_name": names.places.get(event.village_code or ""),
            "grid_name": names.places.get(event.grid_code or ""),
            "platform_name": names.platforms.get(event.platform_code or ""),
            "matter_name": names.matters.get((event.matter_list_id, event.matter_code or "")),
            "assignments": parts,
        }
    )


def build_cards(
    events: Sequence[Event],
    by_event: Mapping[int, list[Assignment]],
    names: Names,
    came_back: Mapping[int, CameBack] | None = None,
) -> list[dict[str, Any]]:
    """Return the cards (EventCard, as JSON data) of events whose parts and names are at hand."""
    back = came_back or {}
    return [
        _card(e, by_event.get(e.id or -1, []), names, back).model_dump(mode="json") for e in events
    ]


def _assignments_by_event(session: Session, event_ids: list[int]) -> dict[int, list[Assignment]]:
    found: dict[int, list[Assignment]] = {i: [] for i in event_ids}
    if event_ids:
        for assignment in session.exec(
            select(Assignment)
            .where(col(Assignment.event_id).in_(event_ids))
            .order_by(col(Assignment.id))
        ):
            found[assignment.event_id].append(assignment)
    return found


def cards(
    session: Session,
    events: Sequence[Event],
    *,
    without_parts: frozenset[int] = frozenset(),
    known_parts: Mapping[int, Sequence[object]] | None = None,
) -> list[dict[str, Any]]:
    """Return the cards of these events, with their assignments and the names boards show.

    Events in without_parts are known to have no assignment (just reported), and those in
    known_parts to have just the parts given, all new (just routed): intake and routing are
    the hot paths, so their cards skip the queries for parts and for parts that came back.
    """
    known = {
        i: sorted((a for a in parts if isinstance(a, Assignment)), key=lambda a: a.id or 0)
        for i, parts in (known_parts or {}).items()
    }
    skipped = without_parts | set(known)
    ids = [e.id for e in events if e.id is not None and e.id not in skipped]
    read = _assignments_by_event(session, ids)
    back = came_back_by_assignment(session, [i for i, parts in read.items() if parts])
    by_event = {**read, **{e.id: known[e.id] for e in events if e.id in known}}
    names = names_for(session, events, [a for parts in by_event.values() for a in parts])
    return build_cards(events, by_event, names, back)


def step_json(step: Step | WrittenStep) -> dict[str, Any]:
    """Return a step as the API shows it (StepPublic), as plain JSON data."""
    row = step.model_dump() if isinstance(step, Step) else step.row()
    return StepPublic.model_validate(row).model_dump(mode="json")


def boards_of(card: dict[str, Any]) -> tuple[Board, ...]:
    """Return every board that shows this event: county, its township, its departments, its own."""
    found = [Board(BoardKind.COUNTY), Board(BoardKind.EVENT, str(card["id"]))]
    if card["township_code"]:
        found.append(Board(BoardKind.TOWNSHIP, card["township_code"]))
    departments: set[int] = set()
    for part in card["assignments"]:
        departments.add(part["department_id"])
        if part["on_behalf_of_id"]:
            departments.add(part["on_behalf_of_id"])
    found.extend(Board(BoardKind.DEPARTMENT, str(d)) for d in sorted(departments))
    return tuple(found)


def board_messages(
    session: Session,
    changed: list[tuple[Event, list[Step | WrittenStep]]],
    *,
    at: datetime | None = None,
    known_parts: Mapping[int, Sequence[object]] | None = None,
) -> list[BoardMessage]:
    """Turn the events a transaction changed, with its steps, into two messages per event.

    known_parts: events whose every part the transaction made (the outbox's `parts`).
    """
    moment = (at or utcnow()).isoformat()
    messages = []
    just_reported = frozenset(
        e.id for e, steps in changed if e.id is not None and all(s.action in _INTAKE for s in steps)
    )
    built = cards(
        session, [e for e, _ in changed], without_parts=just_reported, known_parts=known_parts
    )
    for card, (_, steps) in zip(built, changed, strict=True):
        kind = delta_type(s.action for s in steps)
        # Boards get what changed on the card (a compact delta, made as it is published);
        # only the event's own page gets the whole card and the steps.
        boards = boards_of(card)
        own = tuple(b for b in boards if b.kind is BoardKind.EVENT)
        others = tuple(b for b in boards if b.kind is not BoardKind.EVENT)
        timeline = [step_json(s) for s in steps]
        messages.append(
            BoardMessage(
                own, _compact({"type": kind, "event": card, "steps": timeline, "at": moment})
            )
        )
        head = _compact({"type": kind, "id": card["id"], "at": moment})[:-1]
        messages.append(BoardMessage(others, head, card_change(card)))
    return messages


# A card's own fields ("e") that a compact delta never needs: its id is the delta's.
_NOT_COMPARED = frozenset({"id", "assignments"})
_PART_NOT_COMPARED = frozenset({"id", "event_id"})


def card_change(card: dict[str, Any]) -> CardChange:
    """Return a card as the fields publishing compares: the event's ("e") and each part's."""
    fields: list[tuple[str, str, str]] = [
        ("e", _key(key), _compact(value)) for key, value in card.items() if key not in _NOT_COMPARED
    ]
    parts = card["assignments"]
    fields.append(("e", '"parts"', _compact([part["id"] for part in parts])))
    for part in parts:
        group = str(part["id"])
        fields.extend(
            (group, _key(key), _compact(value))
            for key, value in part.items()
            if key not in _PART_NOT_COMPARED
        )
    return CardChange(card["id"], tuple(fields))


def _key(name: str) -> str:
    return f'"{name}"'  # the cards' keys are plain identifiers: nothing to escape


# Made once: json.dumps with options builds an encoder a call, which for the many small values
# a card's fields are costs several times the encoding itself.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _compact(payload: Any) -> str:
    return _COMPACT.encode(payload)
