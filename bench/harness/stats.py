"""Compute percentiles and format the benches' figures and table rows."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(values: Iterable[float], q: float) -> float:
    """Return the nearest-rank q-th percentile (0..100); inf entries stand for never."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))])


def per_s(n: float, seconds: float) -> float:
    """Return n per second, or nan for an empty interval."""
    return n / seconds if seconds else math.nan


def ms(value: float) -> str:
    """Format seconds as milliseconds (or seconds from 10 s; 'never' / 'n/a')."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.1f} s"


def rate(value: float) -> str:
    """Format a rate per second."""
    return "n/a" if math.isnan(value) else f"{value:,.0f}/s"


def pair(values: Sequence[float]) -> str:
    """Format the p50 / p99 of latencies in seconds."""
    p50, p99 = percentile(values, 50), percentile(values, 99)
    if not (math.isfinite(p50) and math.isfinite(p99)):
        return f"{ms(p50)} / {ms(p99)}"
    if p99 < 10:
        return f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} ms"
    return f"{p50:,.1f} / {p99:,.1f} s"


def row(cells: Sequence[str], widths: Sequence[int], sep: str = " ", left: int = 1) -> str:
    """Format one table row: the first `left` cells left-aligned, the rest right-aligned."""
    padded = [
        f"{cell:<{width}}" if i < left else f"{cell:>{width}}"
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return sep.join(padded).rstrip()
