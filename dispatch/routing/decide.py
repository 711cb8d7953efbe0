"""The routing decision: from where and what to who does it, pure and explained line by line.

``decide`` takes a located point, a matter code or a description, and snapshots of the
list in force and the department directory; it returns a RoutingDecision that either
routes (a lead, cooperators, the township's platform, time limits) or asks the command
centre to triage, always with the reasons in Chinese. It never raises for a report it
cannot route: that is what needs_triage is for.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from functools import cache
from typing import Any, Literal

from dispatch.reference.departments import DepartmentDirectory, DepartmentInfo
from dispatch.reference.lists.classify import Classifier, Suggestion, is_confident
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.models import DepartmentKind, HandlingMode
from geo.index import Location, Neighbour
from geo.levels import LEVEL_LABELS, Level

Outcome = Literal["routed", "needs_triage"]
Role = Literal["lead", "co", "territorial"]


@dataclass(frozen=True, slots=True)
class Place:
    """A jurisdiction or platform by code and name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class PlannedPart:
    """One department's part in the plan: lead, co(operating) or territorial.

    A stationed unit standing in for its county department names that department in
    on_behalf_of; duties are the township duty tags for the territorial part (and for
    the township platform leading a 乡镇自办 matter).
    """

    department_id: int
    department_name: str
    role: Role
    on_behalf_of_id: int | None = None
    on_behalf_of_name: str | None = None
    duties: tuple[str, ...] = ()
    duties_text: str | None = None


@dataclass(frozen=True, slots=True)
class MatterRef:
    """The matter that routed the event, and the list version it comes from."""

    code: str
    name: str
    row_number: int
    list_id: int | None
    list_version: int
    mode: HandlingMode


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """How long the lead has: hours to sign, then working days (or, when urgent, hours)."""

    urgent: bool
    sign_hours: float | None
    handle_days: float | None
    handle_hours: float | None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where an event goes and why; on needs_triage, why a person must decide.

    For 乡镇自办 matters the township platform is the lead (with the township duties) and
    there is no separate territorial part; otherwise the lead is a department (or its
    stationed unit) and the township platform takes the territorial part.
    """

    outcome: Outcome
    county: Place | None
    township: Place | None
    village: Place | None
    grid: Place | None
    platform: Place | None
    matter: MatterRef | None
    lead: PlannedPart | None
    cooperators: tuple[PlannedPart, ...]
    territorial: PlannedPart | None
    limits: TimeLimits | None
    reasons: tuple[str, ...]
    triage_reasons: tuple[str, ...]
    suggestions: tuple[Suggestion, ...]
    classified: bool
    near_boundary: Neighbour | None

    @property
    def routed(self) -> bool:
        """Tell whether the event can be dispatched without a person."""
        return self.outcome == "routed"

    @property
    def assignments(self) -> tuple[PlannedPart, ...]:
        """Return the plan in dispatch order: lead, cooperators, territorial."""
        head = (self.lead,) if self.lead else ()
        tail = (self.territorial,) if self.territorial else ()
        return (*head, *self.cooperators, *tail)

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-ready data (dicts, lists, str, numbers, None)."""
        result = _plain(self)
        assert isinstance(result, dict)
        return result


@cache
def _field_names(kind: Any) -> tuple[str, ...] | None:
    """Return a dataclass's field names (None for any other type), found once per type."""
    return tuple(f.name for f in fields(kind)) if hasattr(kind, "__dataclass_fields__") else None


def _plain(value: Any) -> Any:
    # Every routed event's decision goes through here: dataclasses.fields per object cost
    # more than the copying.
    names = _field_names(value.__class__)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def decide(
    location: Location,
    *,
    matter_code: str | None,
    description: str | None,
    rules: MatterRules | None,
    directory: DepartmentDirectory,
    classifier: Classifier,
    threshold: float,
    urgent: bool = False,
) -> RoutingDecision:
    """Decide who handles a report at this location; never raises for an unroutable report."""
    reasons: list[str] = []
    triage: list[str] = []

    county = _place(location, Level.COUNTY)
    township = _place(location, Level.TOWNSHIP)
    village = _place(location, Level.VILLAGE)
    grid = _place(location, Level.GRID)
    if not location.chain:
        triage.append(location.reason or "坐标不在任何辖区内")
    else:
        reasons.append("定位: " + " / ".join(j.name for j in location.chain))
        if township is None:
            leaf = location.leaf
            assert leaf is not None
            triage.append(
                f"定位到{LEVEL_LABELS[leaf.level]}「{leaf.name}」，但未落入任何乡镇(街道)，无法确定属地"
            )
    if location.near_boundary is not None:
        reasons.append(_near_boundary_reason(location.near_boundary))

    if location.chain and county is None:
        # Each county has its own list: without the county there is no list to route by.
        triage.append("定位未落入任何县(区)，无法确定按哪个县的责任清单派单")
        rules = None
    elif county is not None and (
        rules is None or (rules.county_code and rules.county_code != county.code)
    ):
        triage.append(f"{county.name}没有生效的责任清单，无法按清单派单")
        rules = None

    matter, suggestions, classified = _choose_matter(
        matter_code, description, rules, classifier, threshold, reasons, triage
    )

    platform: Place | None = None
    lead: PlannedPart | None = None
    cooperators: tuple[PlannedPart, ...] = ()
    territorial: PlannedPart | None = None
    limits: TimeLimits | None = None
    matter_ref: MatterRef | None = None
    if matter is not None and rules is not None:
        matter_ref = MatterRef(
            code=matter.code,
            name=matter.name,
            row_number=matter.row_number,
            list_id=rules.list_id,
            list_version=rules.version,
            mode=matter.mode,
        )
        if matter.platform_code is not None:
            platform = Place(
                matter.platform_code,
                directory.platform_name(matter.platform_code) or matter.platform_code,
            )
        if township is not None:
            lead, cooperators, territorial = _plan(
                matter, rules, township, platform, directory, reasons, triage
            )
        limits = _limits(matter, urgent, reasons)

    if not triage and lead is None:
        triage.append("没有可派单的牵头单位")
    return RoutingDecision(
        outcome="needs_triage" if triage else "routed",
        county=county,
        township=township,
        village=village,
        grid=grid,
        platform=platform,
        matter=matter_ref,
        lead=lead,
        cooperators=cooperators,
        territorial=territorial,
        limits=limits,
        reasons=tuple(reasons),
        triage_reasons=tuple(triage),
        suggestions=tuple(suggestions),
        classified=classified,
        near_boundary=location.near_boundary,
    )


def _place(location: Location, level: Level) -> Place | None:
    found = location.at(level)
    return Place(found.code, found.name) if found is not None else None


def _near_boundary_reason(neighbour: Neighbour) -> str:
    level = LEVEL_LABELS.get(neighbour.level, str(neighbour.level))
    line = f"靠近边界: 距{level}「{neighbour.name}」约 {neighbour.distance_m:.0f} 米"
    if neighbour.differs_at in (Level.COUNTY, Level.TOWNSHIP):
        return f"{line}，属地可能是「{neighbour.name}」，请核实定位"
    return f"{line}（{LEVEL_LABELS.get(neighbour.differs_at, str(neighbour.differs_at))}不同）"


def _choose_matter(
    matter_code: str | None,
    description: str | None,
    rules: MatterRules | None,
    classifier: Classifier,
    threshold: float,
    reasons: list[str],
    triage: list[str],
) -> tuple[MatterRule | None, list[Suggestion], bool]:
    """Pick the matter by its code, else by classifying the description."""
    code = (matter_code or "").strip()
    text = (description or "").strip()
    if rules is None:
        return None, [], False
    if code:
        matter = rules.get(code)
        if matter is not None:
            return matter, [], False
        triage.append(f"事项编码「{code}」不在{rules.label} 中")
        # A wrong code is a mistake to look at, not to guess around: offer, don't route.
        if text:
            suggestions = classifier.suggest(text, k=3)
            if suggestions:
                triage.append("按描述的候选事项: " + _suggestion_list(suggestions))
            return None, suggestions, True
        return None, [], False
    if not text:
        triage.append("未提供事项编码，也没有可供分类的描述")
        return None, [], False

    suggestions = classifier.suggest(text, k=3)
    if not suggestions:
        triage.append("按描述未能匹配清单中的任何事项")
        return None, suggestions, True
    best = suggestions[0]
    matter = rules.get(best.code)
    if matter is None:
        triage.append(f"分类结果 {best.code} 不在{rules.label} 中（分类器与清单版本不一致）")
        return None, suggestions, True
    if not is_confident(suggestions, threshold):
        triage.append(
            f"按描述分类的置信度不足（最高 {best.score:.2f}，低于阈值 {threshold:.2f}），"
            f"候选: {_suggestion_list(suggestions)}"
        )
        return None, suggestions, True
    reasons.append(f"按描述分类: {best.code} {best.name} (置信度 {best.score:.2f}；{best.why})")
    return matter, suggestions, True


def _suggestion_list(suggestions: list[Suggestion]) -> str:
    return "、".join(f"{s.code} {s.name} ({s.score:.2f})" for s in suggestions)


def time_limits(matter: MatterRule, *, urgent: bool) -> TimeLimits:
    """Return a matter's time limits as routing applies them (urgent or not)."""
    return _limits(matter, urgent, [])


def _limits(matter: MatterRule, urgent: bool, reasons: list[str]) -> TimeLimits:
    if not urgent:
        limits = TimeLimits(False, matter.sign_hours, matter.handle_days, None)
    else:
        if matter.urgent_sign_hours is None and matter.urgent_handle_hours is None:
            reasons.append(f"事项 {matter.code} 未设紧急时限，按一般时限")
        limits = TimeLimits(
            True,
            matter.urgent_sign_hours or matter.sign_hours,
            None if matter.urgent_handle_hours else matter.handle_days,
            matter.urgent_handle_hours,
        )
    parts = []
    if limits.sign_hours:
        parts.append(f"签收 {_number(limits.sign_hours)} 小时")
    if limits.handle_hours:
        parts.append(f"办结 {_number(limits.handle_hours)} 小时")
    elif limits.handle_days:
        parts.append(f"办结 {_number(limits.handle_days)} 个工作日")
    if parts:
        reasons.append(("紧急时限: " if urgent else "时限: ") + "，".join(parts))
    return limits


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _plan(
    matter: MatterRule,
    rules: MatterRules,
    township: Place,
    platform: Place | None,
    directory: DepartmentDirectory,
    reasons: list[str],
    triage: list[str],
) -> tuple[PlannedPart | None, tuple[PlannedPart, ...], PlannedPart | None]:
    """Resolve the lead, cooperators and territorial part for one township."""
    head = f"事项 {matter.code} {matter.name} ({rules.label} 第{matter.row_number}行)"
    platform_dept: DepartmentInfo | None = None
    if platform is not None:
        platform_dept = directory.township_platform(township.code, platform.code)
        if platform_dept is None:
            triage.append(f"{township.name} 没有「{platform.name}」平台部门，无法派给属地")
    duty_line = "、".join(matter.township_duties) or (matter.township_duties_text or "")

    lead: PlannedPart | None = None
    territorial: PlannedPart | None = None
    territorial_line: str | None = None
    if matter.mode is HandlingMode.TOWNSHIP:
        if platform is None:
            triage.append(f"{head} 为乡镇自办，但清单未指定平台，无法确定由哪个平台办理")
        elif platform_dept is not None:
            lead = PlannedPart(
                platform_dept.id,
                platform_dept.name,
                "lead",
                duties=matter.township_duties,
                duties_text=matter.township_duties_text,
            )
            reasons.append(f"{head}: 乡镇自办，由 {platform_dept.name} 牵头处置")
            if duty_line:
                territorial_line = f"属地: {platform_dept.name} — {duty_line}"
    else:
        department = directory.get(matter.lead_department_id)
        if department is None:
            triage.append(f"{head} 没有可派单的牵头部门（清单未填或部门已不在名录中）")
        else:
            lead = _assign(department, "lead", township, directory)
            reasons.append(f"{head}: 牵头 {_describe(department, lead, township)}")
        if platform_dept is not None:
            territorial = PlannedPart(
                platform_dept.id,
                platform_dept.name,
                "territorial",
                duties=matter.township_duties,
                duties_text=matter.township_duties_text,
            )
            joint = "（联合处置）" if matter.mode is HandlingMode.JOINT else ""
            territorial_line = f"属地{joint}: {platform_dept.name}" + (
                f" — {duty_line}" if duty_line else ""
            )
        elif platform is None:
            territorial_line = "清单未指定平台，本事项不派属地任务"

    cooperators: list[PlannedPart] = []
    described: list[str] = []
    # A department and its own stationed unit never hold two parts of one event.
    taken = {_agency(a, directory) for a in (lead, territorial) if a is not None}
    for department_id in matter.co_department_ids:
        department = directory.get(department_id)
        if department is None:
            reasons.append(f"协同部门 #{department_id} 已不在名录中，已略过")
            continue
        assignment = _assign(department, "co", township, directory)
        if _agency(assignment, directory) in taken:
            continue
        taken.add(_agency(assignment, directory))
        cooperators.append(assignment)
        described.append(_describe(department, assignment, township))
    if described:
        reasons.append("协同: " + "；".join(described))
    if territorial_line:
        reasons.append(territorial_line)
    return lead, tuple(cooperators), territorial


def _assign(
    department: DepartmentInfo, role: Role, township: Place, directory: DepartmentDirectory
) -> PlannedPart:
    """Give the work to the stationed unit covering the township, else the department itself."""
    parent = department
    if department.kind is DepartmentKind.STATIONED_UNIT:
        if township.code in department.covers or department.parent_id is None:
            return PlannedPart(department.id, department.name, role)
        # The list names a unit that does not cover this township: its sibling that does,
        # or failing that the department above them, is the one on the spot.
        found = directory.get(department.parent_id)
        if found is None:
            return PlannedPart(department.id, department.name, role)
        parent = found
    unit = directory.stationed_unit(parent.id, township.code)
    if unit is not None:
        return PlannedPart(unit.id, unit.name, role, parent.id, parent.name)
    return PlannedPart(parent.id, parent.name, role)


def _agency(part: PlannedPart, directory: DepartmentDirectory) -> int:
    """Return the county department a part answers for: a unit's parent, else its own."""
    if part.on_behalf_of_id is not None:
        return part.on_behalf_of_id
    holder = directory.get(part.department_id)
    if holder is not None and holder.kind is DepartmentKind.STATIONED_UNIT and holder.parent_id:
        return holder.parent_id
    return part.department_id


def _describe(department: DepartmentInfo, assignment: PlannedPart, township: Place) -> str:
    if assignment.department_id == department.id:
        return department.name
    return f"{department.name} → {assignment.department_name} (覆盖 {township.name})"
