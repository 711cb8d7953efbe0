"""A county's settings for supervision, extensions and escalations, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.loop_fixtures import Loop

DEFAULT_RULES = [
    {"deadline": "sign", "overdue_working_days": 0, "level": "normal"},
    {"deadline": "handle", "overdue_working_days": 1, "level": "yellow"},
    {"deadline": "handle", "overdue_working_days": 3, "level": "red"},
]


DEFAULT_WEIGHTS = {
    "on_time_sign_rate": 0.15,
    "on_time_completion_rate": 0.30,
    "completion_rate": 0.15,
    "return_rate": 0.10,
    "rework_rate": 0.10,
    "satisfaction_rate": 0.20,
}


@pytest.fixture
def restored(loop: Loop) -> Iterator[Loop]:
    """Hand the loop over; put the county's defaults back afterwards (other tests rely on them)."""
    yield loop
    defaults = {
        "extension_limit_days": 20,
        "escalation_sign_hours": 2,
        "supervision_rules": DEFAULT_RULES,
        "ranking_weights": DEFAULT_WEIGHTS,
        "matter_weights": {},
    }
    loop.client.put("/api/county-rules", json=defaults, headers=loop.token("admin"))


def put(loop: Loop, body: dict[str, Any], user: str = "admin") -> Any:
    return loop.client.put("/api/county-rules", json=body, headers=loop.token(user))


def test_every_user_reads_the_county_settings_defaults_included(loop: Loop) -> None:
    for user in ("zhifa", "township", "centre"):
        answer = loop.client.get("/api/county-rules", headers=loop.token(user))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["county_code"] == "320999"
        assert body["extension_limit_days"] == 20
        assert body["escalation_sign_hours"] == 2
        assert body["supervision_rules"] == DEFAULT_RULES


def test_the_admin_changes_them_and_everyone_reads_the_change(restored: Loop) -> None:
    loop = restored
    rules = [{"deadline": "handle", "overdue_working_days": 2, "level": "red"}]
    changed = put(loop, {"extension_limit_days": 10, "supervision_rules": rules})
    assert changed.status_code == 200, changed.text
    assert changed.json()["is_default"] is False
    read = loop.client.get("/api/county-rules", headers=loop.token("zhifa")).json()
    assert read["extension_limit_days"] == 10
    assert read["escalation_sign_hours"] == 2  # not given, so kept
    assert read["supervision_rules"] == rules


@pytest.mark.parametrize("user", ["centre", "zhifa", "bianban"])
def test_only_the_admin_changes_them(loop: Loop, user: str) -> None:
    refused = put(loop, {"extension_limit_days": 5}, user=user)
    assert refused.status_code == 403
    assert (
        loop.client.get("/api/county-rules", headers=loop.token("zhifa")).json()[
            "extension_limit_days"
        ]
        == 20
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"extension_limit_days": -1}, "extension_limit_days"),
        ({"extension_limit_days": 2**40}, "extension_limit_days"),
        ({"escalation_sign_hours": 0}, "escalation_sign_hours"),
        (
            {"supervision_rules": [{"deadline": "sign", "overdue_working_days": 0, "level": "x"}]},
            "level",
        ),
        (
            {"supervision_rules": [DEFAULT_RULES[0], DEFAULT_RULES[0]]},
            "supervision_rules",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    restored: Loop, body: dict[str, Any], field: str
) -> None:
    refused = put(restored, body)
    assert refused.status_code == 422, refused.text
    assert field in refused.text
    read = restored.client.get("/api/county-rules", headers=restored.token("admin")).json()
    assert read["supervision_rules"] == DEFAULT_RULES


def test_the_ranking_and_matter_weights_are_county_data_with_defaults(restored: Loop) -> None:
    loop = restored
    before = loop.client.get("/api/county-rules", headers=loop.token("centre")).json()
    assert before["ranking_weights"] == DEFAULT_WEIGHTS and before["matter_weights"] == {}
    weights = {"on_time_completion_rate": 0.5, "satisfaction_rate": 0.5}
    changed = put(loop, {"ranking_weights": weights, "matter_weights": {"C-004": 2.5}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["ranking_weights"] == weights
    assert changed.json()["matter_weights"] == {"C-004": 2.5}
    # The assessment scores by the county's weights from now on.
    body = loop.client.get("/api/reports/assessment", headers=loop.token("centre")).json()
    assert body["weights"] == weights


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"ranking_weights": {"speed": 1.0}}, "未知的指标"),
        ({"ranking_weights": {"return_rate": 0.5, "rework_rate": 0.4}}, "之和应为 1"),
        ({"ranking_weights": {"return_rate": 1.5, "rework_rate": -0.5}}, "0 到 1"),
        ({"matter_weights": {"C-004": 0}}, "大于 0"),
        ({"matter_weights": {"": 1}}, "事项编码"),
    ],
)
def test_bad_weights_are_refused_naming_the_field(
    loop: Loop, body: dict[str, Any], words: str
) -> None:
    answer = put(loop, body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert words in detail["message"] and detail["field"] in body
