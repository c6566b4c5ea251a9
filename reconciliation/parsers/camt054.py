"""ISO 20022 camt.054 (BankToCustomerDebitCreditNotification), .001.02 and later: one `Statement` per
<Ntfctn>, without balances (the message carries none: opening and closing are None). Its entries read exactly
like camt.053's; the period is <FrToDt> when present, else the days of the entries (or CreDtTm)."""

from __future__ import annotations

from lxml import etree

from reconciliation.parsers.camt import Reader, account_of, entries, period_or_days, read_blocks, sequence_of
from reconciliation.parsers.safe_xml import parse_xml
from reconciliation.statement import Statement, StatementRefused


def parse_camt054(data: bytes) -> list[Statement]:
    return read_camt054(parse_xml(data))


def read_camt054(root: etree._Element) -> list[Statement]:
    return read_blocks(root, "camt.054", "BkToCstmrDbtCdtNtfctn", "Ntfctn", _notification)


def _notification(r: Reader, block: etree._Element, fmt: str, number: int) -> Statement:
    notification_id = r.text(block, "Id")
    where = f"Ntfctn {notification_id or number}"
    if notification_id is None:
        raise StatementRefused("notification without an <Id>", where=where)
    account, currency = account_of(r, block, where=where)
    lines = list(entries(r, block, currency, where=where))
    period = period_or_days(r, block, [line.booking_date for line in lines], sources="entry", where=where)
    return Statement(
        format=fmt,
        statement_id=notification_id,
        account=account,
        currency=currency,
        from_date=period[0],
        to_date=period[1],
        sequence=sequence_of(r, block, where=where),
        lines=lines,
    )
