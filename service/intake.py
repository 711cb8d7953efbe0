"""Intake's group commit, and load shedding when it cannot keep up.

Reports posted at the same moment share one transaction: the route checks the token's
signature (no database), hands the report to the committer and awaits its outcome. One
thread takes whatever has queued since its last batch (nothing is held back to wait for
company, so a lone report is not delayed), reads the batch's users in one query, stores the
reports (`dispatch.events.intake.report_events`), commits, publishes and hands off once, and
then answers each request. A request is answered 201 only after the commit that stored its
event; if the commit fails, every request of the batch gets the error.

When the queue would keep a new report waiting longer than MAX_WAIT_S, the report is
refused at once with 503 and Retry-After (`service.shedding`), before its body is read: the
phone keeps it and sends it again with the same client_id, so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from dispatch.core.errors import DomainError
from dispatch.events.intake import Intake, report_events
from dispatch.events.schemas import EventCreate
from dispatch.routing.cache import ReferenceCache
from dispatch.transaction import transaction
from dispatch.users.models import User
from dispatch.users.policy import Action, Actor, authorize
from dispatch.users.tokens import ClaimsCache, TokenClaims, users_of_claims

log = logging.getLogger(__name__)

# A report that would wait longer than this for its batch is refused with 503 instead.
MAX_WAIT_S = 0.5
# The most reports one transaction takes (its INSERTs stay a few hundred kilobytes).
MAX_BATCH = 256
# Before any batch is measured: pessimistic guesses of a batch's fixed cost (a transaction,
# its queries, the hand-off) and of each report's share on top of it.
FIRST_OVERHEAD_S = 0.02
FIRST_PER_REPORT_S = 0.002
# Batches this small teach the fixed cost; this large, the cost per report.
SMALL_BATCH, LARGE_BATCH = 4, 16
RETRY_AFTER_MAX_S = 30

Outcome = Intake | BaseException


class IntakeLoad:
    """How long a report posted now would wait: the batch in hand, then the batch it joins.

    A batch costs a fixed part plus a part per report; both are moving averages of measured
    batches (small ones teach the fixed part, large ones the part per report), so a burst
    after a quiet spell is judged by what a large batch costs, not by a lone report's time.
    A batch running longer than the wait allowed (a locked table, a starved machine) counts
    as it is, whatever the averages say.
    """

    def __init__(
        self,
        overhead_s: float = FIRST_OVERHEAD_S,
        per_report_s: float = FIRST_PER_REPORT_S,
        weight: float = 0.2,
    ) -> None:
        self.overhead_s = overhead_s
        self.per_report_s = per_report_s
        self.weight = weight
        self.queued = 0  # handed to the committer and not yet answered (the batch in hand too)
        self.in_hand = 0
        self.busy_since: float | None = None
        self._lock = threading.Lock()

    def arrived(self) -> None:
        """Count a report handed to the committer."""
        with self._lock:
            self.queued += 1

    def started(self, reports: int, now: float) -> None:
        """Note that a batch of this many reports began."""
        self.in_hand = reports
        self.busy_since = now

    def finished(self, reports: int, seconds: float) -> None:
        """Count a batch's reports as answered and learn from its time."""
        with self._lock:
            self.queued -= reports
            self.in_hand = 0
            self.busy_since = None
            if 0 < reports <= SMALL_BATCH:
                fixed = max(seconds - reports * self.per_report_s, 0.0)
                self.overhead_s += self.weight * (fixed - self.overhead_s)
            elif reports >= LARGE_BATCH:
                each = max(seconds - self.overhead_s, 0.0) / reports
                self.per_report_s += self.weight * (each - self.per_report_s)

    def batch_s(self, reports: int) -> float:
        """Return what a batch of this many reports is expected to take."""
        return self.overhead_s + reports * self.per_report_s

    def wait_s(self, now: float) -> float:
        """Return how long a report posted now is expected to wait for its answer."""
        waiting = self.queued - self.in_hand + 1  # the batch this report would join
        if self.busy_since is None:
            return self.batch_s(waiting)
        ran = now - self.busy_since
        left = max(self.batch_s(self.in_hand) - ran, 0.0)
        return max(ran, left + self.batch_s(waiting))

    def retry_after(self, now: float) -> int | None:
        """Return the seconds to tell a phone to wait, or None when the report can be taken."""
        wait = self.wait_s(now)
        if wait <= MAX_WAIT_S:
            return None
        return min(max(math.ceil(wait), 1), RETRY_AFTER_MAX_S)


@dataclass(slots=True)
class _Waiting:
    report: EventCreate
    claims: TokenClaims
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Intake] = field(repr=False)


class IntakeCommitter:
    """One thread that stores queued reports a batch per transaction and answers each."""

    def __init__(
        self,
        engine: Engine,
        connection: redis.Redis | None,
        reference: ReferenceCache,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.engine = engine
        self.connection = connection
        self.reference = reference
        self.max_batch = max_batch
        self.load = IntakeLoad()
        self.tokens = ClaimsCache()  # intake's signatures, checked once per token
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-commit", daemon=True)
        self._thread.start()

    async def submit(self, report: EventCreate, claims: TokenClaims) -> Intake:
        """Queue a report and return its outcome once its batch has committed (or raise)."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(report, claims, loop, loop.create_future())
        self.load.arrived()
        self._queue.put(waiting)
        return await waiting.future

    def close(self) -> None:
        """Answer what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            started = time.perf_counter()
            self.load.started(len(batch), started)
            try:
                outcomes = self._commit(batch)
            except BaseException as exc:  # never leave a request unanswered
                log.exception("intake batch failed")
                outcomes = [exc] * len(batch)
            self.load.finished(len(batch), time.perf_counter() - started)
            for waiting, outcome in zip(batch, outcomes, strict=True):
                waiting.loop.call_soon_threadsafe(_settle, waiting.future, outcome)
            if stop:
                return

    def _commit(self, batch: Sequence[_Waiting]) -> list[Outcome]:
        """Store a batch; run it again after a lost client_id race, alone after a bad row."""
        try:
            return self._store(batch)
        except IntegrityError:
            pass  # another process stored one of these client_ids first: its event is found now
        except OperationalError as exc:
            return [exc] * len(batch)  # the database is away: the same answer for every one
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.warning("intake batch of %d failed (%s); storing each alone", len(batch), exc)
            return [self._alone(w) for w in batch]
        try:
            return self._store(batch)
        except Exception:
            return [self._alone(w) for w in batch]

    def _alone(self, waiting: _Waiting) -> Outcome:
        try:
            return self._store([waiting])[0]
        except Exception as exc:
            return exc

    def _store(self, batch: Sequence[_Waiting]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(batch)
        with transaction(self.engine, self.connection) as session:
            router = self.reference.get(session).router
            holders = users_of_claims(session, [w.claims for w in batch])
            accepted: list[tuple[int, EventCreate, User]] = []
            for i, (waiting, holder) in enumerate(zip(batch, holders, strict=True)):
                refusal = holder if isinstance(holder, DomainError) else _may_report(holder)
                if refusal is not None:
                    outcomes[i] = refusal
                else:
                    assert isinstance(holder, User)
                    accepted.append((i, waiting.report, holder))
            stored = report_events(session, router, [(r, u) for _, r, u in accepted])
            for (i, _, _), outcome in zip(accepted, stored, strict=True):
                outcomes[i] = outcome
        return [o if o is not None else RuntimeError("no outcome") for o in outcomes]


def _may_report(user: User) -> DomainError | None:
    assert user.id is not None
    try:
        authorize(Actor(id=user.id, role=user.role), Action.REPORT)
    except DomainError as refused:
        return refused
    return None


def _settle(future: asyncio.Future[Intake], outcome: Outcome) -> None:
    if future.done():  # the client went away and its request was cancelled
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
