"""The reports' groundwork: periods in China days, the composite score, the simulated clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dispatch.core.clock import simulated_now, utcnow
from dispatch.core.errors import InvalidInput
from dispatch.reports.measures import BY_KEY, MEASURES, RANKED, composite_score
from dispatch.reports.periods import period


def test_a_period_is_whole_china_days_both_ends_included() -> None:
    p = period(date(2026, 11, 1), date(2026, 11, 30))
    assert p.start == datetime(2026, 10, 31, 16, tzinfo=UTC)  # 00:00 Beijing
    assert p.end == datetime(2026, 11, 30, 16, tzinfo=UTC)  # 24:00 Beijing on the 30th
    assert p.label == "2026-11-01 至 2026-11-30"


def test_the_default_period_is_this_month_so_far_in_china_time() -> None:
    # 23:30 UTC on 30 November is already 1 December in Beijing.
    p = period(None, None, now=datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    assert (p.first, p.last) == (date(2026, 12, 1), date(2026, 12, 1))


def test_a_period_that_ends_before_it_starts_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        period(date(2026, 12, 2), date(2026, 12, 1))
    assert refused.value.field == "from"


def test_the_score_weighs_rates_and_counts_lower_is_better_ones_as_their_complement() -> None:
    weights = {"on_time_sign_rate": 0.5, "return_rate": 0.5}
    assert composite_score({"on_time_sign_rate": 0.8, "return_rate": 0.2}, weights) == 80.0
    # Nothing returned and nothing to sign: the rate present carries the whole weight.
    assert composite_score({"on_time_sign_rate": None, "return_rate": 0.1}, weights) == 90.0
    assert composite_score({}, weights) is None
    assert all(BY_KEY[k].higher_is_better is not None for k in RANKED)


def test_the_simulated_clock_holds_only_inside_its_block() -> None:
    past = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    with simulated_now(past):
        assert utcnow() == past
    assert utcnow().year >= 2026


def test_metrics_md_defines_every_measure_under_its_chinese_name() -> None:
    text = (Path(__file__).parents[2] / "docs" / "METRICS.md").read_text(encoding="utf-8")
    missing = [m.key for m in MEASURES if f"`{m.key}` {m.label}" not in text]
    assert missing == []
