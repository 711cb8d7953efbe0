"""Every assessment measure once: its key, its Chinese name, its unit, which way is better.

docs/METRICS.md writes out each definition (numerator, denominator, which steps count, the
period an item belongs to); a test keeps the two in step. The API, the pages (through
vocabulary.json) and the workbooks take their names and units from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dispatch.reference.models import DEFAULT_RANKING_WEIGHTS


class Unit(StrEnum):
    """How a measure's value reads: a count, a rate (0–1), minutes, a mean rating, per 10,000."""

    COUNT = "count"
    RATE = "rate"
    MINUTES = "minutes"
    RATING = "rating"
    PER_10K = "per_10k"
    SCORE = "score"


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure: what the API calls it, what people call it, its unit and direction."""

    key: str
    label: str
    unit: Unit
    higher_is_better: bool | None = None  # None: neither (a volume)


MEASURES: tuple[Measure, ...] = (
    Measure("parts", "派单数", Unit.COUNT),
    Measure("events", "事件数", Unit.COUNT),
    Measure("reported", "上报事件数", Unit.COUNT),
    Measure("due_for_signing", "应签收数", Unit.COUNT),
    Measure("signed_on_time", "按时签收数", Unit.COUNT),
    Measure("on_time_sign_rate", "及时签收率", Unit.RATE, True),
    Measure("due_for_completion", "应办结数", Unit.COUNT),
    Measure("completed_on_time", "按时办结数", Unit.COUNT),
    Measure("on_time_completion_rate", "按时办结率", Unit.RATE, True),
    Measure("completed", "办结数", Unit.COUNT),
    Measure("completion_rate", "办结率", Unit.RATE, True),
    Measure("returned", "退回数", Unit.COUNT),
    Measure("return_rate", "退回率", Unit.RATE, False),
    Measure("fed_back_once", "曾反馈数", Unit.COUNT),
    Measure("reworked", "重办数", Unit.COUNT),
    Measure("rework_rate", "重办率", Unit.RATE, False),
    Measure("rated", "评价数", Unit.COUNT),
    Measure("satisfied", "满意数", Unit.COUNT),
    Measure("satisfaction_rate", "满意率", Unit.RATE, True),
    Measure("mean_rating", "平均评分", Unit.RATING, True),
    Measure("notices_normal", "普通督办", Unit.COUNT, False),
    Measure("notices_yellow", "黄牌督办", Unit.COUNT, False),
    Measure("notices_red", "红牌督办", Unit.COUNT, False),
    Measure("extensions_asked", "申请延期", Unit.COUNT),
    Measure("extensions_granted", "批准延期", Unit.COUNT),
    Measure("escalations", "乡呼县应", Unit.COUNT),
    Measure("escalations_answered_on_time", "县应按时签收", Unit.COUNT),
    Measure("escalation_response_median", "县应响应时间中位数", Unit.MINUTES, False),
    Measure("disputes", "涉及争议", Unit.COUNT, False),
    Measure("disputes_ruled_responsible", "裁定为责任单位", Unit.COUNT),
    Measure("disputes_ruled_not_responsible", "裁定非责任单位", Unit.COUNT),
    Measure("sign_minutes_median", "签收用时中位数", Unit.MINUTES, False),
    Measure("sign_minutes_p90", "签收用时 P90", Unit.MINUTES, False),
    Measure("feedback_minutes_median", "反馈用时中位数", Unit.MINUTES, False),
    Measure("feedback_minutes_p90", "反馈用时 P90", Unit.MINUTES, False),
    Measure("population", "常住人口", Unit.COUNT),
    Measure("events_per_10k", "每万人事件数", Unit.PER_10K),
    Measure("score", "综合得分", Unit.SCORE, True),
)
BY_KEY: dict[str, Measure] = {m.key: m for m in MEASURES}

# The measures the 红黑榜's composite score weighs; the county may change the weights.
RANKED: tuple[str, ...] = tuple(DEFAULT_RANKING_WEIGHTS)
assert set(RANKED) <= set(BY_KEY)


def composite_score(values: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """Return the 红黑榜 score (0–100): Σ weight × rate, a lower-is-better rate as 1 − rate.

    A measure with no value (nothing to count) is left out and the remaining weights scaled
    up to 1; with none at all there is no score.
    """
    total = weight_used = 0.0
    for key, weight in weights.items():
        value = values.get(key)
        if value is None or weight <= 0:
            continue
        good = value if BY_KEY[key].higher_is_better else 1 - value
        total += weight * good
        weight_used += weight
    return round(100 * total / weight_used, 1) if weight_used else None
