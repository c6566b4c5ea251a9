"""Money is integer đồng everywhere; this module formats it for people."""

from __future__ import annotations

import re
from datetime import datetime
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
    """An aware datetime shown in Hà Nội time, day first as people here write it."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed; store and pass timestamptz values")
    local = moment.astimezone(LOCAL_TZ)
    return local.strftime("%d/%m/%Y %H:%M:%S" if with_seconds else "%d/%m/%Y %H:%M")
