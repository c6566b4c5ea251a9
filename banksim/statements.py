"""A day's statement of one account, as the bank exports it: camt.053.001.02 (shaped like
/work/shared/data/iso20022/camt053_min.xml), MT940 (like mt940_min.sta) and CSV. Opening balance plus the
day's entries is the closing balance, in every format.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from xml.sax.saxutils import escape

import asyncpg

from banksim.bank import AccountNotFound
from core.money import LOCAL_TZ
from core.pii import mask_account

CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
FORMATS = ("camt053", "mt940", "csv")
CONTENT_TYPES = {"camt053": "application/xml", "mt940": "text/plain", "csv": "text/csv"}
EXTENSIONS = {"camt053": "xml", "mt940": "sta", "csv": "csv"}


@dataclass(frozen=True)
class Entry:
    bank_txn_id: str
    amount: int  # > 0 credit, < 0 debit
    booked_at: datetime
    narrative: str
    end_to_end_id: str | None
    counterparty_name: str
    counterparty_bin: str
    counterparty_account: str


@dataclass(frozen=True)
class Statement:
    bin: str
    account: str
    holder_name: str
    day: date
    opening: int
    closing: int
    entries: list[Entry]
    created_at: datetime

    @property
    def credits(self) -> list[Entry]:
        return [e for e in self.entries if e.amount > 0]

    @property
    def debits(self) -> list[Entry]:
        return [e for e in self.entries if e.amount < 0]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


async def load_statement(conn: asyncpg.Connection, bin_: str, account_number: str, day: date) -> Statement:
    account = await conn.fetchrow(
        "SELECT id, bin, account_number, holder_name, initial_balance FROM accounts "
        "WHERE bin = $1 AND account_number = $2",
        bin_,
        account_number,
    )
    if account is None:
        raise AccountNotFound(f"no account {account_number} at this bank", field="account")
    start, end = day_bounds(day)
    # One snapshot, so the opening balance and the entries agree even while transfers are booked.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        before = await conn.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM postings WHERE account_id = $1 AND booked_at < $2",
            account["id"],
            start,
        )
        rows = await conn.fetch(
            """SELECT t.bank_txn_id, p.amount, p.booked_at, t.narrative, t.end_to_end_id,
                      o.holder_name AS other_name, o.bin AS other_bin, o.account_number AS other_account
                 FROM postings p
                 JOIN transfers t ON t.id = p.transfer_id
                 JOIN accounts o ON o.id = CASE WHEN p.amount > 0 THEN t.debit_account_id
                                                ELSE t.credit_account_id END
                WHERE p.account_id = $1 AND p.booked_at >= $2 AND p.booked_at < $3
                ORDER BY p.booked_at, p.id""",
            account["id"],
            start,
            end,
        )
        created_at = await conn.fetchval("SELECT now()")
    opening = account["initial_balance"] + before
    entries = [
        Entry(
            r["bank_txn_id"],
            r["amount"],
            r["booked_at"],
            r["narrative"],
            r["end_to_end_id"],
            r["other_name"],
            r["other_bin"],
            r["other_account"],
        )
        for r in rows
    ]
    return Statement(
        account["bin"],
        account["account_number"],
        account["holder_name"],
        day,
        opening,
        opening + sum(e.amount for e in entries),
        entries,
        created_at,
    )


def render(statement: Statement, fmt: str) -> str:
    return {"camt053": render_camt053, "mt940": render_mt940, "csv": render_csv}[fmt](statement)


# camt.053.001.02 ------------------------------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def _dc(amount: int) -> str:
    return "CRDT" if amount >= 0 else "DBIT"


def _text(value: str, limit: int) -> str:
    return escape(" ".join(value.split())[:limit])


def _chunks(text: str, size: int) -> list[str]:
    text = " ".join(text.split())
    return [text[i : i + size] for i in range(0, len(text), size)] or []


def _balance(code: str, amount: int, day: date) -> str:
    return (
        f"      <Bal>\n        <Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>\n"
        f'        <Amt Ccy="VND">{abs(amount)}</Amt>\n        <CdtDbtInd>{_dc(amount)}</CdtDbtInd>\n'
        f"        <Dt><Dt>{day.isoformat()}</Dt></Dt>\n      </Bal>\n"
    )


def _camt_entry(e: Entry) -> str:
    local_day = e.booked_at.astimezone(LOCAL_TZ).date().isoformat()
    family = "RCDT" if e.amount > 0 else "ICDT"  # received / issued credit transfer
    party = "Dbtr" if e.amount > 0 else "Cdtr"
    e2e = " ".join((e.end_to_end_id or "").split())[:35]
    refs = f"<EndToEndId>{escape(e2e)}</EndToEndId>" if e2e else ""
    refs = f"<Refs><AcctSvcrRef>{escape(e.bank_txn_id)}</AcctSvcrRef>{refs}</Refs>"
    ustrd = "".join(f"<Ustrd>{escape(c)}</Ustrd>" for c in _chunks(e.narrative, 140))
    rmt = f"\n            <RmtInf>{ustrd}</RmtInf>" if ustrd else ""
    return (
        "      <Ntry>\n"
        f'        <Amt Ccy="VND">{abs(e.amount)}</Amt>\n'
        f"        <CdtDbtInd>{_dc(e.amount)}</CdtDbtInd>\n"
        "        <Sts>BOOK</Sts>\n"
        f"        <BookgDt><Dt>{local_day}</Dt></BookgDt>\n"
        f"        <ValDt><Dt>{local_day}</Dt></ValDt>\n"
        f"        <AcctSvcrRef>{escape(e.bank_txn_id)}</AcctSvcrRef>\n"
        f"        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
        "</BkTxCd>\n"
        "        <NtryDtls>\n"
        "          <TxDtls>\n"
        f"            {refs}\n"
        f"            <RltdPties><{party}><Nm>{_text(e.counterparty_name, 140)}</Nm></{party}>"
        f"<{party}Acct><Id><Othr><Id>{mask_account(e.counterparty_account)}</Id></Othr></Id></{party}Acct>"
        f"</RltdPties>{rmt}\n"
        "          </TxDtls>\n"
        "        </NtryDtls>\n"
        "      </Ntry>\n"
    )


def render_camt053(s: Statement) -> str:
    start, end = day_bounds(s.day)
    credits, debits = s.credits, s.debits
    net = s.closing - s.opening
    seq = s.day.timetuple().tm_yday
    stamp = s.day.strftime("%Y%m%d")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{CAMT_NS}">\n'
        "  <BkToCstmrStmt>\n"
        "    <GrpHdr>\n"
        f"      <MsgId>STMT-{stamp}-{escape(s.account)}</MsgId>\n"
        f"      <CreDtTm>{_local(s.created_at)}</CreDtTm>\n"
        "    </GrpHdr>\n"
        "    <Stmt>\n"
        f"      <Id>{escape(s.account)}-{stamp}</Id>\n"
        f"      <ElctrncSeqNb>{seq}</ElctrncSeqNb>\n"
        f"      <CreDtTm>{_local(s.created_at)}</CreDtTm>\n"
        f"      <FrToDt><FrDtTm>{_local(start)}</FrDtTm><ToDtTm>{_local(end - timedelta(seconds=1))}</ToDtTm>"
        "</FrToDt>\n"
        "      <Acct>\n"
        f"        <Id><Othr><Id>{escape(s.account)}</Id></Othr></Id>\n"
        "        <Ccy>VND</Ccy>\n"
        f"        <Nm>{_text(s.holder_name, 70)}</Nm>\n"
        "      </Acct>\n"
        + _balance("OPBD", s.opening, s.day)
        + _balance("CLBD", s.closing, s.day)
        + "      <TxsSummry>\n"
        f"        <TtlNtries><NbOfNtries>{len(s.entries)}</NbOfNtries>"
        f"<Sum>{sum(abs(e.amount) for e in s.entries)}</Sum>"
        f"<TtlNetNtryAmt>{abs(net)}</TtlNetNtryAmt><CdtDbtInd>{_dc(net)}</CdtDbtInd></TtlNtries>\n"
        f"        <TtlCdtNtries><NbOfNtries>{len(credits)}</NbOfNtries>"
        f"<Sum>{sum(e.amount for e in credits)}</Sum></TtlCdtNtries>\n"
        f"        <TtlDbtNtries><NbOfNtries>{len(debits)}</NbOfNtries>"
        f"<Sum>{-sum(e.amount for e in debits)}</Sum></TtlDbtNtries>\n"
        "      </TxsSummry>\n"
        + "".join(_camt_entry(e) for e in s.entries)
        + "    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n"
    )


# MT940 ----------------------------------------------------------------------------------------------------

# SWIFT's x character set: letters, digits, space and / - ? : ( ) . , ' +
_NOT_SWIFT = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def swift_text(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(_NOT_SWIFT.sub(" ", text).split())


def _mt_amount(amount: int) -> str:
    return f"{abs(amount)},"  # VND has no minor unit: the decimal comma stands alone, as in the sample


def _mt_balance(tag: str, amount: int, day: date) -> str:
    return f":{tag}:{'C' if amount >= 0 else 'D'}{day:%y%m%d}VND{_mt_amount(amount)}"


def _safe_detail_line(piece: str) -> str:
    """A line of :86: may not start with ":" (any reader takes it for a tag: a payer's purpose could forge a
    ":61:" line) or be "-" (the end of the message): its first character becomes "."."""
    return "." + piece[1:] if piece[:1] in (":", "-") else piece


def render_mt940(s: Statement) -> str:
    lines = [
        f":20:STMT{s.day:%y%m%d}",
        f":25:{s.account}",
        f":28C:{s.day.timetuple().tm_yday}/1",
        _mt_balance("60F", s.opening, s.day),
    ]
    for e in s.entries:
        local = e.booked_at.astimezone(LOCAL_TZ)
        customer_ref = swift_text(e.end_to_end_id or "").replace(" ", "")[:16].rstrip("/") or "NONREF"
        if customer_ref.startswith("/") or "//" in customer_ref:  # it would run into the "//" that follows
            customer_ref = "NONREF"
        lines.append(
            f":61:{local:%y%m%d}{local:%m%d}{'C' if e.amount > 0 else 'D'}{_mt_amount(e.amount)}"
            f"NTRF{customer_ref}//{e.bank_txn_id[:16]}"
        )
        narrative = swift_text(e.narrative) or "NONREF"
        details = [_safe_detail_line(narrative[i : i + 65]) for i in range(0, len(narrative), 65)][:6]
        lines.append(":86:" + "\n".join(details))
    lines.append(_mt_balance("62F", s.closing, s.day))
    lines.append("-")
    return "\n".join(lines) + "\n"


# CSV ------------------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "record_type",
    "booking_date",
    "booked_at",
    "bank_txn_id",
    "debit",
    "credit",
    "balance",
    "currency",
    "counterparty_name",
    "counterparty_bin",
    "counterparty_account",
    "end_to_end_id",
    "narrative",
]


def _cell(text: str) -> str:
    """Text from payers (QR purposes) must not become a spreadsheet formula when the CSV is opened."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(s: Statement) -> str:
    """One header row; an OPENING row, one ENTRY row per posting with the running balance, a CLOSING row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    day = s.day.isoformat()
    writer.writerow(["OPENING", day, "", "", "", "", s.opening, "VND", "", "", "", "", ""])
    balance = s.opening
    for e in s.entries:
        balance += e.amount
        writer.writerow(
            [
                "ENTRY",
                e.booked_at.astimezone(LOCAL_TZ).date().isoformat(),
                _local(e.booked_at),
                e.bank_txn_id,
                -e.amount if e.amount < 0 else "",
                e.amount if e.amount > 0 else "",
                balance,
                "VND",
                _cell(e.counterparty_name),
                e.counterparty_bin,
                mask_account(e.counterparty_account),
                _cell(e.end_to_end_id or ""),
                _cell(e.narrative),
            ]
        )
    writer.writerow(["CLOSING", day, "", "", "", "", s.closing, "VND", "", "", "", "", ""])
    return out.getvalue()
