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
balance's date is not used: banks differ on whether it is the day or the day before).

Speed: a statement of a million lines is about 100 MB, and the library builds several objects and runs
several regexes per tag (about 70 s for a million lines). So each page's :61:/:86: pairs are read by one
compiled pattern (`_PAIR`) when every pair has the plain shape banks and the simulated bank write (see
`_fast_lines`); the page's other tags still go through the library. Anything else on a page (a pair the
pattern does not take whole, a structured :86:, a date to fix up, a second :61: line, trailing blanks…)
sends the whole page to the library, as before. tests/reconciliation/test_speed_mt940.py holds both paths
equal."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import mt940

from reconciliation.parsers.amounts import check_currency, whole_dong
from reconciliation.statement import Direction, Statement, StatementLine, StatementRefused, plain_line

FORMAT = "mt940"
DETAILS_LINE = 65  # an :86: line of exactly this length was cut mid-text and continues without a space
_ENVELOPE = re.compile(r"\{[1-3]:(?:[^{}]|\{[^{}]*\})*\}|\{4:|-?\}\s*(\{5:(?:[^{}]|\{[^{}]*\})*\})?")
_DIRECTIONS: dict[str, tuple[Direction, bool]] = {
    "C": ("credit", False),
    "D": ("debit", False),
    "RC": ("debit", True),
    "RD": ("credit", True),
}


def looks_like_mt940(text: str) -> bool:
    head = text.lstrip("\ufeff \r\n\t")
    return head.startswith(("{1:", ":20:")) or (head.startswith(":940:") and ":20:" in head[:200])


def parse_mt940(data: bytes, *, fast: bool = True) -> list[Statement]:
    """Every statement in the file; `fast=False` reads every tag with the library (the equivalence tests)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # SWIFT's character set is ASCII; a stray byte must not stop us here
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "{" in text or "}" in text:  # every part of the envelope has a brace; 100 MB without one: no scan
        text = _ENVELOPE.sub("", text)
    starts = [0] if text.startswith(":20:") else []
    found = text.find("\n:20:")
    while found != -1:
        starts.append(found + 1)
        found = text.find("\n:20:", found + 1)
    if not starts:
        raise StatementRefused("MT940 without any :20: statement")
    chunks = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    pages = [_page(chunk, number, fast=fast) for number, chunk in enumerate(chunks, start=1)]
    return _merge_pages(pages)


# One plain :61: line and its optional :86: narrative. The :61: line: value date YYMMDD, entry date MMDD
# (optional), mark, amount with a decimal comma and at most ",00", a four-character transaction type, a
# customer reference without "/" or blanks (16 at most, as the library reads it), "//" and a bank reference
# without blanks (16 at most), nothing after it. The :86: text: a first line that starts with no blank and is
# not structured ("NNN?NN"), then lines that start with neither ":" (a tag) nor "-" (an end of message).
_PAIR = re.compile(
    r":61:([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{4})?(C|D|RC|RD)([0-9]{1,12}),(?:0{1,2})?"
    r"[A-Z][A-Z0-9]{3}([!-.0-~]{0,16})//([!-~]{1,16})\n"
    r"(?::86:(?![0-9]{3}\?[0-9]{2})([^\s][^\n]*(?:\n[^:\-\n][^\n]*)*)\n)?"
)
_BODY_END = re.compile(r"^:(?!61:|86:)", re.MULTILINE)  # the first tag after the pairs (:62F:, :62M:…)
_YEAR_BOUNDARY_DAYS = 330  # mt940.tags: an entry date this far from the value date is in the next/last year


def _fast_lines(body: str) -> list[StatementLine] | None:
    """The lines of `body` (a page's :61:/:86: pairs, each ending in a newline) read by `_PAIR`, or None when
    any part of it is not in the plain shape (the caller then lets the library read the page)."""
    lines: list[StatementLine] = []
    append = lines.append
    days: dict[str, date] = {}
    position = 0
    try:
        for m in _PAIR.finditer(body):
            if m.start() != position:
                return None
            position = m.end()
            yy, mm, dd, entry, mark, amount_text, customer_ref, bank_ref, details = m.groups()
            amount = int(amount_text)
            if amount == 0:
                return None
            value_key = yy + mm + dd
            value_day = days.get(value_key)
            if value_day is None:
                value_day = days[value_key] = date(2000 + int(yy), int(mm), int(dd))
            if entry is None:
                booking_day = value_day
            else:
                booking_day = days.get(value_key + entry) or _entry_day(days, value_key + entry, value_day)
            if details is not None and _unplain(details):
                return None
            way, reversal = _DIRECTIONS[mark]
            append(
                plain_line(
                    bank_ref,
                    booking_day,
                    way,
                    amount,
                    "" if details is None else _plain_details(details),
                    value_day,
                    None if customer_ref.upper() in ("", "NONREF") else customer_ref,
                    reversal,
                )
            )
    except ValueError:  # a date the library would fix up (30 February) or refuse: its call
        return None
    if position != len(body):
        return None
    return lines


def _unplain(details: str) -> bool:
    """Whether the library's clean-up would change these :86: lines: a line ending in a blank (it strips
    them) or a line of only "-" after blanks (it drops it as an end of message)."""
    if "\n" not in details:
        return details[-1].isspace()
    return any(not line or line[-1].isspace() or line.strip() == "-" for line in details.split("\n"))


def _plain_details(details: str) -> str:
    """`_details` for a single line without doubled blanks in one step (nearly every line)."""
    if "\n" in details or "  " in details or "\t" in details:
        return _details(details)
    return details


def _entry_day(days: dict[str, date], key: str, value_day: date) -> date:
    """The entry date MMDD in the value date's year, or the next/previous one across a year end (as the
    library resolves it)."""
    entry = date(value_day.year, int(key[6:8]), int(key[8:10]))
    if value_day > entry and (value_day - entry).days >= _YEAR_BOUNDARY_DAYS:
        entry = date(entry.year + 1, entry.month, entry.day)
    elif entry > value_day and (entry - value_day).days >= _YEAR_BOUNDARY_DAYS:
        entry = date(entry.year - 1, entry.month, entry.day)
    days[key] = entry
    return entry


def _split_pairs(chunk: str) -> tuple[str, str, str] | None:
    """A page as (the tags before its first :61:, its :61:/:86: pairs, the tags after them), or None when it
    has no lines or a :61: comes after another tag (the library reads such a page)."""
    first = chunk.find("\n:61:")
    if first == -1:
        return None
    end = _BODY_END.search(chunk, chunk.rfind("\n:61:") + 1)  # from the last :61: (a pair is one or two tags)
    # The pairs end at the closing balance; any other line starting with ":" after the last :61: may be the
    # library's :86: text (a ":" line that is no tag) or a tag it reads its own way: the library's call.
    if end is None or not chunk.startswith((":62F:", ":62M:"), end.start()):
        return None
    return chunk[: first + 1], chunk[first + 1 : end.start()], chunk[end.start() :]


# The start of a :61: line as SWIFT writes it: value date, optional entry date, mark, optional third letter
# of the currency, and the amount (field 61's subfield 5: at most 15 characters, the decimal comma included),
# which a transaction type (N, F or S and three characters) must follow; and a balance line (:60F:, :62F:…):
# mark, date, currency, amount. The library reads both more leniently: it took the first 15 characters of a
# longer amount and moved 30 February to the 28th, both silently.
_LINE_START = re.compile(r":61:([0-9]{6})([0-9]{4})?(?:RC|RD|C|D)[A-Z]?([0-9,]*)(.?)")
_BALANCE = re.compile(r":(?:60[FM]|62[FM]|64|65):[CD]([0-9]{6})[A-Z]{3}(.*)")
_SWIFT_AMOUNT = re.compile(r"[0-9]{1,14},[0-9]{0,14}")


def _check_line_starts(chunk: str, where: str) -> None:
    """Refuses a :61: or balance line whose dates are not calendar days or whose amount is not SWIFT's 15d
    (a :61: amount also followed by its transaction type)."""
    n = 0
    for line in chunk.split("\n"):
        if line.startswith(":61:"):
            n += 1
            at = f"{where}, :61: line {n}"
            m = _LINE_START.match(line)
            if m is None:
                raise StatementRefused("the line does not start with a date, a mark and an amount", where=at)
            day, entry, amount, after = m.groups()
            # The entry date has no year: read in 2000, a leap year, so 29 February is a day.
            days = [day] if entry is None else [day, "00" + entry]
        elif line.startswith((":60", ":62", ":64:", ":65:")) and (m := _BALANCE.match(line.rstrip())):
            at, after = f"{where}, {line[:5]}", "N"
            (day, amount), days = m.groups(), [m.group(1)]
        else:
            continue
        for yymmdd in days:
            try:
                date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
            except ValueError:
                raise StatementRefused(f"{yymmdd} is not a calendar date", where=at) from None
        if len(amount) > 15 or not _SWIFT_AMOUNT.fullmatch(amount) or after not in ("N", "F", "S"):
            raise StatementRefused(
                f"amount {amount!r} is not an MT940 amount (at most 15 characters with its decimal comma"
                + (", then the transaction type)" if line.startswith(":61:") else ")"),
                where=at,
            )


def _page(chunk: str, number: int, *, fast: bool = True) -> tuple[Statement, bool]:
    """One :20: block → (its statement, whether it ended on an intermediate :62M: balance). With `fast`, the
    plain :61:/:86: pairs are read by `_fast_lines` and only the other tags by the library."""
    where = f"MT940 statement {number}"
    _check_line_starts(chunk, where)
    parts = _split_pairs(chunk) if fast else None
    fast_lines = None
    if parts is not None:
        fast_lines = _fast_lines(parts[1])
    parsed = mt940.models.Transactions(options=mt940.Options(unbounded_details=True))
    try:
        parsed.parse(chunk if fast_lines is None or parts is None else parts[0] + parts[2])
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
    if fast_lines is not None:
        lines = fast_lines
    else:
        lines = [
            _line(t.data, where=f"{where}, :61: line {n}") for n, t in enumerate(parsed.transactions, start=1)
        ]
    closing_day = date(closing.date.year, closing.date.month, closing.date.day)
    if date(opening.date.year, opening.date.month, opening.date.day) > closing_day:
        raise StatementRefused(
            f"the opening balance (:60:, {opening.date}) is dated after the closing (:62:, {closing_day})",
            where=where,
        )
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
