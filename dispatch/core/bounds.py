"""What the database can hold, as types the API validates against: ids, offsets, text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator

from dispatch.core.clock import as_aware

# Ids are BIGINT (core.db.BigId): anything outside 1..2^63-1 cannot name a row.
MAX_ID = 2**63 - 1
# Far beyond any county's events, far below what a query's OFFSET can hold.
MAX_OFFSET = 10**9

Id = Annotated[int, Ge(1), Le(MAX_ID)]
Offset = Annotated[int, Ge(0), Le(MAX_OFFSET)]
# Times a county's records can mean: none before the service's era, none in the far future.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _within_era(moment: datetime) -> datetime:
    try:
        inside = EARLIEST <= as_aware(moment) < LATEST
    except OverflowError:  # year 1 or 9999 shifted past the calendar by its offset
        inside = False
    if not inside:
        raise ValueError("时间须在 2000 年至 2100 年之间")
    return moment


Moment = Annotated[datetime, AfterValidator(_within_era)]
# A board's sequence numbers are Redis integers (signed 64-bit).
Seq = Annotated[int, Ge(0), Le(MAX_ID)]


def nul_free(value: str) -> bool:
    """Tell whether a text can be stored: PostgreSQL refuses the NUL character in text."""
    return "\x00" not in value
