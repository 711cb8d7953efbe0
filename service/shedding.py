"""Load shedding for intake: past capacity, POST /api/events gets 503 and Retry-After at once.

Three signals, any of which refuses a report before its body is read (so a refusal costs
almost nothing however many arrive):

- the group commit's queue would keep it waiting over intake.MAX_WAIT_S (`IntakeLoad`);
- the event loop runs persistently behind (`LoopLag`): the process is starved of CPU;
- more reports are in the server's hands than it answers in time (`InFlight`): an adaptive
  limit on reports read and not yet answered, cut when they take too long and raised slowly
  while they are quick. This one sees the wait before a report reaches the committer, in the
  event loop's queue of ready work, which neither of the others can.

The phone keeps a refused report and sends it again with the same client_id after the
Retry-After (plus jitter), so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body, send_error
from service.intake import MAX_WAIT_S, RETRY_AFTER_MAX_S, IntakeCommitter

OVERLOADED = "服务繁忙，请稍后重试"
INTAKE_PATH = "/api/events"

# The event loop is "behind" when its timers run this late on average: the process is
# starved of CPU (by its own work or the machine's), and every request it has not read yet
# waits too. An average, so one late tick (a password hashed, a garbage collection) is not.
LAG_TICK_S = 0.02
LAG_LIMIT_S = 0.25
LAG_WEIGHT = 0.2


class LoopLag:
    """How far behind the event loop runs: a moving average of a timer's late starts.

    A starved process cannot see the time requests spend in the kernel's queue before it
    reads them, but it sees its own timers fire late; past LAG_LIMIT_S intake is refused at
    once, which is cheap, so the work already taken gets the CPU back.
    """

    def __init__(self, tick_s: float = LAG_TICK_S) -> None:
        self.tick_s = tick_s
        self.lag_s = 0.0

    def observe(self, late_s: float) -> None:
        """Fold in one tick's lateness."""
        self.lag_s += LAG_WEIGHT * (late_s - self.lag_s)

    def retry_after(self) -> int | None:
        """Return the seconds to tell a phone to wait while the loop is behind, else None."""
        if self.lag_s <= LAG_LIMIT_S:
            return None
        return min(max(math.ceil(2 * self.lag_s), 1), RETRY_AFTER_MAX_S)

    async def watch(self) -> None:
        """Measure the loop's lateness every tick, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tick_s
            await asyncio.sleep(self.tick_s)
            self.observe(max(loop.time() - due, 0.0))


# The in-flight limit: where it starts, its bounds, how hard and how often it is cut when
# reports take longer than MAX_WAIT_S from their body read to their answer, and the window
# over which answers and refusals are counted for the Retry-After.
FIRST_LIMIT = 128
MIN_LIMIT, MAX_LIMIT = 8, 4096
CUT = 0.75
CUT_EVERY_S = 0.1
WINDOW_S = 1.0


class InFlight:
    """An adaptive limit on the reports read and not yet answered (additive increase,
    multiplicative decrease on the time they take, as TCP does with its window; below its
    first value it grows back by one a quick answer, as TCP's slow start does).

    Little's law: a server answering X reports a second with N in its hands keeps each about
    N / X seconds, so holding N near X × MAX_WAIT_S keeps the answers prompt whatever X is
    today; the limit finds that N from the answers' times without knowing X. Counted from a
    report's last body byte (a phone slow to upload is not the server's wait) to the start of
    its answer. Used by the event loop's thread only.
    """

    def __init__(self, limit: float = FIRST_LIMIT) -> None:
        self.limit = float(limit)
        self.count = 0
        self._cut_at = -math.inf
        self._window_at = -math.inf
        self._answered = [0, 0]  # this window's, the last window's
        self._refused = [0, 0]

    def has_room(self, now: float) -> bool:
        """Say whether a report may be read now; a refusal is counted for the Retry-After."""
        if self.count < self.limit:
            return True
        self._tally(now, self._refused)
        return False

    def began(self) -> None:
        """Count a report whose body has been read."""
        self.count += 1

    def answered(self, took_s: float, now: float) -> None:
        """Count a report answered, and move the limit by the time it took."""
        self.count -= 1
        self._tally(now, self._answered)
        if took_s > MAX_WAIT_S:
            # Cut once per interval: the late answers of one crowd come together.
            if now - self._cut_at >= CUT_EVERY_S:
                self.limit = max(MIN_LIMIT, self.limit * CUT)
                self._cut_at = now
        elif self.count >= self.limit / 2:  # grow only while the limit is near use
            # Below where it started, back by one a quick answer (TCP's slow start): a burst
            # after a slow moment is not refused for long. Above, by one a limit's worth.
            step = 1.0 if self.limit < FIRST_LIMIT else 1 / self.limit
            self.limit = min(MAX_LIMIT, self.limit + step)

    def abandoned(self) -> None:
        """Count a report read but never answered (its client went away)."""
        self.count -= 1

    def retry_after(self, now: float) -> int:
        """Return how long a refused phone should wait: refusals per answer, recently.

        The phones refused will come back; spread over as many seconds as it takes to
        answer that many, they find room instead of crowding in again together.
        """
        self._tally(now, None)
        refused, answered = sum(self._refused), sum(self._answered)
        return min(max(math.ceil(refused / max(answered, 1)), 1), RETRY_AFTER_MAX_S)

    def _tally(self, now: float, counts: list[int] | None) -> None:
        if now - self._window_at >= WINDOW_S:  # a new window; the last one kept if adjacent
            adjacent = now - self._window_at < 2 * WINDOW_S
            for kept in (self._answered, self._refused):
                kept[1] = kept[0] if adjacent else 0
                kept[0] = 0
            self._window_at = now
        if counts is not None:
            counts[0] += 1


class IntakeShedding:
    """ASGI middleware: past capacity, POST /api/events gets 503 and Retry-After at once.

    Past capacity: the committer's queue would keep a report waiting over MAX_WAIT_S, the
    event loop runs over LAG_LIMIT_S behind, or the in-flight limit is full. It answers
    before the body is read or any dependency runs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == INTAKE_PATH
        ):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        committer: IntakeCommitter | None = getattr(state, "intake", None)
        lag: LoopLag | None = getattr(state, "loop_lag", None)
        in_flight: InFlight | None = getattr(state, "in_flight", None)
        now = time.perf_counter()
        wait = committer.load.retry_after(now) if committer else None
        if wait is None and lag is not None:
            wait = lag.retry_after()
        if wait is None and in_flight is not None and not in_flight.has_room(now):
            wait = in_flight.retry_after(now)
        if wait is not None:
            await _overloaded(send, wait)
            return
        if in_flight is None:
            await self.app(scope, receive, send)
        else:
            await self._tracked(in_flight, scope, receive, send)

    async def _tracked(
        self, in_flight: InFlight, scope: Scope, receive: Receive, send: Send
    ) -> None:
        read_at: float | None = None

        async def reading() -> Message:
            nonlocal read_at
            message = await receive()
            if (
                read_at is None
                and message["type"] == "http.request"
                and not message.get("more_body", False)
            ):
                read_at = time.perf_counter()
                in_flight.began()
            return message

        async def answering(message: Message) -> None:
            nonlocal read_at
            if message["type"] == "http.response.start" and read_at is not None:
                now = time.perf_counter()
                in_flight.answered(now - read_at, now)
                read_at = None
            await send(message)

        try:
            await self.app(scope, reading, answering)
        finally:
            if read_at is not None:
                in_flight.abandoned()


async def _overloaded(send: Send, retry_after: int) -> None:
    body = error_body("overloaded", OVERLOADED, retry_after=retry_after)
    await send_error(send, 503, body, [(b"retry-after", str(retry_after).encode())])
