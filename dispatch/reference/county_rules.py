"""A county's settings for the loop's side paths, with the defaults for a county that has none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlmodel import Field, Session, SQLModel, select

from dispatch.core.clock import utcnow
from dispatch.core.errors import InvalidInput, NotFound
from dispatch.reference.models import (
    DEFAULT_RANKING_WEIGHTS,
    DEFAULT_SUPERVISION_RULES,
    CountyRules,
)


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
    ranking_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_RANKING_WEIGHTS)
    )
    matter_weights: Mapping[str, float] = field(default_factory=dict)  # absent: weight 1

    def matter_weight(self, matter_code: str | None) -> float:
        """Return a matter's weight in the staffing evidence (1 unless the county set one)."""
        return float(self.matter_weights.get(matter_code or "", 1.0))


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
        ranking_weights=dict(row.ranking_weights or DEFAULT_RANKING_WEIGHTS),
        matter_weights=dict(row.matter_weights or {}),
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
    ranking_weights: dict[str, float] = Field(description="红黑榜综合得分中各指标的权重")
    matter_weights: dict[str, float] = Field(
        description="编制评估中各事项的工作量权重（事项编码 → 权重；未列出的为 1）"
    )


class CountyRulesUpdate(SQLModel):
    """New settings for a county: each given field replaces the current one."""

    extension_limit_days: int | None = Field(default=None, ge=0, le=366)
    escalation_sign_hours: float | None = Field(default=None, gt=0, le=720)
    supervision_rules: list[SupervisionRuleBody] | None = Field(default=None, max_length=20)
    ranking_weights: dict[str, float] | None = Field(default=None, max_length=20)
    matter_weights: dict[str, float] | None = Field(default=None, max_length=2000)


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
        ranking_weights=dict(found.ranking_weights),
        matter_weights=dict(found.matter_weights),
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
    if update.ranking_weights is not None:
        _check_ranking_weights(update.ranking_weights)
    if update.matter_weights is not None:
        _check_matter_weights(update.matter_weights)
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
    if update.ranking_weights is not None:
        row.ranking_weights = dict(update.ranking_weights)
    if update.matter_weights is not None:
        row.matter_weights = dict(update.matter_weights)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return county_rules_public(session, county_code)


def _check_ranking_weights(weights: Mapping[str, float]) -> None:
    unknown = sorted(set(weights) - set(DEFAULT_RANKING_WEIGHTS))
    if unknown:
        known = "、".join(DEFAULT_RANKING_WEIGHTS)
        raise InvalidInput(
            f"红黑榜权重中有未知的指标：{'、'.join(unknown)}（可用：{known}）",
            field="ranking_weights",
        )
    if any(not 0 <= w <= 1 for w in weights.values()):
        raise InvalidInput("红黑榜各指标的权重应在 0 到 1 之间", field="ranking_weights")
    if abs(sum(weights.values()) - 1) > 1e-6:
        raise InvalidInput("红黑榜各指标的权重之和应为 1", field="ranking_weights")


def _check_matter_weights(weights: Mapping[str, float]) -> None:
    for code, weight in weights.items():
        if not code or len(code) > 40:
            raise InvalidInput("事项权重的事项编码应为 1 到 40 个字符", field="matter_weights")
        if not 0 < weight <= 100:
            raise InvalidInput(f"事项「{code}」的权重应大于 0、不超过 100", field="matter_weights")
