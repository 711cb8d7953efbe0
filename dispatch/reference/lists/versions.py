"""Versions of a county's list: the version in force, reading one, publishing.

A published version is in force from its effective date until a later published
version's effective date; the version in force at a moment is the published (or since
superseded) one with the greatest effective date not after it, so history can always
be asked."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlmodel import Session, col, select

from dispatch.core.clock import local_date, utcnow
from dispatch.core.errors import Conflict, NotFound
from dispatch.reference.generation import bump_generation
from dispatch.reference.lists.rules import MatterRule, MatterRules, content_digest
from dispatch.reference.models import (
    HandlingMode,
    ListStatus,
    Matter,
    MatterCooperator,
    MatterList,
)

COUNTY_LEVEL = "county"


# ---- Queries ----------------------------------------------------------------------------


def get_list(session: Session, list_id: int) -> MatterList:
    """Return a list version or raise NotFound."""
    found = session.get(MatterList, list_id)
    if found is None:
        raise NotFound(f"责任清单 #{list_id} 不存在", field="list_id")
    return found


def list_versions(session: Session, county_code: str) -> list[MatterList]:
    """Return every version of a county's list, oldest first."""
    return list(
        session.exec(
            select(MatterList)
            .where(MatterList.county_code == county_code)
            .order_by(col(MatterList.version))
        )
    )


def list_in_force(session: Session, county_code: str, at: datetime | date) -> MatterList | None:
    """Return the version in force at a moment: published, greatest effective date not after it."""
    return session.exec(
        select(MatterList)
        .where(
            MatterList.county_code == county_code,
            col(MatterList.status).in_([ListStatus.PUBLISHED, ListStatus.SUPERSEDED]),
            col(MatterList.effective_from) <= local_date(at),
        )
        .order_by(col(MatterList.effective_from).desc(), col(MatterList.version).desc())
        .limit(1)
    ).first()


def load_rules(session: Session, list_id: int) -> MatterRules:
    """Read one list version into a pure snapshot for routing and classification."""
    matter_list = get_list(session, list_id)
    matters = session.exec(
        select(Matter).where(Matter.list_id == list_id).order_by(col(Matter.row_number))
    ).all()
    co: dict[int, list[int]] = {}
    if matters:
        links = session.exec(
            select(MatterCooperator.matter_id, MatterCooperator.department_id)
            .where(col(MatterCooperator.matter_id).in_([m.id for m in matters]))
            .order_by(col(MatterCooperator.department_id))
        )
        for matter_id, department_id in links:
            co.setdefault(matter_id, []).append(department_id)
    return MatterRules(
        list_id=matter_list.id,
        county_code=matter_list.county_code,
        version=matter_list.version,
        effective_from=matter_list.effective_from,
        matters=tuple(
            MatterRule(
                code=m.code,
                name=m.name,
                row_number=m.row_number,
                platform_code=m.platform_code,
                keywords=tuple(m.keywords),
                lead_department_id=m.lead_department_id,
                co_department_ids=tuple(co.get(m.id, ())) if m.id is not None else (),
                department_duties=m.department_duties,
                township_duties=tuple(m.township_duties),
                township_duties_text=m.township_duties_text,
                mode=HandlingMode(m.handling_mode),
                sign_hours=m.sign_hours,
                handle_days=m.handle_days,
                urgent_sign_hours=m.urgent_sign_hours,
                urgent_handle_hours=m.urgent_handle_hours,
                legal_basis=m.legal_basis,
            )
            for m in matters
        ),
    )


def rules_in_force(session: Session, county_code: str, at: datetime | date) -> MatterRules | None:
    """Return the snapshot of the version in force at a moment, if any."""
    found = list_in_force(session, county_code, at)
    return None if found is None or found.id is None else load_rules(session, found.id)


def list_digest(session: Session, list_id: int) -> str:
    """Return the content digest of a stored version."""
    return content_digest(load_rules(session, list_id).matters)


# ---- Publishing -------------------------------------------------------------------------


def publish_list(
    session: Session, list_id: int, *, effective_from: date | None = None
) -> MatterList:
    """Publish a draft version; earlier published versions of the county become superseded.

    The county's timeline only moves forward: a version cannot take effect before one
    already published, nor can an older draft be published after a newer version.
    Publishing an already published version with the same (or no) date does nothing.
    """
    matter_list = get_list(session, list_id)
    if matter_list.status == ListStatus.PUBLISHED:
        if effective_from is None or effective_from == matter_list.effective_from:
            return matter_list
        raise Conflict(
            f"清单 v{matter_list.version} 已发布，"
            f"生效日期 {matter_list.effective_from} 不能再修改；如需调整请导入新版本",
            field="effective_from",
        )
    if matter_list.status == ListStatus.SUPERSEDED:
        raise Conflict(
            f"清单 v{matter_list.version} 已被新版本取代，不能再次发布；如需恢复请重新导入为新版本"
        )
    effective = effective_from or matter_list.effective_from
    others = _published(session, matter_list.county_code, exclude=matter_list.id)
    _check_timeline(others, matter_list.version, effective)
    now = utcnow()
    matter_list.effective_from = effective
    matter_list.status = ListStatus.PUBLISHED
    matter_list.published_at = now
    for other in others:
        if other.status == ListStatus.PUBLISHED:
            # Superseded means "a successor is published"; until the successor's effective
            # date this version still routes events (see list_in_force).
            other.status = ListStatus.SUPERSEDED
            other.superseded_at = now
    session.flush()
    bump_generation(session, f"责任清单 v{matter_list.version} 发布")
    return matter_list


def _published(session: Session, county_code: str, *, exclude: int | None) -> list[MatterList]:
    return list(
        session.exec(
            select(MatterList).where(
                MatterList.county_code == county_code,
                MatterList.id != exclude,
                col(MatterList.status).in_([ListStatus.PUBLISHED, ListStatus.SUPERSEDED]),
            )
        )
    )


def _check_timeline(published: Iterable[MatterList], version: int, effective: date) -> None:
    """Refuse a publication that would move the county's timeline backwards."""
    for other in published:
        if other.version > version:
            raise Conflict(
                f"已发布更新的清单 v{other.version}，不能再发布较早的草稿 v{version}；"
                "请重新导入为新版本"
            )
        if other.effective_from > effective:
            raise Conflict(
                f"生效日期 {effective} 早于已发布的清单 v{other.version} 的生效日期 "
                f"{other.effective_from}；新版本的生效日期不能早于已发布的版本",
                field="effective_from",
            )
