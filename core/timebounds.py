"""Dates and moments a caller may send: aware, and within years the service can compute with.

Python and PostgreSQL both accept `0001-01-01T00:00:00+14:00` and `9999-12-31T23:59:59-14:00`, but the step
to UTC (or adding a day) overflows and the caller got a 500. Every date or moment in a query or body is one of
these types, so such input is a 422 naming the field before any code runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
_EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
_LATEST = datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC)


def _bounded_moment(value: datetime) -> datetime:
    # Aware comparisons do not overflow (unlike astimezone), so this is safe for year 1 and 9999.
    if not _EARLIEST <= value < _LATEST:
        raise ValueError(f"must lie between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31 (UTC)")
    return value


def _bounded_day(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must lie between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31")
    return value


BoundedDatetime = Annotated[AwareDatetime, AfterValidator(_bounded_moment)]
"""An ISO 8601 moment with an offset, 2000-01-01T00:00Z ≤ value < 2101-01-01T00:00Z."""

BoundedDate = Annotated[date, AfterValidator(_bounded_day)]
"""A calendar date in 2000–2100."""
