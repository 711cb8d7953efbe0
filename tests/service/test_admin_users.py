"""The administrator's user routes and the reference data status, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from dispatch.users.admin import GENERATED_LENGTH
from tests.loop_fixtures import Loop

XINSHI = "320999004"


def new_name() -> str:
    """Return a username nobody has yet."""
    return f"u{uuid4().hex[:10]}"


def add(loop: Loop, **body: Any) -> dict[str, Any]:
    """Add a user as the admin; return the answer's body."""
    payload = {"username": new_name(), "role": "grid_worker", "township_code": XINSHI, **body}
    response = loop.client.post("/api/users", json=payload, headers=loop.token("admin"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def sign_in(client: TestClient, username: str, password: str) -> dict[str, str] | None:
    """Sign in; return the Authorization header, or None when refused."""
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    if response.status_code != 200:
        return None
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.parametrize("user", ["grid", "township", "zhifa", "centre"])
def test_only_the_admin_manages_users(loop: Loop, user: str) -> None:
    headers = loop.token(user)
    assert loop.client.get("/api/users", headers=headers).status_code == 403
    refused = loop.client.post(
        "/api/users", json={"username": new_name(), "role": "command_centre"}, headers=headers
    )
    assert refused.status_code == 403
    assert "系统管理员" in refused.json()["detail"]["message"]
    assert loop.client.get("/api/reference/status", headers=headers).status_code == 403


def test_the_admin_lists_and_searches_users(loop: Loop) -> None:
    headers = loop.token("admin")
    everyone = loop.client.get("/api/users", headers=headers).json()
    names = [u["username"] for u in everyone["data"]]
    assert {"grid", "township", "zhifa", "shichang", "centre", "admin"} <= set(names)
    assert names == sorted(names)
    zhifa = loop.client.get("/api/users", params={"q": "执法"}, headers=headers).json()
    assert [u["username"] for u in zhifa["data"]] == ["zhifa"]
    assert zhifa["data"][0]["department_name"] == "县综合行政执法局"
    grids = loop.client.get("/api/users", params={"role": "grid_worker"}, headers=headers).json()
    assert grids["count"] >= 1 and all(u["role"] == "grid_worker" for u in grids["data"])
    assert "password_hash" not in str(everyone)


def test_a_generated_password_is_shown_once_and_signs_in(loop: Loop) -> None:
    created = add(loop, display_name="东村网格员")
    password = created["generated_password"]
    assert len(password) == GENERATED_LENGTH
    user = created["user"]
    assert user["active"] and user["township_name"] == "新市镇"
    assert sign_in(loop.client, user["username"], password) is not None
    listed = loop.client.get(
        "/api/users", params={"q": user["username"]}, headers=loop.token("admin")
    ).json()
    assert "generated_password" not in str(listed) and password not in str(listed)


def test_a_chosen_password_is_not_echoed(loop: Loop) -> None:
    created = add(loop, role="command_centre", township_code=None, password="zhongxin-2026")
    assert created["generated_password"] is None
    assert sign_in(loop.client, created["user"]["username"], "zhongxin-2026") is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "grid_worker", "township_code": None}, "township_code"),
        ({"role": "grid_worker", "township_code": "320999"}, "township_code"),
        ({"role": "department_staff", "township_code": None}, "department_id"),
        (
            {"role": "department_staff", "township_code": XINSHI, "department_id": 1},
            "township_code",
        ),
        ({"role": "command_centre"}, "township_code"),
        ({"username": "X"}, "username"),
        ({"password": "short"}, "password"),
    ],
    ids=[
        "grid-without-township",
        "grid-in-a-county",
        "staff-without-department",
        "staff-with-a-township",
        "centre-with-a-township",
        "bad-username",
        "short-password",
    ],
)
def test_a_scope_that_does_not_fit_the_role_is_refused(
    loop: Loop, body: dict[str, Any], field: str
) -> None:
    payload = {"username": new_name(), "role": "grid_worker", "township_code": XINSHI, **body}
    response = loop.client.post("/api/users", json=payload, headers=loop.token("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["field"] == field


def test_a_taken_username_is_a_conflict(loop: Loop) -> None:
    response = loop.client.post(
        "/api/users",
        json={"username": "Grid", "role": "grid_worker", "township_code": XINSHI},
        headers=loop.token("admin"),
    )
    assert response.status_code == 409


def test_a_deactivated_users_token_stops_working_and_reactivation_needs_a_new_password(
    loop: Loop,
) -> None:
    created = add(loop)
    user, password = created["user"], created["generated_password"]
    token = sign_in(loop.client, user["username"], password)
    assert token is not None
    assert loop.client.get("/api/auth/me", headers=token).status_code == 200
    admin = loop.token("admin")

    gone = loop.client.post(f"/api/users/{user['id']}/deactivate", headers=admin)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert loop.client.get("/api/auth/me", headers=token).status_code == 401
    assert sign_in(loop.client, user["username"], password) is None
    again = loop.client.post(f"/api/users/{user['id']}/deactivate", headers=admin)
    assert again.status_code == 409

    back = loop.client.post(f"/api/users/{user['id']}/reactivate", json={}, headers=admin)
    assert back.status_code == 200, back.text
    assert back.json()["user"]["active"] is True
    assert loop.client.get("/api/auth/me", headers=token).status_code == 401  # still dead
    assert sign_in(loop.client, user["username"], password) is None
    assert sign_in(loop.client, user["username"], back.json()["generated_password"]) is not None


def test_a_password_reset_ends_the_old_tokens(loop: Loop) -> None:
    created = add(loop)
    user = created["user"]
    token = sign_in(loop.client, user["username"], created["generated_password"])
    assert token is not None
    reset = loop.client.post(
        f"/api/users/{user['id']}/password",
        json={"password": "linshi-mima-1"},
        headers=loop.token("admin"),
    )
    assert reset.status_code == 200 and reset.json()["generated_password"] is None
    assert loop.client.get("/api/auth/me", headers=token).status_code == 401
    assert sign_in(loop.client, user["username"], "linshi-mima-1") is not None


def test_a_role_change_checks_the_scope_and_ends_the_old_tokens(loop: Loop) -> None:
    created = add(loop)
    user = created["user"]
    token = sign_in(loop.client, user["username"], created["generated_password"])
    assert token is not None
    admin = loop.token("admin")
    departments = loop.client.get("/api/departments", headers=admin).json()
    zhifa = next(d for d in departments if d["name"] == "县综合行政执法局")

    unfit = loop.client.put(
        f"/api/users/{user['id']}/role",
        json={"role": "department_staff", "township_code": XINSHI},
        headers=admin,
    )
    assert unfit.status_code == 422 and unfit.json()["detail"]["field"] == "township_code"
    moved = loop.client.put(
        f"/api/users/{user['id']}/role",
        json={"role": "department_staff", "department_id": zhifa["id"]},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["department_name"] == "县综合行政执法局"
    assert moved.json()["township_code"] is None
    assert loop.client.get("/api/auth/me", headers=token).status_code == 401


def test_the_admin_cannot_lock_themselves_out(loop: Loop) -> None:
    admin = loop.token("admin")
    me = loop.client.get("/api/auth/me", headers=admin).json()
    assert loop.client.post(f"/api/users/{me['id']}/deactivate", headers=admin).status_code == 409
    demoted = loop.client.put(
        f"/api/users/{me['id']}/role", json={"role": "command_centre"}, headers=admin
    )
    assert demoted.status_code == 409
    assert loop.client.get("/api/auth/me", headers=admin).status_code == 200


def test_an_unknown_user_is_not_found(loop: Loop) -> None:
    response = loop.client.post("/api/users/987654321/deactivate", headers=loop.token("admin"))
    assert response.status_code == 404


def test_two_admins_deactivating_at_once_one_wins(loop: Loop) -> None:
    user = add(loop)["user"]
    admin = loop.token("admin")

    def deactivate(_: int) -> int:
        return loop.client.post(f"/api/users/{user['id']}/deactivate", headers=admin).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(deactivate, range(2)))
    assert statuses == [200, 409]


def test_reference_status_counts_the_demo_county(loop: Loop) -> None:
    response = loop.client.get("/api/reference/status", headers=loop.token("admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    layers = {layer["level"]: layer for layer in body["layers"]}
    assert layers["county"]["count"] == 1
    assert layers["township"]["count"] > 1 and layers["township"]["imported_at"]
    kinds = {k["kind"]: k["count"] for k in body["departments"]}
    assert kinds["county_department"] > 0 and kinds["township_platform"] > 0
    assert body["departments_total"] == sum(kinds.values())
    in_force = [v for v in body["lists"] if v["in_force"]]
    assert len(in_force) == 1 and in_force[0]["matter_count"] > 0
    years = [y["year"] for y in body["calendar"]["years"]]
    assert 2026 in years and years == sorted(years)
    calendar = body["calendar"]
    assert calendar["next_year_missing"] == (calendar["next_year"] not in years)


def test_two_admins_resetting_the_same_version_at_once_one_wins(loop: Loop) -> None:
    user = add(loop)["user"]
    admin = loop.token("admin")

    def reset(n: int) -> int:
        body = {"password": f"linshi-mima-{n}", "version": user["version"]}
        url = f"/api/users/{user['id']}/password"
        return loop.client.post(url, json=body, headers=admin).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(reset, range(2)))
    assert statuses == [200, 409]


def test_a_change_against_an_old_version_is_refused(loop: Loop) -> None:
    user = add(loop)["user"]
    admin = loop.token("admin")
    url = f"/api/users/{user['id']}"
    moved = loop.client.put(
        f"{url}/role",
        json={"role": "command_centre", "version": user["version"]},
        headers=admin,
    )
    assert moved.status_code == 200 and moved.json()["version"] != user["version"]
    stale = loop.client.post(f"{url}/deactivate", json={"version": user["version"]}, headers=admin)
    assert stale.status_code == 409
    assert stale.json()["detail"]["field"] == "version"
    assert "刷新" in stale.json()["detail"]["message"]
    current = loop.client.post(
        f"{url}/deactivate", json={"version": moved.json()["version"]}, headers=admin
    )
    assert current.status_code == 200
