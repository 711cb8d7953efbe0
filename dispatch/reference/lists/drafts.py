"""Writing list versions, the draft of the next one, folding changes into it, and diffs.

A county has at most one draft newer than its version in force: the first accepted change
request copies the version in force into it, every later one folds into the same draft,
and publishing it (versions.publish_list) makes it the version in force. Folding and
comparing are pure functions over MatterRules; only writing touches the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlmodel import Session, col, delete, func, select

from dispatch.core.clock import local_date
from dispatch.core.errors import Conflict
from dispatch.reference.lists.rules import MatterRule, MatterRules, code_key, township_duty_tags
from dispatch.reference.lists.versions import list_in_force, load_rules
from dispatch.reference.models import (
    MODE_LABELS,
    HandlingMode,
    ListStatus,
    Matter,
    MatterCooperator,
    MatterList,
)

# ---- Writing ----------------------------------------------------------------------------


def next_version(session: Session, county_code: str) -> int:
    """Return the number the county's next version takes."""
    newest = session.exec(
        select(func.max(MatterList.version)).where(MatterList.county_code == county_code)
    ).one()
    return (newest or 0) + 1


def write_matter(session: Session, list_id: int, rule: MatterRule) -> Matter:
    """Write one matter of a version with its cooperators."""
    matter = Matter(list_id=list_id, row_number=rule.row_number, code=rule.code, name=rule.name)
    _fill(matter, rule)
    session.add(matter)
    session.flush()
    assert matter.id is not None
    session.add_all(
        MatterCooperator(matter_id=matter.id, department_id=dept_id)
        for dept_id in rule.co_department_ids
    )
    session.flush()
    return matter


def replace_matter(session: Session, list_id: int, rule: MatterRule) -> Matter:
    """Rewrite the matter of a version that has the rule's code (its cooperators too)."""
    matter = session.exec(
        select(Matter).where(Matter.list_id == list_id, Matter.code == rule.code)
    ).one()
    assert matter.id is not None
    matter.name = rule.name
    _fill(matter, rule)
    session.exec(delete(MatterCooperator).where(col(MatterCooperator.matter_id) == matter.id))
    session.add_all(
        MatterCooperator(matter_id=matter.id, department_id=dept_id)
        for dept_id in rule.co_department_ids
    )
    session.flush()
    return matter


def _fill(matter: Matter, rule: MatterRule) -> None:
    matter.platform_code = rule.platform_code
    matter.keywords = list(rule.keywords)
    matter.legal_basis = rule.legal_basis
    matter.lead_department_id = rule.lead_department_id
    matter.department_duties = rule.department_duties
    matter.township_duties = list(rule.township_duties)
    matter.township_duties_text = rule.township_duties_text
    matter.handling_mode = rule.mode
    matter.sign_hours = rule.sign_hours
    matter.handle_days = rule.handle_days
    matter.urgent_sign_hours = rule.urgent_sign_hours
    matter.urgent_handle_hours = rule.urgent_handle_hours


def write_version(
    session: Session,
    *,
    county_code: str,
    version: int,
    effective_from: date,
    matters: Iterable[MatterRule],
    source_document: str | None = None,
    source_file: str | None = None,
) -> MatterList:
    """Write a new draft version of a county's list with all its matters."""
    matter_list = MatterList(
        county_code=county_code,
        version=version,
        effective_from=effective_from,
        status=ListStatus.DRAFT,
        source_document=source_document,
        source_file=source_file,
    )
    session.add(matter_list)
    session.flush()
    assert matter_list.id is not None
    for rule in matters:
        write_matter(session, matter_list.id, rule)
    return matter_list


# ---- The draft of the next version ------------------------------------------------------


def open_draft(session: Session, county_code: str, now: datetime) -> MatterList:
    """Return the county's draft newer than the version in force, copying that version if none.

    The version in force is locked first, so two reviewers folding changes at once share
    one draft rather than writing two.
    """
    in_force = list_in_force(session, county_code, now)
    if in_force is None or in_force.id is None:
        raise Conflict("该县尚无生效的责任清单，不能形成新版本草稿", code="no_list_in_force")
    session.exec(select(MatterList).where(MatterList.id == in_force.id).with_for_update()).one()
    draft = current_draft(session, county_code, in_force.version, lock=True)
    if draft is not None:
        return draft
    rules = load_rules(session, in_force.id)
    return write_version(
        session,
        county_code=county_code,
        version=next_version(session, county_code),
        effective_from=max(local_date(now), in_force.effective_from),
        matters=rules.matters,
        source_document=f"由第{in_force.version}版清单调整",
    )


def current_draft(
    session: Session, county_code: str, after_version: int, *, lock: bool = False
) -> MatterList | None:
    """Return the newest draft of the county newer than a version, if any."""
    query = (
        select(MatterList)
        .where(
            MatterList.county_code == county_code,
            MatterList.status == ListStatus.DRAFT,
            col(MatterList.version) > after_version,
        )
        .order_by(col(MatterList.version).desc())
        .limit(1)
    )
    return session.exec(query.with_for_update() if lock else query).first()


# ---- Folding a change (pure) ------------------------------------------------------------

MOVE_LEAD = "move_lead"
ADD_CO = "add_co"
ADD_KEYWORDS = "add_keywords"
NEW_MATTER = "new_matter"


def fold_change(
    rules: MatterRules, kind: str, matter_code: str, proposal: Mapping[str, object]
) -> tuple[MatterRule, bool]:
    """Return the matter as a change leaves it and whether it is new; 409 if it is stale."""
    matter = rules.get(matter_code)
    where = f"草稿（第{rules.version}版）"
    if kind == NEW_MATTER:
        if matter is not None:
            raise Conflict(
                f"{where}中已有事项「{matter.code}」，该新增申请已不适用", code="change_stale"
            )
        lead = _int(proposal.get("lead_department_id"))
        co = tuple(i for i in _ints(proposal.get("co_department_ids")) if i != lead)
        town_text = _str(proposal.get("township_duties_text"))
        row = max((m.row_number for m in rules.matters), default=0) + 1
        return (
            MatterRule(
                code=matter_code,
                name=_str(proposal.get("name")) or matter_code,
                row_number=row,
                platform_code=_str(proposal.get("platform_code")),
                keywords=tuple(_strs(proposal.get("keywords"))),
                lead_department_id=lead,
                co_department_ids=co,
                department_duties=_str(proposal.get("department_duties")),
                township_duties=township_duty_tags(town_text or ""),
                township_duties_text=town_text,
                mode=HandlingMode.DEPARTMENT,
                sign_hours=_float(proposal.get("sign_hours")),
                handle_days=_float(proposal.get("handle_days")),
                legal_basis=_str(proposal.get("legal_basis")),
            ),
            True,
        )
    if matter is None:
        raise Conflict(f"{where}中已没有事项「{matter_code}」，该申请已不适用", code="change_stale")
    if kind == MOVE_LEAD:
        lead = _int(proposal.get("lead_department_id"))
        if lead is None or lead == matter.lead_department_id:
            raise Conflict(
                f"{where}中事项「{matter.code}」的牵头部门已是所申请的部门，该申请已不适用",
                code="change_stale",
            )
        co = tuple(i for i in matter.co_department_ids if i != lead)
        return replace(matter, lead_department_id=lead, co_department_ids=co), False
    if kind == ADD_CO:
        wanted = [i for i in _ints(proposal.get("co_department_ids"))]
        if matter.lead_department_id in wanted:
            raise Conflict(
                f"{where}中所申请的配合部门已是事项「{matter.code}」的牵头部门，该申请已不适用",
                code="change_stale",
            )
        added = [i for i in wanted if i not in matter.co_department_ids]
        if not added:
            raise Conflict(
                f"{where}中所申请的部门已经都是事项「{matter.code}」的配合部门，该申请已不适用",
                code="change_stale",
            )
        co = tuple(sorted({*matter.co_department_ids, *added}))
        return replace(matter, co_department_ids=co), False
    if kind == ADD_KEYWORDS:
        known = {code_key(k) for k in matter.keywords}
        added_words = [k for k in _strs(proposal.get("keywords")) if code_key(k) not in known]
        if not added_words:
            raise Conflict(
                f"{where}中事项「{matter.code}」已经有所申请的关键词，该申请已不适用",
                code="change_stale",
            )
        return replace(matter, keywords=(*matter.keywords, *added_words)), False
    raise ValueError(f"unknown list change kind {kind!r}")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ints(value: object) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _strs(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# ---- Comparing two versions (pure) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """One column of a matter, before and after, as a person reads it."""

    column: str
    label: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class MatterChange:
    """One matter that differs: added, removed, or changed column by column."""

    code: str
    name: str
    change: str  # added | removed | changed
    columns: tuple[ColumnChange, ...]


ADDED, REMOVED, CHANGED = "added", "removed", "changed"

Namer = Callable[[int], str]


def _columns(rule: MatterRule, name_of: Namer) -> list[tuple[str, str, str]]:
    def number(value: float | None, unit: str) -> str:
        return "" if value is None else f"{value:g} {unit}"

    return [
        ("name", "事项名称", rule.name),
        ("platform_code", "平台", rule.platform_code or ""),
        ("lead", "牵头部门", name_of(rule.lead_department_id) if rule.lead_department_id else ""),
        ("co", "配合部门", "、".join(name_of(i) for i in sorted(rule.co_department_ids))),
        ("keywords", "关键词", "、".join(rule.keywords)),
        ("department_duties", "部门职责", rule.department_duties or ""),
        ("township_duties_text", "乡镇职责", rule.township_duties_text or ""),
        ("legal_basis", "法律依据", rule.legal_basis or ""),
        ("mode", "处置方式", MODE_LABELS[rule.mode]),
        ("sign_hours", "签收时限", number(rule.sign_hours, "小时")),
        ("handle_days", "办结时限", number(rule.handle_days, "个工作日")),
        ("urgent_sign_hours", "紧急签收时限", number(rule.urgent_sign_hours, "小时")),
        ("urgent_handle_hours", "紧急办结时限", number(rule.urgent_handle_hours, "小时")),
    ]


def diff_rules(old: MatterRules, new: MatterRules, name_of: Namer) -> list[MatterChange]:
    """Compare two versions matter by matter, and changed matters column by column."""
    changes: list[MatterChange] = []
    for rule in new.matters:
        before = old.get(rule.code)
        after_columns = _columns(rule, name_of)
        if before is None:
            columns = tuple(ColumnChange(c, label, "", v) for c, label, v in after_columns if v)
            changes.append(MatterChange(rule.code, rule.name, ADDED, columns))
            continue
        differing = tuple(
            ColumnChange(c, label, was, now)
            for (c, label, was), (_, _, now) in zip(
                _columns(before, name_of), after_columns, strict=True
            )
            if was != now
        )
        if differing:
            changes.append(MatterChange(rule.code, rule.name, CHANGED, differing))
    for rule in old.matters:
        if new.get(rule.code) is None:
            old_columns = _columns(rule, name_of)
            columns = tuple(ColumnChange(c, label, v, "") for c, label, v in old_columns if v)
            changes.append(MatterChange(rule.code, rule.name, REMOVED, columns))
    return changes
