"""Money is integer đồng everywhere; this module formats it for people."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


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
