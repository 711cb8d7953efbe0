"""One table maps domain errors to HTTP statuses and, from those, to websocket close codes."""

from __future__ import annotations

import pytest

from dispatch.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from service.errors import close_code_for, status_for


@pytest.mark.parametrize(
    ("error", "status", "close"),
    [
        (Unauthorized("未登录"), 401, 4401),
        (Forbidden("无权"), 403, 4403),
        (NotFound("不存在"), 404, 4404),
        (Conflict("状态不符"), 409, 4409),
        (InvalidInput("不合法"), 422, 4422),
    ],
)
def test_a_websocket_closes_with_the_code_of_its_http_status(
    error: Exception, status: int, close: int
) -> None:
    assert status_for(error) == status
    assert close_code_for(error) == close
