"""The reference routes with two counties: ?county=, the signed-in user's county, or a 422."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from dispatch.core.settings import Settings
from service.app import create_app
from tests.two_counties import COUNTY_A, COUNTY_B, PASSWORD, POINT_B


@pytest.fixture(scope="module")
def client(two_county_database_url: str) -> Iterator[TestClient]:
    """Serve the app over the two counties."""
    with TestClient(create_app(Settings(DATABASE_URL=two_county_database_url))) as client:
        yield client


def signed_in(client: TestClient, username: str) -> dict[str, str]:
    """Sign in and return the Authorization header."""
    response = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def matters(client: TestClient, **params: str) -> dict[str, dict[str, object]]:
    """Return the matters in force by code for the given query."""
    response = client.get("/api/matters", params=params)
    assert response.status_code == 200, response.text
    return {m["code"]: m for m in response.json()["matters"]}


def test_each_county_serves_its_own_list(client: TestClient) -> None:
    a, b = matters(client, county=COUNTY_A), matters(client, county=COUNTY_B)
    assert set(a) == {"C-001", "C-002", "B-001"}
    assert set(b) == {"C-001", "C-003"}
    assert a["C-001"]["lead_department"] == "甲县综合行政执法局"
    assert b["C-001"]["lead_department"] == "乙县住房和城乡建设局"
    body = client.get("/api/matters", params={"county": COUNTY_B}).json()
    assert body["list"]["county_code"] == COUNTY_B


@pytest.mark.parametrize("path", ["/api/matters", "/api/matters/suggest?text=路边摆摊"])
def test_without_a_county_two_counties_are_a_422_naming_the_field(
    client: TestClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["field"] == "county"
    assert COUNTY_A in detail["message"] and COUNTY_B in detail["message"]
    assert "请用 county 指定" in detail["message"]


def test_an_unknown_county_is_a_422_naming_it(client: TestClient) -> None:
    response = client.get("/api/matters", params={"county": "999999"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["field"] == "county" and "999999" in detail["message"]


def test_suggestions_come_from_the_county_list(client: TestClient) -> None:
    text = "路边流动摊贩占道经营卖水果"

    def codes(county: str) -> list[str]:
        response = client.get("/api/matters/suggest", params={"text": text, "county": county})
        assert response.status_code == 200, response.text
        return [s["code"] for s in response.json()["suggestions"]]

    assert codes(COUNTY_A)[0] == "C-002"
    assert "C-002" not in codes(COUNTY_B)


@pytest.mark.parametrize(
    ("username", "county"),
    [("jia-town", COUNTY_A), ("yi-town", COUNTY_B), ("yi-zhujian", COUNTY_B)],
)
def test_a_signed_in_user_gets_their_own_county(
    client: TestClient, username: str, county: str
) -> None:
    headers = signed_in(client, username)
    body = client.get("/api/matters", headers=headers).json()
    assert body["list"]["county_code"] == county
    asked = client.get("/api/matters", headers=headers, params={"county": COUNTY_A}).json()
    assert asked["list"]["county_code"] == COUNTY_A  # asking names the county outright


def test_a_user_without_a_county_must_name_one(client: TestClient) -> None:
    response = client.get("/api/matters", headers=signed_in(client, "two-centre"))
    assert response.status_code == 422 and response.json()["detail"]["field"] == "county"


def test_a_stale_token_on_an_open_route_is_ignored_not_refused(client: TestClient) -> None:
    response = client.get(
        "/api/matters", params={"county": COUNTY_A}, headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 200


def test_config_spans_both_counties_unless_one_is_meant(client: TestClient) -> None:
    both = client.get("/api/config").json()
    assert both["county_name"] == "甲县、乙县"
    assert both["center"] == pytest.approx([20.1, 100.2])
    yi = client.get("/api/config", headers=signed_in(client, "yi-town")).json()
    assert yi["county_name"] == "乙县" and 100.2 < yi["center"][1] < 100.4
    jia = client.get("/api/config", params={"county": COUNTY_A}).json()
    assert jia["county_name"] == "甲县" and 100.0 < jia["center"][1] < 100.2
    assert client.get("/api/config", params={"county": "999999"}).status_code == 422


def test_route_preview_uses_the_list_of_the_county_of_the_point(client: TestClient) -> None:
    response = client.post(
        "/api/route/preview", json={"lon": POINT_B[0], "lat": POINT_B[1], "matter_code": "C-001"}
    )
    assert response.status_code == 200, response.text
    decision = response.json()["decision"]
    assert decision["outcome"] == "routed"
    assert decision["county"]["code"] == COUNTY_B
    assert decision["lead"]["department_name"] == "乙县住房和城乡建设局"
