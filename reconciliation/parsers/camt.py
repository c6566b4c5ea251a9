"""What camt.053 (statement) and camt.054 (notification) share: the account block and the entries.

Tolerant of the namespace version (…001.02 up to …001.13: the message name and number are checked, the
version is only reported), strict about content: every element is looked up in the document's own
namespace, amounts must be whole đồng in VND, an entry needs a status, a booking date, a direction and a
reference. Only booked entries (Sts BOOK) become lines: pending and information-only entries do not move the
balance, so they are left out (the importer would otherwise see a statement that does not add up).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime

from lxml import etree

from core.money import LOCAL_TZ
from reconciliation.parsers.amounts import check_currency, iso_amount
from reconciliation.parsers.safe_xml import namespace
from reconciliation.statement import Direction, Statement, StatementLine, StatementRefused

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(\d{2})")
USTRD_LENGTH = 140  # max length of one <Ustrd>: a text cut at exactly this length continues in the next one
_STATUS_BOOKED = "BOOK"
_STATUS_SKIPPED = {"PDNG", "INFO", "FUTR"}
_NO_REFERENCE = {"", "NOTPROVIDED", "NONREF"}


def message_kind(root: etree._Element) -> tuple[str, str] | None:
    """("camt.053", "camt.053.001.08") for a camt Document root, else None."""
    match = _NAMESPACE.fullmatch(namespace(root))
    if match is None or etree.QName(root).localname != "Document":
        return None
    return match.group(1), f"{match.group(1)}.001.{match.group(2)}"


class Reader:
    """Child lookups by local path in one namespace: reader.text(el, "Acct/Id/Othr/Id")."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def _path(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def find(self, element: etree._Element, path: str) -> etree._Element | None:
        return element.find(self._path(path))

    def findall(self, element: etree._Element, path: str) -> list[etree._Element]:
        return element.findall(self._path(path))

    def text(self, element: etree._Element, path: str) -> str | None:
        found = self.find(element, path)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def first_text(self, element: etree._Element, *paths: str) -> str | None:
        for path in paths:
            value = self.text(element, path)
            if value is not None:
                return value
        return None


def local_date(text: str, *, where: str) -> date:
    """ISODate, or ISODateTime read on the Hà Nội calendar when it carries an offset."""
    try:
        if "T" not in text:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment.astimezone(LOCAL_TZ) if moment.tzinfo else moment).date()
    except (ValueError, OverflowError):  # OverflowError: a year-1 moment that Hà Nội time puts before year 1
        raise StatementRefused(f"date {text!r} is not an ISO date in range", where=where) from None


def date_choice(r: Reader, element: etree._Element | None, *, where: str) -> date | None:
    """<BookgDt>/<ValDt>/<Bal><Dt>: a <Dt> or a <DtTm> inside."""
    if element is None:
        return None
    text = r.first_text(element, "Dt", "DtTm")
    return None if text is None else local_date(text, where=where)


def direction(text: str | None, *, where: str) -> Direction:
    if text == "CRDT":
        return "credit"
    if text == "DBIT":
        return "debit"
    raise StatementRefused(f"CdtDbtInd {text!r} is neither CRDT nor DBIT", where=where)


def amount_of(r: Reader, element: etree._Element, currency: str, *, where: str) -> int:
    amt = r.find(element, "Amt")
    if amt is None:
        raise StatementRefused("no <Amt>", where=where)
    if check_currency(amt.get("Ccy"), where=where) != currency:
        raise StatementRefused(f"amount in {amt.get('Ccy')}, account in {currency}", where=where)
    return iso_amount(amt.text, where=where)


def account_of(r: Reader, block: etree._Element, *, where: str) -> tuple[str, str]:
    """(account number, currency) of <Stmt>/<Ntfctn>."""
    account = r.first_text(block, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
    if account is None:
        raise StatementRefused("no account number (Acct/Id/IBAN or Acct/Id/Othr/Id)", where=where)
    currency = r.text(block, "Acct/Ccy")
    if currency is None:  # optional in the schema: the amounts say it then
        first = block.find(f".//{{{r.ns}}}Amt")
        currency = first.get("Ccy") if first is not None else "VND"
    return account, check_currency(currency, where=where)


def sequence_of(r: Reader, block: etree._Element, *, where: str) -> int | None:
    text = r.first_text(block, "ElctrncSeqNb", "LglSeqNb")
    if text is None:
        return None
    if not text.isdigit():
        raise StatementRefused(f"sequence number {text!r} is not a number", where=where)
    return int(text)


def period_of(r: Reader, block: etree._Element, *, where: str) -> tuple[date, date] | None:
    frto = r.find(block, "FrToDt")
    if frto is None:
        return None
    start, end = r.text(frto, "FrDtTm"), r.text(frto, "ToDtTm")
    if start is None or end is None:
        raise StatementRefused("FrToDt without FrDtTm and ToDtTm", where=where)
    return local_date(start, where=where), local_date(end, where=where)


def read_blocks(
    root: etree._Element,
    kind_name: str,
    message_tag: str,
    block_tag: str,
    build: Callable[[Reader, etree._Element, str, int], Statement],
) -> list[Statement]:
    """The `block_tag` blocks (<Stmt>, <Ntfctn>) of a `kind_name` message, each built into a `Statement` by
    build(reader, block, format, number)."""
    kind = message_kind(root)
    if kind is None or kind[0] != kind_name:
        raise StatementRefused(f"not a {kind_name} document (root {root.tag})")
    r = Reader(namespace(root))
    message = r.find(root, message_tag)
    if message is None:
        raise StatementRefused(f"{kind_name} without <{message_tag}>")
    blocks = r.findall(message, block_tag)
    if not blocks:
        raise StatementRefused(f"{kind_name} without any <{block_tag}>")
    return [build(r, block, kind[1], number) for number, block in enumerate(blocks, start=1)]


def period_or_days(
    r: Reader, block: etree._Element, days: list[date], *, sources: str, where: str
) -> tuple[date, date]:
    """<FrToDt> when present, else the span of `days` (the block's entries, its closing balance), else the
    day of its CreDtTm; `sources` names what `days` came from for the refusal."""
    period = period_of(r, block, where=where)
    if period is not None:
        return period
    if not days:
        created = r.text(block, "CreDtTm")
        if created is None:
            raise StatementRefused(f"no period: no FrToDt, {sources} or CreDtTm", where=where)
        days = [local_date(created, where=where)]
    return min(days), max(days)


def _joined(pieces: list[str], limit: int) -> str:
    """Texts a bank cut into fixed-width pieces: a piece of exactly `limit` characters was cut mid-text and
    continues without a space; a shorter one ended a phrase. Whitespace is collapsed in the result."""
    out = ""
    for i, piece in enumerate(pieces):
        out += piece if i == 0 or len(pieces[i - 1]) >= limit else " " + piece
    return " ".join(out.split())


def _party(r: Reader, details: etree._Element, role: str) -> tuple[str | None, str | None]:
    """Name and account of Dbtr/Cdtr: <Dbtr><Nm> in .02, <Dbtr><Pty><Nm> from .08."""
    name = r.first_text(details, f"RltdPties/{role}/Nm", f"RltdPties/{role}/Pty/Nm")
    account = r.first_text(details, f"RltdPties/{role}Acct/Id/IBAN", f"RltdPties/{role}Acct/Id/Othr/Id")
    return name, account


def entries(r: Reader, block: etree._Element, currency: str, *, where: str) -> Iterator[StatementLine]:
    for number, ntry in enumerate(r.findall(block, "Ntry"), start=1):
        ref_hint = r.text(ntry, "AcctSvcrRef") or r.text(ntry, "NtryRef")
        here = f"{where}, entry {number}" + (f" ({ref_hint})" if ref_hint else "")
        status = r.first_text(ntry, "Sts", "Sts/Cd")
        if status in _STATUS_SKIPPED:
            continue
        if status != _STATUS_BOOKED:
            raise StatementRefused(f"entry status {status!r} is not BOOK, PDNG or INFO", where=here)
        line = _entry(r, ntry, currency, where=here)
        yield line


def _entry(r: Reader, ntry: etree._Element, currency: str, *, where: str) -> StatementLine:
    amount = amount_of(r, ntry, currency, where=where)
    if amount == 0:
        raise StatementRefused("entry of 0 đồng", where=where)
    way = direction(r.text(ntry, "CdtDbtInd"), where=where)
    reversal_text = r.text(ntry, "RvslInd")
    if reversal_text not in (None, "true", "false", "1", "0"):
        raise StatementRefused(f"RvslInd {reversal_text!r} is not a boolean", where=where)
    reversal = reversal_text in ("true", "1")
    booked = date_choice(r, r.find(ntry, "BookgDt"), where=where)
    value = date_choice(r, r.find(ntry, "ValDt"), where=where)
    if booked is None:
        raise StatementRefused("booked entry without a booking date", where=where)
    transactions = r.findall(ntry, "NtryDtls/TxDtls")
    bank_ref = r.text(ntry, "AcctSvcrRef")
    if bank_ref is None and transactions:
        bank_ref = r.text(transactions[0], "Refs/AcctSvcrRef")
    bank_ref = bank_ref or r.text(ntry, "NtryRef")
    if bank_ref is None:
        raise StatementRefused("no bank reference (AcctSvcrRef or NtryRef)", where=where)
    # A batch entry (several TxDtls) is one line: its end-to-end id and counterparty only when unambiguous.
    e2e_ids = {r.text(tx, "Refs/EndToEndId") or "" for tx in transactions}
    e2e = e2e_ids.pop() if len(e2e_ids) == 1 else ""
    name = account = None
    if len(transactions) == 1:
        # The other side: the debtor of money received, the creditor of money sent (the original's other
        # side for a reversal); whichever the bank gave if only one.
        received = (way == "credit") != reversal
        first, second = ("Dbtr", "Cdtr") if received else ("Cdtr", "Dbtr")
        name, account = _party(r, transactions[0], first)
        if name is None and account is None:
            name, account = _party(r, transactions[0], second)
    texts = [
        el.text or ""
        for tx in transactions
        for el in r.findall(tx, "RmtInf/Ustrd")
        if (el.text or "").strip()
    ]
    # No remittance text: the bank's free text on the entry or its first transaction.
    extra = r.text(ntry, "AddtlNtryInf") or (r.text(transactions[0], "AddtlTxInf") if transactions else None)
    narrative = _joined(texts, USTRD_LENGTH) or " ".join((extra or "").split())
    return StatementLine(
        bank_ref=bank_ref,
        booking_date=booked,
        direction=way,
        amount=amount,
        narrative=narrative,
        value_date=value,
        end_to_end_id=None if e2e.upper() in _NO_REFERENCE else e2e,
        reversal=reversal,
        counterparty_name=name,
        counterparty_account=account,
    )
