"""A county's settings for the loop's side paths, with the defaults for a county that has none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlmodel import Field, Session, SQLModel, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput, NotFound
from dispatch.reference.models import DEFAULT_SUPERVISION_RULES, CountyRules


@dataclass(frozen=True, slots=True)
class SupervisionRule:
    """Issue a notice of this level once the deadline is overdue by this many working days."""

    deadline: str  # "sign" or "handle"
    overdue_working_days: int
    level: str  # "normal", "yellow" or "red"

    @property
    def key(self) -> str:
        """Name the rule the way a notice remembers it, e.g. handle+1."""
        return f"{self.deadline}+{self.overdue_working_days}"


@dataclass(frozen=True, slots=True)
class CountySettings:
    """What the county decided: the extension limit, the escalation response time, the rules."""

    county_code: str | None
    extension_limit_days: int
    escalation_sign_hours: float
    supervision_rules: tuple[SupervisionRule, ...]


def _rules(raw: list[dict[str, object]]) -> tuple[SupervisionRule, ...]:
    return tuple(
        SupervisionRule(
            deadline=str(item["deadline"]),
            overdue_working_days=int(str(item["overdue_working_days"])),
            level=str(item["level"]),
        )
        for item in raw
    )


DEFAULTS = CountySettings(
    county_code=None,
    extension_limit_days=20,
    escalation_sign_hours=2.0,
    supervision_rules=_rules(DEFAULT_SUPERVISION_RULES),
)


def county_settings(session: Session, county_code: str | None) -> CountySettings:
    """Return the county's settings, or the defaults where it has no row of its own."""
    row = session.get(CountyRules, county_code) if county_code else None
    if row is None:
        return DEFAULTS if county_code is None else _with_code(county_code)
    return CountySettings(
        county_code=row.county_code,
        extension_limit_days=row.extension_limit_days,
        escalation_sign_hours=row.escalation_sign_hours,
        supervision_rules=_rules(row.supervision_rules),
    )


def _with_code(county_code: str) -> CountySettings:
    return CountySettings(
        county_code=county_code,
        extension_limit_days=DEFAULTS.extension_limit_days,
        escalation_sign_hours=DEFAULTS.escalation_sign_hours,
        supervision_rules=DEFAULTS.supervision_rules,
    )


# ---- Reading and changing them (the administrator's) -----------------------------------

LEVELS = ("normal", "yellow", "red")
DEADLINES = ("sign", "handle")


class SupervisionRuleBody(SQLModel):
    """One automatic supervision rule as the API reads and writes it."""

    deadline: Literal["sign", "handle"] = Field(description="时限：sign 签收，handle 办结")
    overdue_working_days: int = Field(ge=0, le=60, description="超期工作日数（0 为一超期即督办）")
    level: Literal["normal", "yellow", "red"] = Field(
        description="督办级别：normal 普通督办，yellow 黄牌督办，red 红牌督办"
    )


class CountyRulesPublic(SQLModel):
    """A county's settings for supervision, extensions and escalations, defaults included."""

    county_code: str
    is_default: bool = Field(description="该县尚未设置，使用默认值")
    extension_limit_days: int = Field(description="延期累计上限（工作日）")
    escalation_sign_hours: float = Field(description="乡呼县应：县级部门签收时限（小时）")
    supervision_rules: list[SupervisionRuleBody]


class CountyRulesUpdate(SQLModel):
    """New settings for a county: each given field replaces the current one."""

    extension_limit_days: int | None = Field(default=None, ge=0, le=366)
    escalation_sign_hours: float | None = Field(default=None, gt=0, le=720)
    supervision_rules: list[SupervisionRuleBody] | None = Field(default=None, max_length=20)


def _stored(county_code: str | None) -> str:
    if county_code is None:
        raise NotFound("尚未导入县级辖区，没有可设置的县", field="county")
    return county_code


def county_rules_public(session: Session, county_code: str | None) -> CountyRulesPublic:
    """Return a county's settings as the API shows them."""
    county_code = _stored(county_code)
    found = county_settings(session, county_code)
    return CountyRulesPublic(
        county_code=county_code,
        is_default=session.get(CountyRules, county_code) is None,
        extension_limit_days=found.extension_limit_days,
        escalation_sign_hours=found.escalation_sign_hours,
        supervision_rules=[
            SupervisionRuleBody(
                deadline=cast(Any, r.deadline),
                overdue_working_days=r.overdue_working_days,
                level=cast(Any, r.level),
            )
            for r in found.supervision_rules
        ],
    )


def update_county_rules(
    session: Session, county_code: str | None, update: CountyRulesUpdate
) -> CountyRulesPublic:
    """Replace the given settings of a county (its row created from the defaults if need be)."""
    county_code = _stored(county_code)
    if update.supervision_rules is not None:
        seen: set[tuple[str, int]] = set()
        for rule in update.supervision_rules:
            key = (rule.deadline, rule.overdue_working_days)
            if key in seen:
                raise InvalidInput(
                    "督办规则重复：同一时限、同一超期天数只能有一条", field="supervision_rules"
                )
            seen.add(key)
    row = session.exec(
        select(CountyRules).where(CountyRules.county_code == county_code).with_for_update()
    ).first()
    if row is None:
        row = CountyRules(county_code=county_code)
    if update.extension_limit_days is not None:
        row.extension_limit_days = update.extension_limit_days
    if update.escalation_sign_hours is not None:
        row.escalation_sign_hours = update.escalation_sign_hours
    if update.supervision_rules is not None:
        row.supervision_rules = [rule.model_dump() for rule in update.supervision_rules]
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return county_rules_public(session, county_code)
