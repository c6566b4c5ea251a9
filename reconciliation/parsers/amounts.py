"""Whole đồng out of the texts banks print. VND has no minor unit, but banks write "200000", "200000.00"
(camt), "200000," (MT940) or "1.234.567" / "1,234,567" (exports): a fraction of zeros is accepted and dropped,
any other fraction ("1000.50") is refused — rounding money away silently is never right."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

from reconciliation.statement import StatementRefused

# The only currency the model can hold: `Statement` amounts are integer đồng.
CURRENCY = "VND"
# ISO 20022 ActiveOrHistoricCurrencyAndAmount: at most 18 digits, 5 of them after the point, never negative.
_ISO_AMOUNT = re.compile(r"\d{1,18}(\.\d{1,5})?")
NumberStyle = Literal["1.234.567", "1,234,567"]


def whole_dong(value: Decimal, *, where: str) -> int:
    """A Decimal that must be a whole number of đồng."""
    if value != value.to_integral_value():
        raise StatementRefused(
            f"amount {value} has a fraction of a đồng (VND has no minor unit)", where=where
        )
    return int(value)


def iso_amount(text: str | None, *, where: str) -> int:
    """camt <Amt>: "200000" or "200000.00"; never signed (the direction is CdtDbtInd)."""
    text = (text or "").strip()
    if not _ISO_AMOUNT.fullmatch(text):
        raise StatementRefused(f"amount {text!r} is not an ISO 20022 amount", where=where)
    return whole_dong(Decimal(text), where=where)


def check_currency(code: str | None, *, where: str) -> str:
    code = (code or "").strip().upper()
    if code != CURRENCY:
        raise StatementRefused(
            f"currency {code or '(none)'}: only VND statements can be read (amounts are whole đồng)",
            where=where,
        )
    return code


def grouped_amount(text: str, style: NumberStyle, *, where: str) -> int:
    """An export's number, signed: "1.234.567", "-50.000", "(50.000)", "1.234.567,00", "200 000 đ".

    `style` names the grouping the bank uses; the other mark is the decimal one. Grouping must be regular
    (groups of three), so "1.234" is 1234 in "1.234.567" style and a refused fraction in "1,234,567" style.
    """
    raw = text
    text = text.strip().replace("\u00a0", "").replace(" ", "")
    for suffix in ("VND", "vnd", "VNĐ", "đ", "₫", "Đ"):
        text = text.removesuffix(suffix)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if text[:1] in "+-" and text:
        negative, text = text[0] == "-", text[1:]
    group, point = (".", ",") if style == "1.234.567" else (",", ".")
    g, p = re.escape(group), re.escape(point)
    match = re.fullmatch(rf"(\d{{1,3}}(?:{g}\d{{3}})+|\d+)(?:{p}(\d+))?", text)
    if not match or len(match.group(1)) > 24:
        raise StatementRefused(f"amount {raw!r} is not a number written {style}", where=where)
    whole = int(match.group(1).replace(group, ""))
    if match.group(2) and set(match.group(2)) != {"0"}:
        raise StatementRefused(
            f"amount {raw!r} has a fraction of a đồng (VND has no minor unit)", where=where
        )
    return -whole if negative else whole


def decimal_amount(value: object, *, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise StatementRefused(f"amount {value!r} is not a number", where=where) from None
