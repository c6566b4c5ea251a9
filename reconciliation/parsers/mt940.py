"""SWIFT MT940 (customer statement), read with the maintained `mt-940` library; several statements per file.

:20: statement id, :25: account, :28C: statement number (the page after "/" is not kept), :60F:/:60M:
opening, :62F:/:62M: closing, :61: lines, :86: narrative. Pages of one statement (same :25: and :28C: number,
the earlier page closing with an intermediate :62M:) become one `Statement`: first opening, last closing.

A :61: line: its amount has a decimal comma ("200000," is 200000 đồng; a fraction other than ",0…" is
refused); the bank reference follows "//" (required: it is the line's identity); the customer reference
before it is the end-to-end id unless NONREF. D/C are debits and credits; RC (reversal of a credit) takes
money out and RD (reversal of a debit) puts it back, so they become debit/credit lines with `reversal` set —
the direction is always the effect on the balance, as camt's CdtDbtInd is. The booking date is the entry
date (MMDD, its year resolved by the library) or else the value date.

MT940 carries no period: the statement covers the days of its closing balance and its lines (the opening
balance's date is not used: banks differ on whether it is the day or the day before)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import mt940

from reconciliation.parsers.amounts import check_currency, whole_dong
from reconciliation.statement import Direction, Statement, StatementLine, StatementRefused

FORMAT = "mt940"
DETAILS_LINE = 65  # an :86: line of exactly this length was cut mid-text and continues without a space
_ENVELOPE = re.compile(r"\{[1-3]:(?:[^{}]|\{[^{}]*\})*\}|\{4:|-?\}\s*(\{5:(?:[^{}]|\{[^{}]*\})*\})?")
_STATEMENT_START = re.compile(r"^:20:", re.MULTILINE)
_DIRECTIONS: dict[str, tuple[Direction, bool]] = {
    "C": ("credit", False),
    "D": ("debit", False),
    "RC": ("debit", True),
    "RD": ("credit", True),
}


def looks_like_mt940(text: str) -> bool:
    head = text.lstrip("\ufeff \r\n\t")
    return head.startswith(("{1:", ":20:")) or (head.startswith(":940:") and ":20:" in head[:200])


def parse_mt940(data: bytes) -> list[Statement]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # SWIFT's character set is ASCII; a stray byte must not stop us here
    text = _ENVELOPE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    if not starts:
        raise StatementRefused("MT940 without any :20: statement")
    chunks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    pages = [_page(chunk, number) for number, chunk in enumerate(chunks, start=1)]
    return _merge_pages(pages)


def _page(chunk: str, number: int) -> tuple[Statement, bool]:
    """One :20: block → (its statement, whether it ended on an intermediate :62M: balance)."""
    where = f"MT940 statement {number}"
    parsed = mt940.models.Transactions(options=mt940.Options(unbounded_details=True))
    try:
        parsed.parse(chunk)
    except Exception as exc:  # the library raises RuntimeError, ValueError, KeyError… on malformed tags
        raise StatementRefused(f"not a readable MT940 statement: {exc}", where=where) from None
    info = parsed.data
    statement_id = (info.get("transaction_reference") or "").strip()
    where = f"MT940 :20:{statement_id or '?'}"
    account = (info.get("account_identification") or "").strip()
    if not statement_id or not account:
        raise StatementRefused("statement without :20: reference or :25: account", where=where)
    opening = info.get("final_opening_balance") or info.get("intermediate_opening_balance")
    opening = opening or info.get("opening_balance")
    closing = info.get("final_closing_balance") or info.get("intermediate_closing_balance")
    if opening is None or closing is None:
        raise StatementRefused(
            "statement without an opening (:60F:/:60M:) or closing (:62F:/:62M:)", where=where
        )
    currency = check_currency(opening.amount.currency, where=f"{where} :60:")
    if check_currency(closing.amount.currency, where=f"{where} :62:") != currency:
        raise StatementRefused("opening and closing balances in different currencies", where=where)
    lines = [
        _line(t.data, where=f"{where}, :61: line {n}") for n, t in enumerate(parsed.transactions, start=1)
    ]
    closing_day = date(closing.date.year, closing.date.month, closing.date.day)
    days = [line.booking_date for line in lines] + [closing_day]
    number_text = (info.get("statement_number") or "").strip()
    statement = Statement(
        format=FORMAT,
        statement_id=statement_id,
        account=account,
        currency=currency,
        from_date=min(days),
        to_date=max(days),
        sequence=int(number_text) if number_text.isdigit() else None,
        opening_balance=whole_dong(opening.amount.amount, where=f"{where} :60:"),
        closing_balance=whole_dong(closing.amount.amount, where=f"{where} :62:"),
        lines=lines,
    )
    return statement, "intermediate_closing_balance" in info and "final_closing_balance" not in info


def _details(raw: str | None) -> str:
    pieces = (raw or "").split("\n")
    out = ""
    for i, piece in enumerate(pieces):
        out += piece if i == 0 or len(pieces[i - 1]) >= DETAILS_LINE else " " + piece
    return " ".join(out.split())


def _line(data: dict[str, Any], *, where: str) -> StatementLine:
    status = (data.get("status") or "").upper()
    if status not in _DIRECTIONS:
        raise StatementRefused(f"debit/credit mark {status!r} is not C, D, RC or RD", where=where)
    way, reversal = _DIRECTIONS[status]
    amount = abs(whole_dong(data["amount"].amount, where=where))
    if amount == 0:
        raise StatementRefused("line of 0 đồng", where=where)
    bank_ref = (data.get("bank_reference") or "").strip()
    if not bank_ref:
        raise StatementRefused("no bank reference after // on the :61: line", where=where)
    customer_ref = (data.get("customer_reference") or "").strip()
    value_date = data["date"]
    value_day = date(value_date.year, value_date.month, value_date.day)
    entry = data.get("entry_date")
    booking_day = date(entry.year, entry.month, entry.day) if entry is not None else value_day
    return StatementLine(
        bank_ref=bank_ref,
        booking_date=booking_day,
        direction=way,
        amount=amount,
        narrative=_details(data.get("transaction_details")),
        value_date=value_day,
        end_to_end_id=None if customer_ref.upper() in ("", "NONREF") else customer_ref,
        reversal=reversal,
    )


def _merge_pages(pages: list[tuple[Statement, bool]]) -> list[Statement]:
    merged: list[Statement] = []
    continues = False
    for statement, intermediate in pages:
        previous = merged[-1] if merged else None
        if (
            continues
            and previous is not None
            and previous.account == statement.account
            and previous.sequence is not None
            and previous.sequence == statement.sequence
        ):
            merged[-1] = replace(
                previous,
                to_date=max(previous.to_date, statement.to_date),
                from_date=min(previous.from_date, statement.from_date),
                closing_balance=statement.closing_balance,
                lines=previous.lines + statement.lines,
            )
        else:
            merged.append(statement)
        continues = intermediate
    return merged
