"""Every error body carries a machine code and a Chinese message with no English in it.

The rule: `code` is snake_case; in `message`, once the spans quoted in 「」 (field paths,
values, codes) and a few names that have no Chinese word (JSON, UTF-8, MB, …) are taken out,
no ASCII letter is left. Each problem of a 422 obeys the same rule.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.helpers import demo_grid_point
from tests.loop_fixtures import Loop
from tests.service.test_loop import XINSHI, report, report_body

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
QUOTED = re.compile(r"「[^」]*」")
NAMES = re.compile(r"JSON|UTF-8|UUID|MB|JPEG|PNG|WebP|NUL|https?://")


def english_left(message: str) -> str:
    """Return the ASCII letters a message still holds once quotes and allowed names go."""
    return "".join(re.findall(r"[A-Za-z]", NAMES.sub("", QUOTED.sub("", message))))


def assert_worded(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the status, the code and the Chinese wording of an error body; return it."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code, detail
    for item in [detail, *(detail.get("problems") or [])]:
        assert CODE.match(item["code"]), item
        assert re.search(r"[\u4e00-\u9fff]", item["message"]), item
        assert english_left(item["message"]) == "", item
    return dict(detail)


def test_the_rule_catches_english() -> None:
    assert english_left("用户名或密码错误 Incorrect username or password") != ""
    assert english_left("「lon」应为数字；请求体不是有效的 JSON") == ""


@pytest.fixture
def grid(loop: Loop) -> dict[str, str]:
    return loop.token("grid")


def test_sign_in_refusals_are_worded(loop: Loop) -> None:
    wrong = loop.client.post("/api/auth/token", data={"username": "grid", "password": "nope"})
    assert assert_worded(wrong, 401, "bad_credentials")["message"] == "用户名或密码错误"
    missing = loop.client.post("/api/auth/token", data={"username": "grid"})
    detail = assert_worded(missing, 422, "missing")
    assert detail["message"] == "「密码」为必填项" and detail["field"] == "password"
    assert_worded(loop.client.get("/api/events/1"), 401, "not_signed_in")
    forged = loop.client.get("/api/events/1", headers={"Authorization": "Bearer x.y.z"})
    assert_worded(forged, 401, "invalid_token")


BAD_REPORTS: list[tuple[dict[str, Any], str, str, str]] = [
    ({"lon": "abc"}, "float_parsing", "lon", "「经度」应为数字"),
    ({"lat": 95}, "less_than_equal", "lat", "「纬度」应不大于 90"),
    ({"description": "x" * 4001}, "string_too_long", "description", "「描述」不能超过 4000 个字"),
    ({"description": "   "}, "value_error", "description", "描述不能为空"),
    ({"crs": "utm"}, "enum", "crs", "「坐标系」取值应为「wgs84」「gcj02」「bd09」之一"),
    ({"client_id": "not-a-uuid"}, "uuid_parsing", "client_id", "「客户端编号」应为 UUID"),
    ({"lon": 118.0, "lat": 31.0}, "outside_jurisdiction", "lon", ""),
    (
        {"matter_code": "Z-999"},
        "unknown_matter",
        "matter_code",
        "事项编码「Z-999」不在现行责任清单中",
    ),
    ({"reported_at": "2099-01-01T08:00:00+08:00"}, "in_the_future", "reported_at", ""),
]


@pytest.mark.parametrize(("change", "code", "field", "message"), BAD_REPORTS)
def test_a_bad_report_is_refused_in_words(
    loop: Loop, grid: dict[str, str], change: dict[str, Any], code: str, field: str, message: str
) -> None:
    response = loop.client.post("/api/events", json={**report_body(), **change}, headers=grid)
    detail = assert_worded(response, 422, code)
    assert detail["field"] == field
    if message:
        assert detail["message"] == message


def test_a_future_time_is_written_in_beijing_time(loop: Loop, grid: dict[str, str]) -> None:
    body = {**report_body(), "reported_at": "2099-01-01T00:30:00+00:00"}
    detail = assert_worded(
        loop.client.post("/api/events", json=body, headers=grid), 422, "in_the_future"
    )
    assert detail["message"] == "上报时间 2099/01/01 08:30 晚于当前时间"


def test_a_missing_body_names_each_field_in_chinese(loop: Loop, grid: dict[str, str]) -> None:
    detail = assert_worded(loop.client.post("/api/events", json={}, headers=grid), 422, "missing")
    messages = {p["field"]: p["message"] for p in detail["problems"]}
    assert messages["description"] == "「描述」为必填项"
    assert messages["lon"] == "「经度」为必填项"


def test_unreadable_bodies_and_unknown_routes_are_worded(loop: Loop, grid: dict[str, str]) -> None:
    headers = {**grid, "Content-Type": "application/json"}
    broken = loop.client.post("/api/events", content=b'{"lon": ', headers=headers)
    assert assert_worded(broken, 422, "json_invalid")["message"] == "请求体不是有效的 JSON"
    binary = loop.client.post("/api/events", content=b"\xff\xfe\x00{", headers=headers)
    assert binary.status_code == 422 and binary.json()["detail"]["code"] in {
        "json_invalid",
        "body_unreadable",
    }
    assert_worded(binary, 422, binary.json()["detail"]["code"])
    assert_worded(loop.client.get("/api/no-such-thing", headers=grid), 404, "not_found")
    assert_worded(loop.client.delete("/api/events", headers=grid), 405, "method_not_allowed")
    by_path = loop.client.get("/api/events/abc", headers=grid)
    assert assert_worded(by_path, 422, "int_parsing")["message"] == "「事件编号」应为整数"
    assert_worded(loop.client.get("/api/events/99999", headers=grid), 404, "not_found")


def test_a_refused_transition_says_the_status_and_the_action_in_chinese(loop: Loop) -> None:
    event_id = report(loop)
    zhifa = loop.token("zhifa")
    detail = loop.client.get(f"/api/events/{event_id}", headers=zhifa).json()
    lead = next(a for a in detail["assignments"] if a["role"] == "lead")
    sign = f"/api/assignments/{lead['id']}/sign"
    assert loop.client.post(sign, headers=zhifa).status_code == 200
    again = assert_worded(loop.client.post(sign, headers=zhifa), 409, "status_conflict")
    assert again["message"] == "任务当前状态为「处置中」，不能签收"
    assert (again["status"], again["action"]) == ("signed", "sign")
    blank = loop.client.post(
        f"/api/assignments/{lead['id']}/return",
        json={"reason": " ", "clause_code": "x"},
        headers=zhifa,
    )
    assert assert_worded(blank, 422, "field_required")["field"] == "reason"
    rated = loop.client.post(
        f"/api/events/{event_id}/rate", json={"rating": 9}, headers=loop.token("township")
    )
    assert rated.status_code == 422 and english_left(rated.json()["detail"]["message"]) == ""


def test_a_grid_worker_refused_an_action_is_told_in_chinese(
    loop: Loop, grid: dict[str, str]
) -> None:
    event_id = report(loop)
    refused = loop.client.post(
        f"/api/events/{event_id}/invalid", json={"reason": "重复"}, headers=grid
    )
    assert_worded(refused, 403, "forbidden")


def test_coordinates_out_of_range_are_worded(loop: Loop, grid: dict[str, str]) -> None:
    lon, lat = demo_grid_point(XINSHI, nth=1)
    located = loop.client.get(
        "/api/locate", params={"lon": lon, "lat": lat, "crs": "utm"}, headers=grid
    )
    assert located.status_code == 422
    assert english_left(located.json()["detail"]["message"]) == ""


def test_a_photo_sent_as_text_is_refused_in_words(loop: Loop, grid: dict[str, str]) -> None:
    # FastAPI's own check ("Expected UploadFile, received: str") is worded, never passed on.
    sent = loop.client.post("/api/events/1/attachments", data={"file": "不是文件"}, headers=grid)
    detail = assert_worded(sent, 422, "value_error")
    assert detail["message"].endswith("应为上传的文件"), detail


def test_a_sent_key_holding_corner_brackets_stays_inside_its_quote(loop: Loop) -> None:
    # The path of a NUL names the sender's own key; its 」 must not end the quote early.
    centre = loop.token("centre")
    body = report_body(description="占道经营")
    body["extra"] = {"表「台账」 sheet": "x\x00y"}
    response = loop.client.post("/api/events", json=body, headers=centre)
    detail = assert_worded(response, 422, "string_nul")
    assert "『台账』" in detail["message"], detail
