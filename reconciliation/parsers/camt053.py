"""ISO 20022 camt.053 (BankToCustomerStatement), .001.02 and later versions: one `Statement` per <Stmt>.

Balances: the opening is OPBD (PRCD, the previous day's closing, when the bank gives no OPBD), the closing
CLBD, signed by their CdtDbtInd; other balance types (interim, available) are ignored. The period is
<FrToDt> when present, else the days of the closing balance and the entries. Entries: see `camt.entries`.
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from reconciliation.parsers.camt import (
    Reader,
    account_of,
    amount_of,
    date_choice,
    direction,
    entries,
    period_or_days,
    read_blocks,
    sequence_of,
)
from reconciliation.parsers.safe_xml import parse_xml
from reconciliation.statement import Statement, StatementRefused

_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)


def parse_camt053(data: bytes) -> list[Statement]:
    return read_camt053(parse_xml(data))


def read_camt053(root: etree._Element) -> list[Statement]:
    return read_blocks(root, "camt.053", "BkToCstmrStmt", "Stmt", _statement)


def _balances(r: Reader, block: etree._Element, currency: str, *, where: str) -> dict[str, tuple[int, date]]:
    found: dict[str, tuple[int, date]] = {}
    for bal in r.findall(block, "Bal"):
        code = r.first_text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code not in _OPENING + _CLOSING:
            continue
        here = f"{where}, balance {code}"
        if code in found:
            raise StatementRefused("the balance appears twice", where=here)
        amount = amount_of(r, bal, currency, where=here)
        sign = 1 if direction(r.text(bal, "CdtDbtInd"), where=here) == "credit" else -1
        day = date_choice(r, r.find(bal, "Dt"), where=here)
        if day is None:
            raise StatementRefused("balance without a date", where=here)
        found[code] = (sign * amount, day)
    return found


def _statement(r: Reader, block: etree._Element, fmt: str, number: int) -> Statement:
    statement_id = r.text(block, "Id")
    where = f"Stmt {statement_id or number}"
    if statement_id is None:
        raise StatementRefused("statement without an <Id>", where=where)
    account, currency = account_of(r, block, where=where)
    balances = _balances(r, block, currency, where=where)
    opening = balances.get("OPBD") or balances.get("PRCD")
    closing = balances.get("CLBD")
    lines = list(entries(r, block, currency, where=where))
    days = [line.booking_date for line in lines] + ([closing[1]] if closing else [])
    period = period_or_days(r, block, days, sources="closing balance, entry", where=where)
    return Statement(
        format=fmt,
        statement_id=statement_id,
        account=account,
        currency=currency,
        from_date=period[0],
        to_date=period[1],
        sequence=sequence_of(r, block, where=where),
        opening_balance=opening[0] if opening else None,
        closing_balance=closing[0] if closing else None,
        lines=lines,
    )
