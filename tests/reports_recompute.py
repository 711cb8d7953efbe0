"""Every assessment measure recomputed from the raw steps, in plain Python, as docs/METRICS.md
defines it: the independent side of the test that the API's SQL says the same thing.

Only the parts' dispatch time and deadlines, the departments, the events' places and the side
paths' own rows are read as they are stored; what happened to each part (answered, returned,
reworked, fed back, cancelled) and each event's rating come from the steps alone.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from dispatch.core.clock import as_utc
from dispatch.disputes.models import Dispute, DisputeParty
from dispatch.events.models import (
    Assignment,
    Escalation,
    Event,
    ExtensionRequest,
    Step,
    SupervisionNotice,
)
from dispatch.reference.models import Department, JurisdictionRow
from dispatch.reports.periods import Period


@dataclass
class Part:
    """One part as its steps tell it."""

    row: Assignment
    status: str = "pending"
    answered_at: datetime | None = None
    fed_back_at: datetime | None = None
    returns: int = 0
    reworks: int = 0


@dataclass
class Tally:
    """What one row of the assessment collects before its rates."""

    parts: list[Part] = field(default_factory=list)
    events: set[int] = field(default_factory=set)
    rated: dict[int, int] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _told(session: Session) -> tuple[dict[int, Part], dict[int, int]]:
    """Replay every step: each part's story, and each event's last rating."""
    parts = {a.id: Part(a) for a in session.exec(select(Assignment)) if a.id is not None}
    ratings: dict[int, int] = {}
    steps = session.exec(select(Step).order_by(Step.at, Step.id)).all()  # type: ignore[arg-type]
    for step in steps:
        if step.action in ("rate_satisfied", "rate_unsatisfied") and step.data:
            ratings[step.event_id] = int(str(step.data["rating"]))
        part = parts.get(step.assignment_id or -1)
        if part is None:
            continue
        at = as_utc(step.at)
        if step.to_status:
            part.status = step.to_status
        if step.action in ("sign", "return") and part.answered_at is None:
            part.answered_at = at
        if step.action == "return":
            part.returns += 1
        if step.action == "rework":
            part.reworks += 1
        if step.action == "feed_back":
            part.fed_back_at = at
    return parts, ratings


def _seconds(start: datetime, end: datetime) -> int:
    return int(as_utc(end).timestamp()) - int(as_utc(start).timestamp())


def _spread(seconds: list[int]) -> tuple[Any, Any]:
    """Return the median and the P90 in minutes to one decimal (inclusive interpolation)."""
    if not seconds:
        return None, None
    if len(seconds) == 1:
        return round(seconds[0] / 60, 1), round(seconds[0] / 60, 1)
    median = statistics.median(seconds)
    p90 = statistics.quantiles(seconds, n=10, method="inclusive")[8]
    return round(median / 60, 1), round(p90 / 60, 1)


def recompute(
    session: Session, period: Period, by: str, as_of: datetime
) -> dict[str | None, dict[str, Any]]:
    """Return every counted measure per row key, from the steps."""
    parts, ratings = _told(session)
    departments = {d.id: d for d in session.exec(select(Department))}
    events = {e.id: e for e in session.exec(select(Event))}

    def key(part: Part) -> str | None:
        a, e = part.row, events[part.row.event_id]
        if by == "department":
            d = departments[a.department_id]
            return str(d.parent_id or d.id)
        if by == "unit":
            return str(a.department_id)
        return {"township": e.township_code, "matter": e.matter_code, "platform": e.platform_code}[
            by
        ]

    rows: dict[str | None, Tally] = defaultdict(Tally)
    counted: dict[int, Part] = {}
    for part in parts.values():
        created = as_utc(part.row.created_at)
        if not period.start <= created < period.end:
            continue
        if part.status == "cancelled" and part.returns == 0:
            continue
        counted[part.row.id or 0] = part
        tally = rows[key(part)]
        tally.parts.append(part)
        tally.events.add(part.row.event_id)
        if part.status == "fed_back" and part.row.event_id in ratings:
            tally.rated[part.row.event_id] = ratings[part.row.event_id]

    for tally in rows.values():
        v = tally.values
        for part in tally.parts:
            a = part.row
            sign_by = as_utc(a.sign_by) if a.sign_by else None
            handle_by = as_utc(a.handle_by) if a.handle_by else None
            v["parts"] += 1
            if sign_by and (part.answered_at or sign_by <= as_of):
                v["due_for_signing"] += 1
                if part.answered_at and part.answered_at <= sign_by:
                    v["signed_on_time"] += 1
            held = part.status in ("pending", "signed", "fed_back")
            if held and handle_by and (part.status == "fed_back" or handle_by <= as_of):
                v["due_for_completion"] += 1
                if part.status == "fed_back" and part.fed_back_at and part.fed_back_at <= handle_by:
                    v["completed_on_time"] += 1
            v["completed"] += part.status == "fed_back"
            v["returned"] += part.returns > 0
            v["fed_back_once"] += part.fed_back_at is not None
            v["reworked"] += part.reworks > 0
        v["events"] = len(tally.events)
        v["rated"] = len(tally.rated)
        v["satisfied"] = sum(1 for r in tally.rated.values() if r >= 4)
        v["rating_sum"] = sum(tally.rated.values())

    def row_of(assignment_id: int | None) -> Tally | None:
        part = counted.get(assignment_id or -1)
        return rows[key(part)] if part else None

    for notice in session.exec(select(SupervisionNotice)):
        noticed = row_of(notice.assignment_id)
        if noticed:
            noticed.values[f"notices_{notice.level}"] += 1
    for request in session.exec(select(ExtensionRequest)):
        asked = row_of(request.assignment_id)
        if asked:
            asked.values["extensions_asked"] += 1
            asked.values["extensions_granted"] += request.status == "approved"
    for escalation in session.exec(select(Escalation)):
        answered = row_of(escalation.response_assignment_id)
        if answered:
            answered.values["escalations"] += 1
            on_time = (
                escalation.responded_at
                and escalation.respond_by
                and (as_utc(escalation.responded_at) <= as_utc(escalation.respond_by))
            )
            answered.values["escalations_answered_on_time"] += bool(on_time)
    disputes = {d.id: d for d in session.exec(select(Dispute))}

    def agency(department_id: int | None) -> int | None:
        d = departments.get(department_id)
        return None if d is None else (d.parent_id or d.id)

    seen: dict[tuple[int, str | None], tuple[bool, bool]] = {}
    for party in session.exec(select(DisputeParty)):
        party_part = counted.get(party.assignment_id)
        if party_part is None:
            continue
        dispute = disputes[party.dispute_id]
        ruled = dispute.status == "ruled"
        named = ruled and agency(dispute.lead_department_id) == agency(party.department_id)
        pair = (party.dispute_id, key(party_part))
        was = seen.get(pair, (False, False))
        seen[pair] = (was[0] or ruled, was[1] or named)
    for (_, row_key), (ruled, named) in seen.items():
        v = rows[row_key].values
        v["disputes"] += 1
        v["disputes_ruled_responsible"] += named
        v["disputes_ruled_not_responsible"] += ruled and not named

    for tally in rows.values():
        sign = [_seconds(p.row.created_at, p.answered_at) for p in tally.parts if p.answered_at]
        done = [
            _seconds(p.row.created_at, p.fed_back_at)
            for p in tally.parts
            if p.status == "fed_back" and p.fed_back_at
        ]
        tally.values["sign_minutes_median"], tally.values["sign_minutes_p90"] = _spread(sign)
        tally.values["feedback_minutes_median"], tally.values["feedback_minutes_p90"] = _spread(
            done
        )
    if by == "township":
        population = {j.code: j.population for j in session.exec(select(JurisdictionRow))}
        for row_key, tally in rows.items():
            tally.values["population"] = population.get(row_key or "") or 0
    if by in ("township", "matter", "platform"):
        for e in events.values():
            if period.start <= as_utc(e.received_at) < period.end and e.status not in (
                "merged",
                "invalid",
            ):
                place = {
                    "township": e.township_code,
                    "matter": e.matter_code,
                    "platform": e.platform_code,
                }[by]
                rows[place].values["reported"] += 1
    return {k: dict(t.values) for k, t in rows.items()}


RATES = {
    "on_time_sign_rate": ("signed_on_time", "due_for_signing"),
    "on_time_completion_rate": ("completed_on_time", "due_for_completion"),
    "completion_rate": ("completed", "parts"),
    "return_rate": ("returned", "parts"),
    "rework_rate": ("reworked", "fed_back_once"),
    "satisfaction_rate": ("satisfied", "rated"),
}


def differences(
    api_rows: list[dict[str, Any]], expected: dict[str | None, dict[str, Any]]
) -> list[str]:
    """Compare the API's rows with the recomputed ones: every count, duration and rate."""
    found = []
    api = {r["key"]: r["values"] for r in api_rows}
    if set(api) != set(expected):
        found.append(f"rows: API {sorted(map(str, api))} ≠ recomputed {sorted(map(str, expected))}")
    for row_key, values in expected.items():
        got = api.get(row_key, {})
        wanted = dict(values)
        rating_sum = wanted.pop("rating_sum", 0)
        for name, (top, bottom) in RATES.items():
            b = wanted.get(bottom, 0)
            wanted[name] = round(wanted.get(top, 0) / b, 4) if b else None
        wanted["mean_rating"] = (
            round(rating_sum / wanted["rated"], 2) if wanted.get("rated") else None
        )
        for name, value in wanted.items():
            if name == "population":
                value = value or None
            if got.get(name, 0) != value and not (value == 0 and got.get(name) is None):
                found.append(f"{row_key} {name}: API {got.get(name)} ≠ recomputed {value}")
    return found
