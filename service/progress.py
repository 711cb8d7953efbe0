"""Progress lines on stderr for long imports: live on a terminal, every 10% in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class StderrProgress:
    """A callable(done, total) that reports progress without flooding a log file.

    On a terminal the line is redrawn at most every `interval_s`. In a log (not a
    terminal) a line is written per 10% step, but only once the work has run for
    `quiet_s`: a small file imported in a blink leaves no noise behind.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        interval_s: float = 0.2,
        quiet_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self.clock = clock
        self.tty = self.stream.isatty()
        self._last_time = 0.0
        self._last_decile = -1
        self._started = clock()

    def __call__(self, done: int, total: int) -> None:
        """Report that done of total items are finished."""
        if total <= 0:
            return
        finished = done >= total
        now = self.clock()
        if self.tty:
            if not finished and now - self._last_time < self.interval_s:
                return
            self._last_time = now
            end = "\n" if finished else ""
            self.stream.write(f"\r{self.label}: {done}/{total} ({done * 100 // total}%){end}")
        else:
            elapsed = now - self._started
            decile = done * 10 // total
            if elapsed < self.quiet_s or decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(f"{self.label}: {done}/{total} ({decile * 10}%, {elapsed:.1f} s)\n")
        self.stream.flush()
