"""The department directory: import from the county's spreadsheet, township platforms, lookups."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sqlmodel import Session, col, delete, select

from dispatch.core.errors import ImportRejected, RowProblem
from dispatch.reference.generation import bump_generation
from dispatch.reference.models import (
    Department,
    DepartmentCoverage,
    DepartmentKind,
    JurisdictionRow,
    Platform,
)
from dispatch.reference.schemas import DepartmentPublic
from dispatch.reference.tabular import Row, Table, overflow_problems, read_table, split_list

TOWNSHIP_LEVEL = "township"

COL_NAME = "部门名称"
COL_SHORT = "简称"
COL_KIND = "类型"
COL_PARENT = "上级部门"
COL_COVERAGE = "覆盖乡镇"
COL_AUTHORISED = "编制数"
COL_ACTUAL = "实有人数"

_ALIASES: Mapping[str, tuple[str, ...]] = {
    COL_NAME: ("部门", "单位名称", "名称"),
    COL_KIND: ("部门类型", "单位类型"),
    COL_PARENT: ("上级单位", "主管部门"),
    COL_COVERAGE: ("覆盖乡镇(街道)", "负责乡镇", "辖区乡镇"),
    COL_AUTHORISED: ("编制", "核定编制", "编制人数"),
    COL_ACTUAL: ("实有", "在编人数", "实际人数"),
}

_KIND_WORDS: Mapping[str, DepartmentKind] = {
    "县级部门": DepartmentKind.COUNTY_DEPARTMENT,
    "县直部门": DepartmentKind.COUNTY_DEPARTMENT,
    "县级单位": DepartmentKind.COUNTY_DEPARTMENT,
    "县直单位": DepartmentKind.COUNTY_DEPARTMENT,
    "部门": DepartmentKind.COUNTY_DEPARTMENT,
    "county_department": DepartmentKind.COUNTY_DEPARTMENT,
    "派驻机构": DepartmentKind.STATIONED_UNIT,
    "派驻单位": DepartmentKind.STATIONED_UNIT,
    "派出机构": DepartmentKind.STATIONED_UNIT,
    "派驻": DepartmentKind.STATIONED_UNIT,
    "基层站所": DepartmentKind.STATIONED_UNIT,
    "站所": DepartmentKind.STATIONED_UNIT,
    "stationed_unit": DepartmentKind.STATIONED_UNIT,
}
_PLATFORM_WORDS = frozenset({"乡镇平台", "平台", "township_platform"})


# ---- The in-memory directory ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    """One department as routing sees it."""

    id: int
    name: str
    short_name: str | None
    kind: DepartmentKind
    parent_id: int | None
    township_code: str | None
    platform_code: str | None
    covers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DepartmentDirectory:
    """A read-only snapshot of departments, coverage and township platforms."""

    departments: Mapping[int, DepartmentInfo]
    platforms: Mapping[str, str]
    township_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    _by_name: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    _units: Mapping[tuple[int, str], int] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    _platform_departments: Mapping[tuple[str, str], int] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )

    @classmethod
    def of(
        cls,
        departments: Iterable[DepartmentInfo],
        platforms: Mapping[str, str],
        township_names: Mapping[str, str] | None = None,
    ) -> DepartmentDirectory:
        """Build the lookups from plain department records."""
        by_id = {d.id: d for d in departments}
        by_name: dict[str, int] = {}
        short: dict[str, list[int]] = {}
        units: dict[tuple[int, str], int] = {}
        platform_departments: dict[tuple[str, str], int] = {}
        for dept in sorted(by_id.values(), key=lambda d: d.id):
            by_name[_name_key(dept.name)] = dept.id
            if dept.short_name:
                short.setdefault(_name_key(dept.short_name), []).append(dept.id)
            if dept.kind is DepartmentKind.STATIONED_UNIT and dept.parent_id is not None:
                for township in dept.covers:
                    # The import refuses two units of one parent on one township; should the
                    # database hold such a pair anyway, the older unit (lower id) wins.
                    units.setdefault((dept.parent_id, township), dept.id)
            if (
                dept.kind is DepartmentKind.TOWNSHIP_PLATFORM
                and dept.township_code
                and dept.platform_code
            ):
                platform_departments.setdefault((dept.township_code, dept.platform_code), dept.id)
        for key, ids in short.items():
            if len(ids) == 1:
                by_name.setdefault(key, ids[0])
        return cls(
            departments=MappingProxyType(by_id),
            platforms=MappingProxyType(dict(platforms)),
            township_names=MappingProxyType(dict(township_names or {})),
            _by_name=MappingProxyType(by_name),
            _units=MappingProxyType(units),
            _platform_departments=MappingProxyType(platform_departments),
        )

    def get(self, department_id: int | None) -> DepartmentInfo | None:
        """Return the department with this id."""
        return None if department_id is None else self.departments.get(department_id)

    def by_name(self, name: str) -> DepartmentInfo | None:
        """Return the department with this full name, or with this short name if unique."""
        found = self._by_name.get(_name_key(name))
        return None if found is None else self.departments[found]

    def stationed_unit(self, department_id: int, township_code: str) -> DepartmentInfo | None:
        """Return the stationed unit of a department that covers the township, if any."""
        found = self._units.get((department_id, township_code))
        return None if found is None else self.departments[found]

    def township_platform(self, township_code: str, platform_code: str) -> DepartmentInfo | None:
        """Return the platform department of a township for one platform."""
        found = self._platform_departments.get((township_code, platform_code))
        return None if found is None else self.departments[found]

    def platform_name(self, platform_code: str | None) -> str | None:
        """Return the configured name of a platform."""
        return None if platform_code is None else self.platforms.get(platform_code)


def load_directory(session: Session) -> DepartmentDirectory:
    """Read departments, coverage, platforms and township names into a snapshot."""
    covers: dict[int, set[str]] = {}
    for dept_id, township in session.exec(
        select(DepartmentCoverage.department_id, DepartmentCoverage.township_code)
    ):
        covers.setdefault(dept_id, set()).add(township)
    infos = [
        DepartmentInfo(
            id=dept.id,
            name=dept.name,
            short_name=dept.short_name,
            kind=DepartmentKind(dept.kind),
            parent_id=dept.parent_id,
            township_code=dept.township_code,
            platform_code=dept.platform_code,
            covers=frozenset(covers.get(dept.id, ())),
        )
        for dept in session.exec(select(Department))
        if dept.id is not None
    ]
    platforms = {
        p.code: p.name for p in session.exec(select(Platform).order_by(col(Platform.sort_order)))
    }
    townships = dict(
        session.exec(
            select(JurisdictionRow.code, JurisdictionRow.name).where(
                JurisdictionRow.level == TOWNSHIP_LEVEL
            )
        ).all()
    )
    return DepartmentDirectory.of(infos, platforms, townships)


def _name_key(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


# ---- Township platforms -----------------------------------------------------------------


def with_units(session: Session, department_id: int) -> frozenset[int]:
    """Return a county department and its stationed units (what its staff act for)."""
    units = session.exec(
        select(Department.id).where(
            Department.parent_id == department_id,
            Department.kind == DepartmentKind.STATIONED_UNIT,
        )
    ).all()
    return frozenset({department_id, *(u for u in units if u is not None)})


def ensure_township_platforms(session: Session) -> int:
    """Create the missing platform department of every township for every platform."""
    townships = session.exec(
        select(JurisdictionRow)
        .where(JurisdictionRow.level == TOWNSHIP_LEVEL)
        .order_by(JurisdictionRow.code)
    ).all()
    platforms = session.exec(
        select(Platform).order_by(col(Platform.sort_order), col(Platform.code))
    ).all()
    existing = {
        (d.township_code, d.platform_code)
        for d in session.exec(
            select(Department).where(Department.kind == DepartmentKind.TOWNSHIP_PLATFORM)
        )
    }
    taken = set(session.exec(select(Department.name)).all())
    township_name_count: dict[str, int] = {}
    for township in townships:
        township_name_count[township.name] = township_name_count.get(township.name, 0) + 1

    created = 0
    for township in townships:
        for platform in platforms:
            if (township.code, platform.code) in existing:
                continue
            name = _platform_department_name(township.name, platform.name)
            # Two counties may each have a 城关镇: department names are unique, so qualify.
            if township_name_count[township.name] > 1 or name in taken:
                name = _platform_department_name(f"{township.name}({township.code})", platform.name)
            session.add(
                Department(
                    name=name,
                    kind=DepartmentKind.TOWNSHIP_PLATFORM,
                    township_code=township.code,
                    platform_code=platform.code,
                )
            )
            taken.add(name)
            created += 1
    session.flush()
    if created:
        bump_generation(session, "乡镇平台")
    return created


def _platform_department_name(township: str, platform: str) -> str:
    suffix = "" if platform.endswith("平台") else "平台"
    return f"{township}{platform}{suffix}"


# ---- Import -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentImportReport:
    """What an import of the department directory changed."""

    source: str
    rows: int
    created: int
    updated: int
    unchanged: int
    coverage_links: int


@dataclass(slots=True)
class _Parsed:
    row: int
    name: str
    short_name: str | None
    kind: DepartmentKind
    parent: str | None
    covers: frozenset[str]
    authorised: int | None
    actual: int | None


def import_departments(
    session: Session, path: str | Path, *, sheet: str | None = None, source: str | None = None
) -> DepartmentImportReport:
    """Upsert the department directory from a file by 部门名称; all rows or none.

    source names the file in messages (an upload's original name); sheet picks a sheet
    of a workbook other than the first.
    """
    table = read_table(
        path,
        sheet=sheet,
        required=(COL_NAME, COL_KIND),
        optional=(COL_SHORT, COL_PARENT, COL_COVERAGE, COL_AUTHORISED, COL_ACTUAL),
        aliases=_ALIASES,
        source=source,
    )
    problems = overflow_problems(table)
    if not table.rows:
        problems.append(RowProblem(table.header_row, None, "文件中没有部门数据行"))

    townships = _township_lookup(session)
    parsed = [p for row in table.rows if (p := _parse_row(row, townships, problems)) is not None]
    existing = {d.name: d for d in session.exec(select(Department))}
    _check_names(parsed, existing, problems)
    parents = _resolve_parents(parsed, existing, problems)
    _check_coverage_overlap(session, parsed, parents, existing, problems)
    if problems:
        problems.sort(key=lambda p: (p.row, p.column or ""))
        raise ImportRejected(problems, source=table.source)
    report = _write(session, table, parsed, parents, existing)
    bump_generation(session, "部门名录")
    return report


def _township_lookup(session: Session) -> dict[str, list[str]]:
    """Map each township code and name to the codes it may mean."""
    lookup: dict[str, list[str]] = {}
    rows = session.exec(
        select(JurisdictionRow.code, JurisdictionRow.name).where(
            JurisdictionRow.level == TOWNSHIP_LEVEL
        )
    ).all()
    for code, _ in rows:
        lookup.setdefault(_name_key(code), []).append(code)
    for code, name in rows:
        if _name_key(name) != _name_key(code):
            lookup.setdefault(_name_key(name), []).append(code)
    return lookup


def _parse_row(
    row: Row, townships: Mapping[str, list[str]], problems: list[RowProblem]
) -> _Parsed | None:
    n = row.number
    name = row[COL_NAME]
    ok = True
    if not name:
        problems.append(RowProblem(n, COL_NAME, f"第{n}行 部门名称为空"))
        ok = False
    elif len(name) > 200:
        problems.append(RowProblem(n, COL_NAME, f"第{n}行 部门名称过长（超过 200 字）"))
        ok = False

    kind_text = row[COL_KIND]
    kind = _KIND_WORDS.get(_name_key(kind_text).lower()) or _KIND_WORDS.get(_name_key(kind_text))
    if kind is None:
        if _name_key(kind_text) in _PLATFORM_WORDS:
            message = f"第{n}行 类型「{kind_text}」: 乡镇平台由系统按乡镇和平台自动生成，不需导入"
        elif not kind_text:
            message = f"第{n}行 类型为空，应为 县级部门 或 派驻机构"
        else:
            message = f"第{n}行 类型「{kind_text}」无法识别，应为 县级部门 或 派驻机构"
        problems.append(RowProblem(n, COL_KIND, message))
        ok = False

    short_name = row[COL_SHORT] or None
    if short_name is not None and len(short_name) > 100:
        problems.append(RowProblem(n, COL_SHORT, f"第{n}行 简称过长（超过 100 字）"))
        ok = False

    parent = row[COL_PARENT] or None
    if kind is DepartmentKind.STATIONED_UNIT and parent is None:
        problems.append(RowProblem(n, COL_PARENT, f"第{n}行 派驻机构必须填写上级部门"))
        ok = False
    if parent is not None and name and _name_key(parent) == _name_key(name):
        problems.append(RowProblem(n, COL_PARENT, f"第{n}行 上级部门不能是部门自己"))
        ok = False

    covers: set[str] = set()
    coverage_items = split_list(row[COL_COVERAGE])
    if kind is DepartmentKind.COUNTY_DEPARTMENT and coverage_items:
        problems.append(
            RowProblem(
                n,
                COL_COVERAGE,
                f"第{n}行 县级部门覆盖全县，不填覆盖乡镇；派驻机构请把类型填为「派驻机构」",
            )
        )
        ok = False
    elif kind is DepartmentKind.STATIONED_UNIT and not coverage_items:
        problems.append(RowProblem(n, COL_COVERAGE, f"第{n}行 派驻机构必须填写覆盖乡镇"))
        ok = False
    for item in coverage_items:
        codes = townships.get(_name_key(item), [])
        if not codes:
            problems.append(
                RowProblem(n, COL_COVERAGE, f"第{n}行 覆盖乡镇「{item}」不是已导入的乡镇")
            )
            ok = False
        elif len(codes) > 1:
            problems.append(
                RowProblem(
                    n,
                    COL_COVERAGE,
                    f"第{n}行 覆盖乡镇「{item}」有重名（{'、'.join(codes)}），请改填乡镇代码",
                )
            )
            ok = False
        else:
            covers.add(codes[0])

    staff: dict[str, int | None] = {}
    for column in (COL_AUTHORISED, COL_ACTUAL):
        text = row[column]
        value = parse_count(text)
        if text and value is None:
            problems.append(
                RowProblem(n, column, f"第{n}行 {column}「{text}」应为不小于 0 的整数，或留空")
            )
            ok = False
        staff[column] = value

    if not ok or kind is None:
        return None
    return _Parsed(
        row=n,
        name=name,
        short_name=short_name,
        kind=kind,
        parent=parent,
        covers=frozenset(covers),
        authorised=staff[COL_AUTHORISED],
        actual=staff[COL_ACTUAL],
    )


def parse_count(text: str) -> int | None:
    """Parse a non-negative whole number written as 12, 12.0 or １２; None if it is not one."""
    text = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not value.is_integer() or value < 0:
        return None
    return int(value)


def _check_names(
    parsed: list[_Parsed], existing: Mapping[str, Department], problems: list[RowProblem]
) -> None:
    first_row: dict[str, int] = {}
    first_short: dict[str, tuple[int, str]] = {}
    for p in parsed:
        key = _name_key(p.name)
        if key in first_row:
            problems.append(
                RowProblem(
                    p.row, COL_NAME, f"第{p.row}行 部门名称「{p.name}」与第{first_row[key]}行重复"
                )
            )
        else:
            first_row[key] = p.row
        current = existing.get(p.name)
        if current is not None and current.kind == DepartmentKind.TOWNSHIP_PLATFORM:
            problems.append(
                RowProblem(p.row, COL_NAME, f"第{p.row}行 部门名称「{p.name}」已是一个乡镇平台")
            )
        if p.short_name:
            short_key = _name_key(p.short_name)
            if short_key in first_short:
                other_row, other_name = first_short[short_key]
                problems.append(
                    RowProblem(
                        p.row,
                        COL_SHORT,
                        f"第{p.row}行 简称「{p.short_name}」与第{other_row}行「{other_name}」重复",
                    )
                )
            else:
                first_short[short_key] = (p.row, p.name)


def _resolve_parents(
    parsed: list[_Parsed], existing: Mapping[str, Department], problems: list[RowProblem]
) -> dict[int, str]:
    """Map each row with a 上级部门 to the full name of that county department."""
    in_file: dict[str, _Parsed] = {}
    short_in_file: dict[str, list[_Parsed]] = {}
    for p in parsed:
        in_file.setdefault(_name_key(p.name), p)
        if p.short_name:
            short_in_file.setdefault(_name_key(p.short_name), []).append(p)
    in_db = {_name_key(name): d for name, d in existing.items()}
    short_in_db: dict[str, list[Department]] = {}
    for d in existing.values():
        if d.short_name:
            short_in_db.setdefault(_name_key(d.short_name), []).append(d)

    parents: dict[int, str] = {}
    for p in parsed:
        if p.parent is None:
            continue
        key = _name_key(p.parent)
        # The file is the newer word on a department's kind, so it is asked first.
        target: tuple[str, DepartmentKind] | None = None
        if key in in_file:
            target = (in_file[key].name, in_file[key].kind)
        elif key in in_db:
            target = (in_db[key].name, DepartmentKind(in_db[key].kind))
        elif len(short_in_file.get(key, [])) == 1:
            found = short_in_file[key][0]
            target = (found.name, found.kind)
        elif len(short_in_db.get(key, [])) == 1:
            found_db = short_in_db[key][0]
            target = (found_db.name, DepartmentKind(found_db.kind))
        if target is None:
            problems.append(
                RowProblem(p.row, COL_PARENT, f"第{p.row}行 上级部门「{p.parent}」不在部门名录中")
            )
            continue
        if target[1] is not DepartmentKind.COUNTY_DEPARTMENT:
            problems.append(
                RowProblem(p.row, COL_PARENT, f"第{p.row}行 上级部门「{p.parent}」不是县级部门")
            )
            continue
        if _name_key(target[0]) == _name_key(p.name):
            problems.append(RowProblem(p.row, COL_PARENT, f"第{p.row}行 上级部门不能是部门自己"))
            continue
        parents[p.row] = target[0]

    # A department turned into a stationed unit must not keep units of its own.
    becoming_units = {p.name for p in parsed if p.kind is DepartmentKind.STATIONED_UNIT}
    by_id = {d.id: d for d in existing.values()}
    for child in existing.values():
        parent = by_id.get(child.parent_id) if child.parent_id is not None else None
        if parent is None or parent.name not in becoming_units:
            continue
        if any(_name_key(p.name) == _name_key(child.name) for p in parsed):
            continue
        row = next(p.row for p in parsed if p.name == parent.name)
        problems.append(
            RowProblem(
                row,
                COL_KIND,
                f"第{row}行 「{parent.name}」下有派驻机构「{child.name}」，不能改为派驻机构",
            )
        )
    return parents


def _check_coverage_overlap(
    session: Session,
    parsed: list[_Parsed],
    parents: Mapping[int, str],
    existing: Mapping[str, Department],
    problems: list[RowProblem],
) -> None:
    """Refuse two units of one department on one township: routing would have to guess."""
    township_names = dict(
        session.exec(
            select(JurisdictionRow.code, JurisdictionRow.name).where(
                JurisdictionRow.level == TOWNSHIP_LEVEL
            )
        ).all()
    )
    holder: dict[tuple[str, str], tuple[int | None, str]] = {}
    in_file = {p.name for p in parsed}
    by_id = {d.id: d for d in existing.values()}
    kept_coverage = session.exec(
        select(DepartmentCoverage.department_id, DepartmentCoverage.township_code)
    ).all()
    for dept_id, township in kept_coverage:
        dept = by_id.get(dept_id)
        if dept is None or dept.name in in_file or dept.parent_id is None:
            continue
        parent = by_id.get(dept.parent_id)
        if parent is not None:
            holder[(parent.name, township)] = (None, dept.name)
    for p in parsed:
        parent_name = parents.get(p.row)
        if p.kind is not DepartmentKind.STATIONED_UNIT or parent_name is None:
            continue
        for township in sorted(p.covers):
            key = (parent_name, township)
            if key in holder:
                other_row, other_name = holder[key]
                where = f"第{other_row}行" if other_row is not None else "名录中已有的"
                problems.append(
                    RowProblem(
                        p.row,
                        COL_COVERAGE,
                        f"第{p.row}行 覆盖乡镇「{township_names.get(township, township)}」"
                        f"已由{where}「{other_name}」覆盖，同一上级部门在一个乡镇只能有一个派驻机构",
                    )
                )
            else:
                holder[key] = (p.row, p.name)


def _write(
    session: Session,
    table: Table,
    parsed: list[_Parsed],
    parents: Mapping[int, str],
    existing: dict[str, Department],
) -> DepartmentImportReport:
    created = updated = unchanged = 0
    departments: dict[str, Department] = dict(existing)
    touched: set[str] = set()
    # First every row without its parent link, so a parent listed below its units has an id.
    for p in parsed:
        dept = departments.get(p.name)
        if dept is None:
            dept = Department(name=p.name, kind=p.kind)
            session.add(dept)
            departments[p.name] = dept
            created += 1
            touched.add(p.name)
        fields = {
            "short_name": p.short_name,
            "kind": p.kind.value,
            "authorised_staff": p.authorised,
            "actual_staff": p.actual,
        }
        for attr, value in fields.items():
            if getattr(dept, attr) != value:
                setattr(dept, attr, value)
                touched.add(p.name)
    session.flush()

    old_coverage: dict[int, set[str]] = {}
    for dept_id, township in session.exec(
        select(DepartmentCoverage.department_id, DepartmentCoverage.township_code)
    ):
        old_coverage.setdefault(dept_id, set()).add(township)
    links = 0
    for p in parsed:
        dept = departments[p.name]
        assert dept.id is not None
        parent_name = parents.get(p.row)
        parent_id = departments[parent_name].id if parent_name is not None else None
        if dept.parent_id != parent_id:
            dept.parent_id = parent_id
            touched.add(p.name)
        if old_coverage.get(dept.id, set()) != set(p.covers):
            session.exec(
                delete(DepartmentCoverage).where(col(DepartmentCoverage.department_id) == dept.id)
            )
            session.add_all(
                DepartmentCoverage(department_id=dept.id, township_code=code)
                for code in sorted(p.covers)
            )
            touched.add(p.name)
        links += len(p.covers)
        if p.name in existing:
            if p.name in touched:
                updated += 1
            else:
                unchanged += 1
    session.flush()
    return DepartmentImportReport(
        source=table.source,
        rows=len(parsed),
        created=created,
        updated=updated,
        unchanged=unchanged,
        coverage_links=links,
    )


def department_list(session: Session) -> list[DepartmentPublic]:
    """Return every department as plain data: county departments, units, then platforms."""
    order = {
        DepartmentKind.COUNTY_DEPARTMENT: 0,
        DepartmentKind.STATIONED_UNIT: 1,
        DepartmentKind.TOWNSHIP_PLATFORM: 2,
    }
    rows = sorted(
        session.exec(select(Department)).all(),
        key=lambda d: (order.get(DepartmentKind(d.kind), 9), d.township_code or "", d.id or 0),
    )
    return [
        DepartmentPublic(
            id=d.id,
            name=d.name,
            short_name=d.short_name,
            kind=DepartmentKind(d.kind),
            parent_id=d.parent_id,
            township_code=d.township_code,
            platform_code=d.platform_code,
        )
        for d in rows
        if d.id is not None
    ]
