"""Measure building board cards from rows in memory (no database); prints a few lines.

    python bench/cards.py [--events 1000] [--parts 2] [--repeat 30]

Every committed transaction turns the events it changed into cards (EventCard, validated
and dumped as JSON data) before the commit, so this is on the intake path. The rows are
built in memory, as a flush leaves them; the names are given, so no query is timed. Two
figures: building the cards, and building them plus encoding one board message each. The
best of --repeat runs is the figure to quote (others share the machine); the median says
how noisy it was. This prints figures and never decides pass or fail.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dispatch.boards.cards import Names, build_cards
from dispatch.events.models import (
    Assignment,
    AssignmentRole,
    AssignmentStatus,
    Event,
    EventStatus,
)

TOWNSHIP, VILLAGE, GRID = "320999004", "320999004001", "320999004001003"
DESCRIPTION = "新市街菜场门口有流动摊贩占道卖菜"


def event_row(i: int, now: datetime) -> Event:
    """Return a routed event as a flush leaves it."""
    return Event(
        id=i, client_id=f"bench-{i}", status=EventStatus.DISPATCHED, source="grid", reported_at=now,
        received_at=now, raw_lon=120.1, raw_lat=31.2, crs="wgs84", lon=120.1 + i / 1e5,
        lat=31.2, address="新市街 12 号" if i % 2 else None, description=DESCRIPTION * (1 + i % 30),
        urgent=i % 7 == 0, township_code=TOWNSHIP, village_code=VILLAGE, grid_code=GRID,
        matter_code="C-004", matter_list_id=1, platform_code="P-2",
        sign_by=now + timedelta(hours=2), handle_by=now + timedelta(days=3), updated_at=now,
    )  # fmt: skip


def part_row(id: int, event_id: int, nth: int, now: datetime) -> Assignment:
    """Return the nth assignment of an event: the lead (for a county department) first."""
    return Assignment(
        id=id, event_id=event_id, department_id=10 + nth,
        role=AssignmentRole.LEAD if nth == 0 else AssignmentRole.CO,
        status=AssignmentStatus.PENDING, on_behalf_of_id=20 if nth == 0 else None,
        duties=["清理占道"],
        duties_text="清理", sign_by=now + timedelta(hours=2), handle_by=now + timedelta(days=3),
        created_at=now,
    )  # fmt: skip


def rows(n_events: int, n_parts: int) -> tuple[list[Event], dict[int, list[Assignment]]]:
    """Return routed events with their parts."""
    now = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    events = [event_row(e, now) for e in range(1, n_events + 1)]
    parts = {
        e: [part_row(n_parts * e + k, e, k, now) for k in range(n_parts)]
        for e in range(1, n_events + 1)
    }
    return events, parts


NAMES = Names(
    places={TOWNSHIP: "新市镇", VILLAGE: "新市村", GRID: "第三网格"},
    departments={10: "县综合行政执法局", 11: "县市场监管局", 12: "新市镇平台", 20: "县城管局"},
    platforms={"P-2": "综合执法平台"},
    matters={(1, "C-004"): "占道经营"},
)


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Return the best and the median wall-clock seconds of one run."""
    times = timeit.repeat(run, number=1, repeat=repeat)
    return min(times), statistics.median(times)


def main() -> int:
    """Time the cards and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--parts", type=int, default=2, help="assignments per event")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    events, parts = rows(args.events, args.parts)

    def build() -> object:
        return build_cards(events, parts, NAMES)

    def build_and_encode() -> object:
        return [
            json.dumps(
                {"type": "routed", "event": card, "steps": [], "at": "now"},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for card in build_cards(events, parts, NAMES)
        ]

    print(f"cards: {args.events} events with {args.parts} assignments each, best of {args.repeat}")
    for label, run in (("build", build), ("build + encode", build_and_encode)):
        best, median = timed(run, args.repeat)
        print(
            f"  {label:<15} {best * 1e3:8.1f} ms  ({best / args.events * 1e6:6.1f} µs a card; "
            f"median {median * 1e3:.1f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
