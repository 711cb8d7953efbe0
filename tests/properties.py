"""Hypothesis settings shared by the property tests: repeatable and bounded."""

from hypothesis import HealthCheck, settings

# Derandomized, so CI sees the same examples on every run; no example database, so a run
# leaves nothing behind; no per-example deadline, since two busy cores make timings noisy.
# Each test stays within a few seconds at these counts.
REPEATABLE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
