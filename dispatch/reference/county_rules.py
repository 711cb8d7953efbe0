"""A county's settings for the loop's side paths, with the defaults for a county that has none."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

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
