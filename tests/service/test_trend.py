"""The assessment's trend over HTTP: Monday-to-Sunday weeks clipped to the period, whose parts
add up to the assessment's total; each reader's own rows; at most the last 26 weeks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from dispatch.reports.periods import Period
from dispatch.reports.trend import weeks_of
from tests.loop_fixtures import Loop
from tests.service.test_assessment import assessment, story  # noqa: F401  (the fixture)


def trend(loop: Loop, user: str = "centre", **params: Any) -> dict[str, Any]:
    """GET the trend as a user and expect 200."""
    response = loop.client.get("/api/reports/trend", params=params, headers=loop.token(user))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_weeks_run_monday_to_sunday_clipped_to_the_period() -> None:
    weeks = weeks_of(Period(date(2026, 11, 1), date(2026, 11, 30)))  # a Sunday to a Monday
    assert (weeks[0].first, weeks[0].last) == (date(2026, 11, 1), date(2026, 11, 1))
    assert (weeks[1].first, weeks[1].last) == (date(2026, 11, 2), date(2026, 11, 8))
    assert (weeks[-1].first, weeks[-1].last) == (date(2026, 11, 30), date(2026, 11, 30))
    assert len(weeks) == 6 and all(w.first.weekday() == 0 for w in weeks[1:])
    year = weeks_of(Period(date(2026, 1, 1), date(2026, 12, 31)))
    assert len(year) == 26 and year[-1].last == date(2026, 12, 31)
    assert year[0].first.weekday() == 0


def test_the_weeks_add_up_to_the_assessments_total(
    loop: Loop,
    story: dict[str, int],  # noqa: F811
) -> None:
    body = assessment(loop, by="department")
    span = {"from": body["first"], "to": body["last"]}
    weekly = trend(loop, **span)
    assert weekly["first"] == body["first"] and not weekly["truncated"]
    total = body["total"]["values"]
    for measure in ("parts", "completed", "returned", "due_for_signing", "signed_on_time"):
        assert sum(w["values"][measure] for w in weekly["weeks"]) == total[measure], measure
    busy = [w for w in weekly["weeks"] if w["values"]["parts"]]
    assert len(busy) == 1  # the story was told today
    assert busy[0]["values"]["on_time_sign_rate"] == total["on_time_sign_rate"]
    assert busy[0]["values"]["score"] == total["score"]
    quiet = [w for w in weekly["weeks"] if not w["values"]["parts"]]
    assert all(w["values"]["completion_rate"] is None for w in quiet)


def test_a_department_sees_its_own_weeks_and_a_long_period_only_the_last_26(
    loop: Loop,
    story: dict[str, int],  # noqa: F811
) -> None:
    body = assessment(loop, "zhifa", by="department")
    mine = trend(loop, "zhifa", **{"from": body["first"], "to": body["last"]})
    assert sum(w["values"]["parts"] for w in mine["weeks"]) == body["total"]["values"]["parts"]
    assert body["total"]["values"]["parts"] < assessment(loop)["total"]["values"]["parts"]
    last = date.fromisoformat(body["last"])
    long = trend(loop, **{"from": (last - timedelta(days=400)).isoformat(), "to": body["last"]})
    assert long["truncated"] and len(long["weeks"]) == 26
    assert long["weeks"][-1]["last"] == body["last"]
    refused = loop.client.get("/api/reports/trend", headers=loop.token("grid"))
    assert refused.status_code == 403
