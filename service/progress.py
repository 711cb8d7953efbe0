"""Progress lines on stderr for long imports: live on a terminal, every 10% in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StderrProgress:
    """A callable(done, total) that reports progress without flooding a log file."""

    def __init__(self, label: str, stream: TextIO | None = None, interval_s: float = 0.2) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.tty = self.stream.isatty()
        self._last_time = 0.0
        self._last_decile = -1
        self._started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Report that done of total items are finished."""
        if total <= 0:
            return
        finished = done >= total
        if self.tty:
            now = time.monotonic()
            if not finished and now - self._last_time < self.interval_s:
                return
            self._last_time = now
            end = "\n" if finished else ""
            self.stream.write(f"\r{self.label}: {done}/{total} ({done * 100 // total}%){end}")
        else:
            decile = done * 10 // total
            if decile == self._last_decile:
                return
            self._last_decile = decile
            elapsed = time.monotonic() - self._started
            self.stream.write(f"{self.label}: {done}/{total} ({decile * 10}%, {elapsed:.1f} s)\n")
        self.stream.flush()
