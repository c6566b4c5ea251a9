"""Dates and moments a caller may send: aware, and within years the service can compute with.

Python and PostgreSQL both accept `0001-01-01T00:00:00+14:00` and `9999-12-31T23:59:59-14:00`, but the step
to UTC (or adding a day) overflows and the caller got a 500. Every date or moment in a query or body is one of
these types, so such input is a 422 naming the field before any code runs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from core.money import LOCAL_TZ

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
_EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
_LATEST = datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC)


def _bounded_moment(value: datetime) -> datetime:
    # Aware comparisons do not overflow (unlike astimezone), so this is safe for year 1 and 9999.
    if not _EARLIEST <= value < _LATEST:
        raise PydanticCustomError(
            "out_of_range_moment", f"must lie between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31 (UTC)"
        )
    return value


def _bounded_day(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise PydanticCustomError(
            "out_of_range_moment", f"must lie between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31"
        )
    return value


_LOCAL_FORMATS = (
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M",
)


def parse_local_datetime(raw: str) -> datetime:
    """A moment as a `datetime-local` input or a person writes it, read as Hà Nội time; an explicit offset
    is kept."""
    text = raw.strip()
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=LOCAL_TZ)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "local_datetime_format", "a date and time, e.g. 2026-12-31T08:30 (Hà Nội time)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def parse_local_date(raw: str) -> date:
    """A date as ISO (2026-12-31, a `date` input) or as Vietnamese write it (31/12/2026)."""
    text = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise PydanticCustomError("local_date_format", "a date, e.g. 2026-12-31")


def _iso_moment(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise PydanticCustomError("datetime_parsing", "an ISO 8601 date-time with an offset") from None


_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(raw: str) -> date:
    try:
        if not _YYYY_MM_DD.fullmatch(raw):  # Python 3.11 also reads 20261201 and 2026-W49-1: not what we say
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise PydanticCustomError("date_parsing", "an ISO 8601 date (YYYY-MM-DD)") from None


def _read(from_form, from_api):
    """Text becomes a date or moment here, not in pydantic: a function validator hands its inner schema a
    Python value, and strict mode would then refuse every string (JSON's own date parsing no longer applies).
    A person's form may leave out the offset (Hà Nội time is meant) or write 31/12/2026; the API may not."""

    def before(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        return from_form(value) if info.context and info.context.get("form") else from_api(value)

    return BeforeValidator(before)


BoundedDatetime = Annotated[
    AwareDatetime, _read(parse_local_datetime, _iso_moment), AfterValidator(_bounded_moment)
]
"""An ISO 8601 moment with an offset, 2000-01-01T00:00Z ≤ value < 2101-01-01T00:00Z; from a form, a Hà Nội
local date-time."""

BoundedDate = Annotated[date, _read(parse_local_date, _iso_day), AfterValidator(_bounded_day)]
"""A calendar date in 2000–2100; from a form also 31/12/2026."""
