"""What a process routes with, kept current: the router and the work calendar by generation.

Building the router (spatial index, department directory) takes a while, so every API and
worker process keeps one. It checks the reference generation (`dispatch.reference.
generation`) at most every CHECK_EVERY_S seconds, one primary-key read, and rebuilds when the
counter moved: a layer imported, a department changed, a list published, the calendar edited
are routed by within a few seconds, with no restart. One thread rebuilds while the others go
on with what was built before (only the very first build makes them wait), so a change never
causes a stampede of rebuilds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlmodel import Session

from dispatch.reference.calendar import WorkCalendar, load_calendar
from dispatch.reference.generation import current_generation
from dispatch.routing.router import Router

CHECK_EVERY_S = 2.0


@dataclass(frozen=True, slots=True)
class Built:
    """The router and calendar built from one generation of reference data."""

    router: Router
    calendar: WorkCalendar
    generation: int


class ReferenceCache:
    """Hand out the router and calendar, rebuilding them when reference data changed."""

    def __init__(
        self, *, near_distance_m: float, threshold: float, check_every_s: float = CHECK_EVERY_S
    ) -> None:
        self.near_distance_m = near_distance_m
        self.threshold = threshold
        self.check_every_s = check_every_s
        self._built: Built | None = None
        self._checked_at = 0.0
        self._building = threading.Lock()

    def fresh(self) -> Built | None:
        """Return what is built if it was checked recently enough to need no query, else None."""
        built = self._built
        if built is not None and time.monotonic() - self._checked_at < self.check_every_s:
            return built
        return None

    def get(self, session: Session) -> Built:
        """Return what is built, after checking the generation if it is time to."""
        built = self._built
        if built is not None and time.monotonic() - self._checked_at < self.check_every_s:
            return built
        generation = current_generation(session)
        if built is not None and built.generation == generation:
            self._checked_at = time.monotonic()
            return built
        if built is not None and not self._building.acquire(blocking=False):
            return built  # another thread is rebuilding: go on with the previous build
        if built is None:
            self._building.acquire()
        try:
            built = self._built
            if built is None or built.generation != generation:
                built = self._build(session, generation)
                self._built = built
            self._checked_at = time.monotonic()
            return built
        finally:
            self._building.release()

    def _build(self, session: Session, generation: int) -> Built:
        router = Router.load(
            session, near_distance_m=self.near_distance_m, threshold=self.threshold
        )
        router.warm(session)
        return Built(router, load_calendar(session), generation)

    def forget(self) -> None:
        """Drop what is built, so the next get builds afresh."""
        self._built = None
