"""Money is integer đồng everywhere; this module formats it for people."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_DONG_SUFFIX = re.compile(r"\s*(?:đ|₫|vnd|vnđ|đồng|dong)\s*$", re.IGNORECASE)
_GROUPED = re.compile(r"^\d{1,3}(?:([., \u00a0])\d{3})(?:\1\d{3})*$")  # one kind of separator, groups of 3


def parse_dong(raw: str) -> int:
    """Whole đồng as people type them: 1234567, 1.234.567, 1 234 567, 1,234,567, with or without ₫/đ/VND.
    Anything else — decimals, signs, other scripts' digits, "1.23" — is refused rather than guessed."""
    text = _DONG_SUFFIX.sub("", raw.strip())
    if _GROUPED.match(text):
        text = re.sub(r"[., \u00a0]", "", text)
    if not (text.isascii() and text.isdigit()) or len(text) > 15:
        raise PydanticCustomError("dong_format", "a whole number of đồng, e.g. 200000 or 200.000")
    return int(text)


def _dong_from_form(value: Any, info: ValidationInfo) -> Any:
    # Only a person's form may type grouped digits; the JSON API keeps a strict integer.
    if isinstance(value, str) and info.context and info.context.get("form"):
        return parse_dong(value)
    return value


Dong = Annotated[int, BeforeValidator(_dong_from_form)]
"""An amount in whole đồng: an integer in JSON; in a form also "1.234.567" (core.forms). Bounds are the
field's own (`Field(ge=1, le=…)`)."""


def format_vnd(amount: int) -> str:
    """1234567 → '1.234.567 ₫' (Vietnamese groups thousands with dots; no minor unit)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money is int đồng, got {type(amount).__name__}")
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,}".replace(",", ".") + " ₫"


def format_local_time(moment: datetime, *, with_seconds: bool = False) -> str:
    """An aware datetime shown in Hà Nội time, day first, 24-hour, as people here write it. A moment that
    is exactly midnight in Hà Nội is how a date is stored (a fee's first day, a pass's last day): it shows
    as that date alone, never as "00:00" — nor as the "07:00" it is in UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed; store and pass timestamptz values")
    local = moment.astimezone(LOCAL_TZ)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return local.strftime("%d/%m/%Y")
    return local.strftime("%d/%m/%Y %H:%M:%S" if with_seconds else "%d/%m/%Y %H:%M")


def format_local_date(value: date | datetime) -> str:
    """A date (or the Hà Nội date of an aware moment) as dd/mm/yyyy."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not allowed; store and pass timestamptz values")
        value = value.astimezone(LOCAL_TZ).date()
    return value.strftime("%d/%m/%Y")


def format_number(value: int | float | Decimal, digits: int = 0, lang: str = "vi") -> str:
    """1234567.5 → '1.234.567,5' in Vietnamese (dots group thousands, a comma before decimals)."""
    text = f"{value:,.{digits}f}"
    if lang == "en":
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def format_percent(value: int | float | Decimal, digits: int = 1, lang: str = "vi") -> str:
    """12.5 → '12,5 %' (Vietnamese writes a decimal comma and a space before the sign); whole values lose
    the decimals: 100 → '100 %'."""
    text = format_number(value, digits, lang)
    if digits and "," in text and lang == "vi":
        text = text.rstrip("0").rstrip(",")
    elif digits and lang == "en":
        text = text.rstrip("0").rstrip(".")
    return f"{text} %" if lang == "vi" else f"{text}%"
