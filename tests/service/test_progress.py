"""Progress output: quiet for quick work in a log, one line per 10% step for slow work."""

from __future__ import annotations

import io

from service.progress import StderrProgress


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_quick_work_in_a_log_prints_nothing() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = StderrProgress("导入", stream, clock=clock)
    for done in range(1, 101):
        clock.now = done * 0.001
        progress(done, 100)
    assert stream.getvalue() == ""


def test_slow_work_in_a_log_prints_each_step_once() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = StderrProgress("导入 网格", stream, clock=clock)
    for done in range(1, 1001):
        clock.now = done * 0.01
        progress(done, 1000)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("导入 网格: 100/1000 (10%")
    assert lines[-1].startswith("导入 网格: 1000/1000 (100%")
    assert len(lines) == 10
