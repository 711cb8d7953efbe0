"""Every bad input gets a 4xx naming the field, never a 500: ids, NUL, sizes, times, photos."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.websockets import WebSocketDisconnect

from dispatch.core.bounds import MAX_ID
from service.openapi import openapi_document
from tests.helpers import image_bytes
from tests.loop_fixtures import LiveServer, Loop
from tests.service.test_loop import report, report_body

PAST_64_BITS = MAX_ID + 1
PAST_32_BITS = 2**31


def field_of(response: httpx.Response) -> str:
    """Return the field a 422 names."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, dict) and detail["field"], detail
    return str(detail["field"])


@pytest.fixture
def event_id(loop: Loop) -> int:
    """Report an event in the demo township and return its id."""
    return report(loop)


def test_ids_past_64_bits_are_a_422_naming_the_field(loop: Loop, event_id: int) -> None:
    centre, grid = loop.token("centre"), loop.token("grid")
    get = loop.client.get
    assert field_of(get(f"/api/events/{PAST_64_BITS}", headers=centre)) == "path.event_id"
    assert field_of(get(f"/api/attachments/{PAST_64_BITS}", headers=centre)) == (
        "path.attachment_id"
    )
    # A grid worker may not mark events invalid, but a path no row can have is refused first.
    refused = loop.client.post(
        f"/api/events/{PAST_64_BITS}/invalid", json={"reason": "重复"}, headers=grid
    )
    assert field_of(refused) == "path.event_id"
    for offset in ("1e30", str(PAST_64_BITS), str(2**62)):
        listed = get("/api/events", params={"offset": offset}, headers=centre)
        assert field_of(listed) == "query.offset"
    listed = get("/api/events", params={"department": PAST_64_BITS}, headers=centre)
    assert field_of(listed) == "query.department"
    merged = loop.client.post(
        f"/api/events/{event_id}/merge", json={"into_id": PAST_64_BITS}, headers=centre
    )
    assert field_of(merged) == "into_id"
    moved = loop.client.post(
        f"/api/assignments/{PAST_64_BITS}/redispatch",
        json={"department_id": PAST_64_BITS, "reason": "改派"},
        headers=centre,
    )
    assert field_of(moved).endswith(("assignment_id", "department_id"))
    attached = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("现场.jpg", image_bytes())},
        data={"assignment_id": str(PAST_64_BITS)},
        headers=grid,
    )
    assert field_of(attached) == "assignment_id"


def test_ids_past_32_bits_are_not_found_not_a_server_error(loop: Loop, event_id: int) -> None:
    centre, grid = loop.token("centre"), loop.token("grid")
    assert loop.client.get(f"/api/events/{PAST_32_BITS}", headers=centre).status_code == 404
    assert loop.client.get(f"/api/attachments/{PAST_32_BITS}", headers=centre).status_code == 404
    listed = loop.client.get("/api/events", params={"department": PAST_32_BITS}, headers=centre)
    assert listed.status_code == 200 and listed.json()["count"] == 0
    merged = loop.client.post(
        f"/api/events/{event_id}/merge", json={"into_id": PAST_32_BITS}, headers=centre
    )
    assert merged.status_code == 404
    attached = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("现场.jpg", image_bytes())},
        data={"assignment_id": str(PAST_32_BITS)},
        headers=grid,
    )
    assert attached.status_code == 404 and attached.json()["detail"]["field"] == "assignment_id"


@pytest.mark.parametrize(("event", "code"), [(PAST_32_BITS, 4404), (PAST_64_BITS, 4422), (0, 4422)])
def test_a_websocket_for_an_id_that_cannot_be_closes_with_a_close_frame(
    loop: Loop, event: int, code: int
) -> None:
    token = loop.token("centre")["Authorization"].removeprefix("Bearer ")
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        loop.client.websocket_connect(
            f"/ws/events/{event}", subprotocols=["bearer", token]
        ) as socket,
    ):
        socket.receive_text()
    assert closed.value.code == code


def test_a_websocket_since_past_64_bits_closes_4422(loop: Loop) -> None:
    token = loop.token("centre")["Authorization"].removeprefix("Bearer ")
    url = f"/ws/boards/county?since={PAST_64_BITS}"
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        loop.client.websocket_connect(url, subprotocols=["bearer", token]) as socket,
    ):
        socket.receive_text()
    assert closed.value.code == 4422
    assert "since" in closed.value.reason


def test_nul_in_the_login_form_is_a_422_before_any_sign_in(loop: Loop) -> None:
    response = loop.client.post(
        "/api/auth/token",
        content=b"username=ad%00min&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert field_of(response) == "username"
    assert "NUL" in response.json()["detail"]["message"]


def test_nul_in_any_text_is_a_422_naming_the_field(loop: Loop, event_id: int) -> None:
    grid, centre = loop.token("grid"), loop.token("centre")
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/api/events", {"json": report_body(description="占道\x00经营")}, "description"),
        ("POST", "/api/events", {"json": report_body(address="东村\x00三组")}, "address"),
        ("GET", "/api/events", {"params": {"township": "3209\x00"}}, "query.township"),
        ("GET", "/api/events", {"params": {"matter": "C-\x00"}}, "query.matter"),
        ("GET", "/api/matters/suggest", {"params": {"text": "占道\x00"}}, "query.text"),
        ("POST", f"/api/events/{event_id}/invalid", {"json": {"reason": "重\x00复"}}, "reason"),
        ("POST", f"/api/events/{event_id}/rate", {"json": {"rating": 1, "note": "\x00"}}, "note"),
        ("POST", f"/api/events/{event_id}/triage", {"json": {"note": "a\x00"}}, "note"),
    ]
    for method, path, request, field in cases:
        response = loop.client.request(method, path, headers=centre, **request)
        assert field_of(response) == field, (path, request)
    reported = loop.client.post("/api/events", json=report_body(description="\x00"), headers=grid)
    assert field_of(reported) == "description"


def test_an_upload_named_with_a_nul_is_refused_and_leaves_no_file(
    loop: Loop, event_id: int
) -> None:
    # httpx would escape the NUL as %00; a hostile client sends the byte itself.
    body = (
        b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a\x00.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + image_bytes() + b"\r\n--cut--\r\n"
    )
    response = loop.client.post(
        f"/api/events/{event_id}/attachments",
        content=body,
        headers={**loop.token("grid"), "content-type": "multipart/form-data; boundary=cut"},
    )
    assert field_of(response) == "file"
    assert not list((loop.settings.data_dir / "attachments").rglob("*.*"))


def test_an_upload_whose_transaction_fails_leaves_no_file(loop: Loop, event_id: int) -> None:
    # The database refuses the write at the flush, after the photo was written to disk: the
    # rollback must take the file away again.
    from sqlalchemy import event as sa_event
    from sqlmodel import Session

    from dispatch.events.models import Step

    def refuse(_session: Session, _context: object, _instances: object) -> None:
        if any(isinstance(obj, Step) for obj in _session.new):
            raise RuntimeError("the database refused the step")

    sa_event.listen(Session, "before_flush", refuse)
    try:
        with pytest.raises(RuntimeError, match="refused the step"):
            loop.client.post(
                f"/api/events/{event_id}/attachments",
                files={"file": ("现场.jpg", image_bytes())},
                headers=loop.token("grid"),
            )
    finally:
        sa_event.remove(Session, "before_flush", refuse)
    assert not list((loop.settings.data_dir / "attachments").rglob("*.*"))


def test_a_chunked_body_over_the_limit_is_a_413(loop: Loop) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b"x" * (1024 * 1024)

    headers = {**loop.token("grid"), "content-type": "application/json"}
    with LiveServer(loop.settings) as server, server.client() as client:
        response = client.post("/api/events", content=chunks(), headers=headers)
        assert "content-length" not in response.request.headers
        upload = client.post(
            "/api/events/1/attachments",
            content=(b"--cut\r\n", b'Content-Disposition: form-data; name="file"; filename="a.jpg"'
                     b"\r\n\r\n", *chunks()),
            headers={**headers, "content-type": "multipart/form-data; boundary=cut"},
        )  # fmt: skip
        field = client.post(
            "/api/auth/token",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413, response.text
    assert response.json()["detail"]["field"] == "body"
    assert upload.status_code == 413, upload.text
    # Starlette refuses a form field over 1 MB before the body is over the limit.
    assert field.status_code == 413, field.text
    assert field.json()["detail"]["field"] == "body"


@pytest.mark.parametrize(
    "reported_at",
    ["0001-01-01T00:00:00", "0001-01-01T00:00:00+08:00", "1999-12-31T23:59:59+08:00",
     "9999-12-31T23:59:59-12:00", "2100-01-02T00:00:00Z"],
)  # fmt: skip
def test_a_report_from_outside_the_era_is_a_422(loop: Loop, reported_at: str) -> None:
    response = loop.client.post(
        "/api/events", json=report_body(reported_at=reported_at), headers=loop.token("grid")
    )
    assert field_of(response) == "reported_at"


def test_events_listed_since_year_one_are_a_422(loop: Loop) -> None:
    response = loop.client.get(
        "/api/events", params={"since": "0001-01-01T00:00:00+08:00"}, headers=loop.token("centre")
    )
    assert field_of(response) == "query.since"


def test_an_overlong_file_name_is_a_422_naming_the_file(loop: Loop, event_id: int) -> None:
    def upload(name: str) -> httpx.Response:
        return loop.client.post(
            f"/api/events/{event_id}/attachments",
            files={"file": (name, image_bytes())},
            headers=loop.token("grid"),
        )

    assert field_of(upload("x" * 300 + ".jpg")) == "file"
    # Past 4 KB the multipart parser refuses the part's header before any field is read.
    too_long = upload("现" * 10_000 + ".jpg")
    assert field_of(too_long) == "body"
    assert "255" in too_long.json()["detail"]["message"]
    assert upload("x" * 251 + ".jpg").status_code == 201


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0<script>alert(1)</script>",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"RIFF\x00\x00\x00\x00WEBPVP8 <html>",
        image_bytes()[:200],
    ],
    ids=["jpeg-header-then-script", "png-header-then-zeros", "webp-header-then-html", "cut-jpeg"],
)
def test_a_file_that_only_starts_like_an_image_is_refused(
    loop: Loop, event_id: int, data: bytes
) -> None:
    response = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        headers=loop.token("grid"),
    )
    assert field_of(response) == "file"
    assert not list((loop.settings.data_dir / "attachments").rglob("*.*"))


def test_a_decompression_bomb_is_refused(loop: Loop, event_id: int) -> None:
    bomb = image_bytes("PNG", size=(8000, 8000), mode="1")  # 64 Mpx in a few kB
    assert len(bomb) < 100_000
    response = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ("bomb.png", bomb)},
        headers=loop.token("grid"),
    )
    assert field_of(response) == "file"
    assert "像素" in response.json()["detail"]["message"]


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "WEBP"])
def test_photos_are_served_as_images_never_sniffed(loop: Loop, event_id: int, kind: str) -> None:
    headers = loop.token("grid")
    photo = image_bytes(kind)
    stored = loop.client.post(
        f"/api/events/{event_id}/attachments",
        files={"file": ('现场 "东村"\r\n.img', photo)},
        headers=headers,
    )
    assert stored.status_code == 201, stored.text
    fetched = loop.client.get(f"/api/attachments/{stored.json()['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.content == photo
    assert fetched.headers["content-type"] == f"image/{kind.lower()}"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("inline; filename*=utf-8''")
    assert '"' not in disposition.split("''", 1)[1] and "\r" not in disposition


def test_every_422_in_the_document_is_the_error_body_the_service_sends() -> None:
    document = openapi_document()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    invalid = [
        operation["responses"]["422"]
        for item in document["paths"].values()
        for operation in item.values()
        if "422" in operation["responses"]
    ]
    assert len(invalid) >= 20
    for response in invalid:
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert detail["properties"]["message"]["type"] == "string"
    assert {"code", "message"} <= set(detail["required"])


def test_a_body_that_is_not_utf8_or_not_json_is_a_422_naming_the_body(loop: Loop) -> None:
    headers = {**loop.token("grid"), "content-type": "application/json"}
    for content in (b"\x01A\xaa\xbbh\x18{k\xee\x10\xff", b'{"lon": 119.'):
        response = loop.client.post("/api/events", content=content, headers=headers)
        assert field_of(response) == "body"


def test_a_websocket_path_with_a_nul_closes_4422(loop: Loop) -> None:
    token = loop.token("centre")["Authorization"].removeprefix("Bearer ")
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        loop.client.websocket_connect(
            "/ws/boards/township/3209%00", subprotocols=["bearer", token]
        ) as socket,
    ):
        socket.receive_text()
    assert closed.value.code == 4422
    assert "code" in closed.value.reason
