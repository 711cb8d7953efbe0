"""Folding a change into a draft and comparing versions: pure functions over MatterRules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.core.errors import Conflict
from dispatch.reference.lists.drafts import diff_rules, fold_change
from dispatch.reference.lists.rules import MatterRule, MatterRules
from dispatch.reference.models import HandlingMode

NAMES = {1: "县综合行政执法局", 2: "县市场监督管理局", 3: "县公安局"}


def rule(code: str = "C-004", row: int = 1, **changes: object) -> MatterRule:
    base = MatterRule(
        code=code,
        name="占道经营",
        row_number=row,
        platform_code="zhzf",
        keywords=("占道", "摆摊"),
        lead_department_id=1,
        co_department_ids=(2,),
        department_duties="依法查处",
        township_duties=("巡查发现",),
        township_duties_text="巡查发现",
        mode=HandlingMode.DEPARTMENT,
        sign_hours=4,
        handle_days=3,
        legal_basis="条例第十四条",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def rules(*matters: MatterRule, version: int = 3) -> MatterRules:
    return MatterRules(
        list_id=9, county_code="320999", version=version, effective_from=None, matters=matters
    )


def name_of(department_id: int) -> str:
    return NAMES[department_id]


def test_moving_the_lead_drops_it_from_the_cooperators() -> None:
    moved, new = fold_change(rules(rule()), "move_lead", "c-004", {"lead_department_id": 2})
    assert not new
    assert moved.lead_department_id == 2 and moved.co_department_ids == ()


def test_a_change_already_made_in_the_draft_no_longer_applies() -> None:
    draft = rules(rule(lead_department_id=2, co_department_ids=()))
    with pytest.raises(Conflict) as stale:
        fold_change(draft, "move_lead", "C-004", {"lead_department_id": 2})
    assert stale.value.code == "change_stale" and "已不适用" in stale.value.message
    with pytest.raises(Conflict):
        fold_change(rules(rule()), "add_co", "C-004", {"co_department_ids": [2]})
    with pytest.raises(Conflict):
        fold_change(rules(rule()), "add_keywords", "C-004", {"keywords": ["占道"]})
    with pytest.raises(Conflict):
        fold_change(rules(rule()), "new_matter", "C-004", {"name": "重复", "lead_department_id": 1})
    with pytest.raises(Conflict):
        fold_change(rules(rule()), "add_keywords", "Z-999", {"keywords": ["新词"]})


def test_cooperators_and_keywords_are_added_once() -> None:
    added, _ = fold_change(rules(rule()), "add_co", "C-004", {"co_department_ids": [3, 2]})
    assert added.co_department_ids == (2, 3)
    words, _ = fold_change(rules(rule()), "add_keywords", "C-004", {"keywords": ["占道", "早市"]})
    assert words.keywords == ("占道", "摆摊", "早市")


def test_a_new_matter_takes_the_next_row_number() -> None:
    fresh, new = fold_change(
        rules(rule(row=1), rule("C-005", row=7)),
        "new_matter",
        "X-101",
        {
            "name": "共享单车乱停放",
            "lead_department_id": 1,
            "co_department_ids": [1, 3],
            "township_duties_text": "巡查发现并劝阻",
            "handle_days": 3,
        },
    )
    assert new and fresh.row_number == 8 and fresh.name == "共享单车乱停放"
    assert fresh.co_department_ids == (3,)  # the lead is not its own cooperator
    assert "巡查发现" in fresh.township_duties and fresh.handle_days == 3


def test_the_diff_names_each_changed_column_with_department_names() -> None:
    old = rules(rule(), rule("C-009", row=2, name="噪声"), version=2)
    new = rules(
        rule(lead_department_id=2, co_department_ids=(), keywords=("占道", "摆摊", "早市")),
        rule("X-101", row=3, name="共享单车乱停放"),
    )
    by_code = {c.code: c for c in diff_rules(old, new, name_of)}
    assert {code: c.change for code, c in by_code.items()} == {
        "C-004": "changed",
        "X-101": "added",
        "C-009": "removed",
    }
    columns = {c.column: (c.label, c.old, c.new) for c in by_code["C-004"].columns}
    assert columns == {
        "lead": ("牵头部门", "县综合行政执法局", "县市场监督管理局"),
        "co": ("配合部门", "县市场监督管理局", ""),
        "keywords": ("关键词", "占道、摆摊", "占道、摆摊、早市"),
    }
    assert all(c.old == "" for c in by_code["X-101"].columns)
    assert all(c.new == "" for c in by_code["C-009"].columns)
    assert diff_rules(old, old, name_of) == []
