"""Importing a responsibility list (属地管理事项责任清单) from .xlsx or .csv as a new version."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlmodel import Session, col, func, select

from dispatch.core.errors import ImportRejected, InvalidInput, RowProblem
from dispatch.reference.calendar import MAX_LIMIT_WORKING_DAYS
from dispatch.reference.departments import DepartmentDirectory, DepartmentInfo, load_directory
from dispatch.reference.lists.drafts import next_version, write_version
from dispatch.reference.lists.rules import (
    MatterRule,
    MatterRules,
    code_key,
    content_digest,
    township_duty_tags,
)
from dispatch.reference.lists.versions import (
    COUNTY_LEVEL,
    _check_timeline,
    _published,
    list_digest,
    publish_list,
)
from dispatch.reference.models import (
    MODE_LABELS,
    DepartmentKind,
    HandlingMode,
    JurisdictionRow,
    ListStatus,
    Matter,
    MatterList,
)
from dispatch.reference.tabular import (
    Row,
    Table,
    clean_cell,
    overflow_problems,
    read_table,
    split_list,
)

COL_SEQ = "序号"
COL_LEAD = "牵头部门"
COL_NAME = "事项名称"
COL_BASIS = "实施依据"
COL_DEPT_DUTIES = "县级部门职责"
COL_TOWN_DUTIES = "乡镇(街道)职责"
COL_CO = "协同部门"
COL_CODE = "事项编码"
COL_PLATFORM = "平台"
COL_KEYWORDS = "关键词"
COL_SIGN = "签收时限(小时)"
COL_HANDLE = "办结时限(工作日)"
COL_URGENT_SIGN = "紧急签收时限(小时)"
COL_URGENT_HANDLE = "紧急办结时限(小时)"
COL_MODE = "处置方式"

REQUIRED = (COL_SEQ, COL_LEAD, COL_NAME)
OPTIONAL = (
    COL_BASIS,
    COL_DEPT_DUTIES,
    COL_TOWN_DUTIES,
    COL_CO,
    COL_CODE,
    COL_PLATFORM,
    COL_KEYWORDS,
    COL_SIGN,
    COL_HANDLE,
    COL_URGENT_SIGN,
    COL_URGENT_HANDLE,
    COL_MODE,
)
_ALIASES: Mapping[str, tuple[str, ...]] = {
    COL_SEQ: ("编号",),
    COL_LEAD: ("牵头单位", "牵头部门(单位)"),
    COL_NAME: ("事项", "事项内容", "属地管理事项"),
    COL_BASIS: ("法律依据", "依据", "实施依据(法律法规)"),
    COL_DEPT_DUTIES: ("部门职责", "县级部门职责边界", "县级职能部门职责", "职责边界:县级部门职责"),
    COL_TOWN_DUTIES: (
        "乡镇职责",
        "街道职责",
        "属地职责",
        "乡镇(街道)职责边界",
        "职责边界:乡镇(街道)职责",
    ),
    COL_CO: ("协办部门", "配合部门", "协同单位"),
    COL_CODE: ("编码",),
    COL_PLATFORM: ("所属平台",),
    COL_KEYWORDS: ("关键字",),
    COL_SIGN: ("签收时限",),
    COL_HANDLE: ("办结时限",),
    COL_URGENT_SIGN: ("紧急签收时限",),
    COL_URGENT_HANDLE: ("紧急办结时限",),
    COL_MODE: ("办理方式",),
}

_MODE_WORDS: Mapping[str, HandlingMode] = {
    "部门处置": HandlingMode.DEPARTMENT,
    "部门办理": HandlingMode.DEPARTMENT,
    "部门": HandlingMode.DEPARTMENT,
    "department": HandlingMode.DEPARTMENT,
    "乡镇自办": HandlingMode.TOWNSHIP,
    "乡镇处置": HandlingMode.TOWNSHIP,
    "属地处置": HandlingMode.TOWNSHIP,
    "自办": HandlingMode.TOWNSHIP,
    "township": HandlingMode.TOWNSHIP,
    "联合处置": HandlingMode.JOINT,
    "联合办理": HandlingMode.JOINT,
    "联合": HandlingMode.JOINT,
    "joint": HandlingMode.JOINT,
}
# What published lists write in 牵头部门 when the township itself leads.
_TOWNSHIP_AS_LEAD = frozenset(
    {"乡镇", "乡镇(街道)", "街道", "属地乡镇", "属地乡镇(街道)", "各乡镇(街道)"}
)

_HOUR_UNITS = ("小时", "h", "hr", "hrs", "hours")
_DAY_UNITS = ("个工作日", "工作日")
_LIMIT_MAX = {_DAY_UNITS: MAX_LIMIT_WORKING_DAYS, _HOUR_UNITS: MAX_LIMIT_WORKING_DAYS * 24}


# ---- Import -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatterListImportReport:
    """What an import did: a new version, or the existing identical one."""

    list_id: int
    version: int
    county_code: str
    status: ListStatus
    effective_from: date
    matters: int
    created: bool
    digest: str
    notes: tuple[str, ...] = ()


def import_matter_list(
    session: Session,
    path: str | Path,
    *,
    county_code: str,
    effective_from: date,
    source_document: str | None = None,
    publish: bool = False,
    sheet: str | None = None,
    source: str | None = None,
) -> MatterListImportReport:
    """Import a list file as the county's next version (a draft unless publish); all or nothing.

    When the newest version already has exactly this content no version is created: the
    report names the existing one (publishing it if asked and still a draft). source
    names the file in messages; sheet picks a sheet of a workbook other than the first.
    """
    county = session.get(JurisdictionRow, county_code)
    if county is None or county.level != COUNTY_LEVEL:
        raise InvalidInput(f"县级辖区「{county_code}」不存在，请先导入辖区", field="county_code")
    if source_document is not None and len(source_document) > 200:
        raise InvalidInput("来源文件名称过长（超过 200 字）", field="source_document")
    table = read_table(
        path, sheet=sheet, required=REQUIRED, optional=OPTIONAL, aliases=_ALIASES, source=source
    )
    directory = load_directory(session)
    parsed, problems = parse_matter_table(
        table, resolve=_directory_resolver(directory), platforms=directory.platforms
    )
    if problems:
        raise ImportRejected(problems, source=table.source)
    digest = content_digest(p.rule for p in parsed)

    newest = session.exec(
        select(MatterList)
        .where(MatterList.county_code == county_code)
        .order_by(col(MatterList.version).desc())
        .limit(1)
    ).first()
    if newest is not None and newest.id is not None and list_digest(session, newest.id) == digest:
        return _report_identical(session, newest, digest, effective_from, publish)

    version = next_version(session, county_code)
    if publish:
        # Refuse before writing, so a refused publication leaves no draft behind either.
        _check_timeline(_published(session, county_code, exclude=None), version, effective_from)
    matter_list = write_version(
        session,
        county_code=county_code,
        version=version,
        effective_from=effective_from,
        matters=(item.rule for item in parsed),
        source_document=source_document,
        source_file=table.source[:500],
    )
    assert matter_list.id is not None
    if publish:
        publish_list(session, matter_list.id)
    return MatterListImportReport(
        list_id=matter_list.id,
        version=version,
        county_code=county_code,
        status=ListStatus(matter_list.status),
        effective_from=matter_list.effective_from,
        matters=len(parsed),
        created=True,
        digest=digest,
    )


def _report_identical(
    session: Session, newest: MatterList, digest: str, effective_from: date, publish: bool
) -> MatterListImportReport:
    assert newest.id is not None
    notes = [f"内容与现有最新版本 v{newest.version} 完全相同，未创建新版本"]
    if publish and newest.status == ListStatus.DRAFT:
        publish_list(session, newest.id, effective_from=effective_from)
        notes.append(f"已发布 v{newest.version}，生效日期 {newest.effective_from}")
    elif effective_from != newest.effective_from:
        notes.append(
            f"v{newest.version} 的生效日期仍为 {newest.effective_from}"
            f"（本次指定的 {effective_from} 未采用）"
        )
    if not publish and newest.status == ListStatus.DRAFT:
        notes.append(f"v{newest.version} 仍是草稿")
    matters = session.exec(
        select(func.count()).select_from(Matter).where(Matter.list_id == newest.id)
    ).one()
    return MatterListImportReport(
        list_id=newest.id,
        version=newest.version,
        county_code=newest.county_code,
        status=ListStatus(newest.status),
        effective_from=newest.effective_from,
        matters=matters,
        created=False,
        digest=digest,
        notes=tuple(notes),
    )


def rules_from_file(path: str | Path) -> MatterRules:
    """Parse a list file without a database (departments unresolved), for previews and benches."""
    table = read_table(path, required=REQUIRED, optional=OPTIONAL, aliases=_ALIASES)
    parsed, problems = parse_matter_table(table, resolve=None, platforms=None)
    if problems:
        raise ImportRejected(problems, source=table.source)
    return MatterRules(
        list_id=None,
        county_code="",
        version=0,
        effective_from=None,
        matters=tuple(p.rule for p in parsed),
    )


# ---- Parsing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedMatter:
    """One valid row of a list file and the spreadsheet row it came from."""

    sheet_row: int
    rule: MatterRule


Resolver = Callable[[str], DepartmentInfo | None]


def _directory_resolver(directory: DepartmentDirectory) -> Resolver:
    def resolve(name: str) -> DepartmentInfo | None:
        found = directory.by_name(name)
        if found is None or found.kind == DepartmentKind.TOWNSHIP_PLATFORM:
            return None
        return found

    return resolve


def parse_matter_table(
    table: Table, *, resolve: Resolver | None, platforms: Mapping[str, str] | None
) -> tuple[list[ParsedMatter], list[RowProblem]]:
    """Validate every row; return the matters and every problem found, sorted by row.

    Without resolve, department names are not checked and ids stay empty; without
    platforms, a platform is kept under its own name.
    """
    problems = overflow_problems(table)
    if not table.rows:
        problems.append(RowProblem(table.header_row, None, "文件中没有事项数据行"))
    parsed: list[ParsedMatter] = []
    seq_rows: dict[int, int] = {}
    code_rows: dict[str, int] = {}
    for row in table.rows:
        rule = _parse_row(row, table, resolve, platforms, problems)
        n = row.number
        seq = _parse_seq(row[COL_SEQ])
        if seq is not None and seq in seq_rows:
            problems.append(
                RowProblem(n, COL_SEQ, f"第{n}行 序号「{seq}」与第{seq_rows[seq]}行重复")
            )
            continue
        if seq is not None:
            seq_rows[seq] = n
        if rule is None:
            continue
        key = code_key(rule.code)
        if key in code_rows:
            problems.append(
                RowProblem(
                    n, COL_CODE, f"第{n}行 事项编码「{rule.code}」与第{code_rows[key]}行重复"
                )
            )
            continue
        code_rows[key] = n
        parsed.append(ParsedMatter(n, rule))
    problems.sort(key=lambda p: (p.row, p.column or ""))
    return parsed, problems


def _parse_seq(text: str) -> int | None:
    folded = unicodedata.normalize("NFKC", text).strip()
    try:
        value = float(folded)
    except ValueError:
        return None
    return int(value) if value.is_integer() and value >= 1 else None


def _parse_row(
    row: Row,
    table: Table,
    resolve: Resolver | None,
    platforms: Mapping[str, str] | None,
    problems: list[RowProblem],
) -> MatterRule | None:
    n = row.number
    before = len(problems)

    def problem(column: str, message: str) -> None:
        problems.append(RowProblem(n, column, f"第{n}行 {message}"))

    seq_text = row[COL_SEQ]
    seq = _parse_seq(seq_text)
    if not seq_text:
        problem(COL_SEQ, "序号为空")
    elif seq is None:
        problem(COL_SEQ, f"序号「{seq_text}」应为正整数")

    name = row[COL_NAME]
    if not name:
        problem(COL_NAME, "事项名称为空")
    elif len(name) > 200:
        problem(COL_NAME, "事项名称过长（超过 200 字）")

    code = row[COL_CODE]
    if not code and seq is not None:
        code = f"M-{seq:03d}"
    elif len(code) > 40:
        problem(COL_CODE, f"事项编码「{code[:40]}…」过长（超过 40 个字符）")

    mode_text = row[COL_MODE]
    mode = _MODE_WORDS.get(_fold(mode_text).lower()) if mode_text else None
    if mode_text and mode is None:
        problem(COL_MODE, f"处置方式「{mode_text}」无法识别，应为 部门处置、乡镇自办 或 联合处置")

    lead_text = row[COL_LEAD]
    lead_id: int | None = None
    township_leads = _fold(lead_text) in _TOWNSHIP_AS_LEAD
    if township_leads:
        if mode is None and not mode_text:
            mode = HandlingMode.TOWNSHIP
        elif mode is not None and mode is not HandlingMode.TOWNSHIP:
            problem(COL_LEAD, f"牵头部门为「{lead_text}」时处置方式应为 乡镇自办")
    elif lead_text:
        leads = split_list(lead_text)
        if len(leads) > 1:
            problem(
                COL_LEAD,
                f"牵头部门「{lead_text}」只能填一个部门；其他部门请填入 协同部门",
            )
        elif resolve is not None:
            found = resolve(leads[0])
            if found is None:
                problem(COL_LEAD, f"牵头部门「{leads[0]}」不在部门名录中")
            else:
                lead_id = found.id
    mode = mode or HandlingMode.DEPARTMENT
    if not lead_text and mode is not HandlingMode.TOWNSHIP:
        problem(COL_LEAD, f"牵头部门为空（处置方式为{MODE_LABELS[mode]}时必须填写）")

    co_ids: list[int] = []
    for co_name in split_list(row[COL_CO]):
        if _fold(co_name) in {"无", "/", "-", "—"}:
            continue
        if resolve is None:
            continue
        found = resolve(co_name)
        if found is None:
            problem(COL_CO, f"协同部门「{co_name}」不在部门名录中")
        elif found.id != lead_id and found.id not in co_ids:
            co_ids.append(found.id)

    platform_code = _parse_platform(row[COL_PLATFORM], platforms, problem)

    limits: dict[str, float | None] = {}
    for column, units in (
        (COL_SIGN, _HOUR_UNITS),
        (COL_HANDLE, _DAY_UNITS),
        (COL_URGENT_SIGN, _HOUR_UNITS),
        (COL_URGENT_HANDLE, _HOUR_UNITS),
    ):
        text = row[column]
        value = _parse_limit(text, units)
        if text and value is None:
            problem(column, f"{column}「{text}」应为大于 0 的数字，或留空")
        elif value is not None and value > _LIMIT_MAX[units]:
            # The calendar refuses longer limits; refuse them here, not in every routing job.
            most = f"{_LIMIT_MAX[units]:g} {'个工作日' if units is _DAY_UNITS else '小时'}"
            problem(column, f"{column}「{text}」过长：最多 {most}")
            value = None
        limits[column] = value

    if len(problems) > before or seq is None:
        return None
    town_text = row[COL_TOWN_DUTIES] or None
    return MatterRule(
        code=code,
        name=name,
        row_number=seq,
        platform_code=platform_code,
        keywords=tuple(k for k in split_list(row[COL_KEYWORDS]) if k),
        lead_department_id=lead_id,
        co_department_ids=tuple(co_ids),
        department_duties=row[COL_DEPT_DUTIES] or None,
        township_duties=township_duty_tags(town_text or ""),
        township_duties_text=town_text,
        mode=mode,
        sign_hours=limits[COL_SIGN],
        handle_days=limits[COL_HANDLE],
        urgent_sign_hours=limits[COL_URGENT_SIGN],
        urgent_handle_hours=limits[COL_URGENT_HANDLE],
        legal_basis=row[COL_BASIS] or None,
    )


def _parse_platform(
    text: str, platforms: Mapping[str, str] | None, problem: Callable[[str, str], None]
) -> str | None:
    if not text:
        return None
    if platforms is None:
        return text
    wanted = _fold(text)
    for code, name in platforms.items():
        folded = _fold(name)
        if wanted in {code.lower(), folded, f"{folded}平台"} or (
            wanted.endswith("平台") and wanted[: -len("平台")] == folded
        ):
            return code
    problem(
        COL_PLATFORM,
        f"平台「{text}」不是已配置的平台（已配置: {'、'.join(platforms.values())}）",
    )
    return None


def _parse_limit(text: str, units: Sequence[str]) -> float | None:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    for unit in units:
        if folded.endswith(unit):
            folded = folded[: -len(unit)].strip()
            break
    if not re.fullmatch(r"\d+(\.\d+)?", folded):
        return None
    value = float(folded)
    return value if value > 0 else None


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", clean_cell(text)).split())
