"""ISO 20022 pain.001.001.09 (CustomerCreditTransferInitiation) for a batch's payable items, for banks that
take a payment file instead of one payout call per item.

`build_pain001` is a pure function of an `Initiation` (tested against the XSD); `batch_initiation` reads one
batch from the database and decrypts what the file needs. The file carries plain account numbers and names by
nature: the route that serves it (batch_pages.py) lets only finance/admin download it, audits each download
and answers with `Cache-Control: no-store`.
"""

from __future__ import annotations

import asyncio
import copy
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
from lxml import etree

from core.errors import Conflict, NotFound
from core.keys import AppKeys
from core.money import LOCAL_TZ
from disbursements.beneficiaries import decrypt_account, decrypt_name

NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
# The city as the debtor: the name its treasury account is held under at the bank (the demo's collection
# account is held by the State Treasury of Hà Nội; core/demo_bank_key.py, payments/demo.py).
DEBTOR_NAME = "KHO BAC NHA NUOC HA NOI"
# States whose items the file pays: what the batch's control totals cover (not held out, not cancelled).
PAYABLE_STATES = ("ready", "sending", "sent_unknown", "paid", "failed", "returned")
# A file goes to a bank only after a second person approved the batch (four eyes), and never for a
# cancelled one.
EXPORTABLE_BATCH_STATES = ("approved", "executing", "completed")

_SPACES = re.compile(r" {2,}")
# Whitespace and invisible format characters (zero-width, bidi marks, BOM, soft hyphen) part words.
_BREAKS = re.compile(r"[\s\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_D = str.maketrans({"Đ": "D", "đ": "d"})


def bank_spelling(text: str, *, limit: int = 140) -> str:
    """A name as Vietnamese banks hold it: diacritics dropped (Đ/đ → D), upper-case, printable ASCII only,
    spaces collapsed, at most `limit` characters. `&` and `<` stay (the XML writer escapes them)."""
    spaced = _BREAKS.sub(" ", text.translate(_D))
    # NFD splits each letter from its marks; the marks (and any other non-ASCII) then drop out.
    plain = unicodedata.normalize("NFD", spaced).encode("ascii", "ignore").decode("ascii").upper()
    return _SPACES.sub(" ", _CONTROLS.sub(" ", plain)).strip()[:limit]


@dataclass(frozen=True)
class Transfer:
    """One credit transfer: an item of the batch with its beneficiary's bank account, in plain."""

    end_to_end_id: str
    amount: int  # đồng
    bank_bin: str
    account_number: str
    holder_name: str


@dataclass(frozen=True)
class Initiation:
    message_id: str
    payment_info_id: str
    created_at: datetime
    execution_date: date
    debtor_name: str
    debtor_bin: str
    debtor_account: str
    remittance: str
    transfers: Sequence[Transfer]

    @property
    def count(self) -> int:
        return len(self.transfers)

    @property
    def total(self) -> int:
        return sum(t.amount for t in self.transfers)


_QNAMES: dict[str, str] = {}


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    qname = _QNAMES.get(tag) or _QNAMES.setdefault(tag, f"{{{NS}}}{tag}")
    child = etree.SubElement(parent, qname, attrib) if attrib else etree.SubElement(parent, qname)
    if text is not None:
        child.text = text
    return child


def _agent(parent: etree._Element, tag: str, bin_: str) -> None:
    """A bank by its BIN, the member id of Vietnam's interbank clearing (NAPAS)."""
    member = _el(_el(_el(parent, tag), "FinInstnId"), "ClrSysMmbId")
    _el(member, "MmbId", bin_)


def _account(parent: etree._Element, tag: str, number: str) -> None:
    _el(_el(_el(_el(parent, tag), "Id"), "Othr"), "Id", number)


def _party(parent: etree._Element, tag: str, name: str) -> None:
    _el(_el(parent, tag), "Nm", bank_spelling(name) or "-")


def build_pain001(initiation: Initiation) -> bytes:
    """The pain.001.001.09 document (UTF-8, with an XML declaration). Amounts in whole đồng, no decimals;
    NbOfTxs and CtrlSum are counted from the transfers themselves. Raises ValueError for an empty batch
    (the schema needs at least one transaction) or a non-positive amount."""
    if not initiation.transfers:
        raise ValueError("a payment file needs at least one transfer")
    if any(t.amount <= 0 for t in initiation.transfers):
        raise ValueError("every transfer needs a positive amount")
    count, total = str(initiation.count), str(initiation.total)
    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    message = _el(root, "CstmrCdtTrfInitn")
    header = _el(message, "GrpHdr")
    _el(header, "MsgId", initiation.message_id[:35])
    created = initiation.created_at.astimezone(UTC).replace(microsecond=0)
    _el(header, "CreDtTm", created.isoformat().replace("+00:00", "Z"))
    _el(header, "NbOfTxs", count)
    _el(header, "CtrlSum", total)
    _party(header, "InitgPty", initiation.debtor_name)

    info = _el(message, "PmtInf")
    _el(info, "PmtInfId", initiation.payment_info_id[:35])
    _el(info, "PmtMtd", "TRF")
    _el(info, "NbOfTxs", count)
    _el(info, "CtrlSum", total)
    _el(_el(info, "ReqdExctnDt"), "Dt", initiation.execution_date.isoformat())
    _party(info, "Dbtr", initiation.debtor_name)
    _account(info, "DbtrAcct", initiation.debtor_account)
    _agent(info, "DbtrAgt", initiation.debtor_bin)
    # One transaction built once, then copied per transfer with its values set: the copy runs in C, about
    # three times faster than building ~18 elements per transfer in Python (100,000 transfers in seconds).
    template = etree.Element(f"{{{NS}}}CdtTrfTxInf", nsmap={None: NS})
    ids = _el(template, "PmtId")
    slots = [_el(ids, "InstrId"), _el(ids, "EndToEndId"), _el(_el(template, "Amt"), "InstdAmt", Ccy="VND")]
    _agent(template, "CdtrAgt", "")
    slots.append(template[-1][0][0][0])  # CdtrAgt/FinInstnId/ClrSysMmbId/MmbId
    slots.append(_el(_el(template, "Cdtr"), "Nm"))
    _account(template, "CdtrAcct", "")
    slots.append(template[-1][0][0][0])  # CdtrAcct/Id/Othr/Id
    _el(_el(template, "RmtInf"), "Ustrd", bank_spelling(initiation.remittance) or "-")
    order = list(template.iter())
    where = [order.index(slot) for slot in slots]
    for t in initiation.transfers:
        tx = copy.deepcopy(template)
        elements = list(tx.iter())
        values = (
            t.end_to_end_id,
            t.end_to_end_id,
            str(t.amount),
            t.bank_bin,
            bank_spelling(t.holder_name) or "-",
            t.account_number,
        )
        for index, value in zip(where, values, strict=True):
            elements[index].text = value
        info.append(tx)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def remittance_text(programme_name_vi: str, period: str) -> str:
    """`LUONG HUU THANG 01/2026`: the programme and the month, as the beneficiary's statement shows it."""
    return bank_spelling(f"{programme_name_vi} tháng {period[5:7]}/{period[:4]}")


_BATCH_SQL = """
SELECT b.id, b.programme, b.period, b.state, b.channel, p.name_vi, p.funding_account
  FROM disb_batches b JOIN disb_programmes p ON p.code = b.programme
 WHERE b.id = $1"""

_ITEMS_SQL = """
SELECT i.end_to_end_id, i.amount, a.bank_bin, a.account_enc, f.full_name_enc
  FROM disb_items i
  JOIN disb_accounts a ON a.id = i.account_id
  JOIN disb_beneficiaries f ON f.id = i.beneficiary_id
 WHERE i.batch_id = $1 AND i.state = ANY($2::text[])
 ORDER BY i.id"""


async def batch_initiation(
    conn: asyncpg.Connection, keys: AppKeys, batch_id: int, *, now: datetime | None = None
) -> Initiation:
    """The payment file's content for one approved batch: its payable items with plain account numbers and
    names. NotFound for no such batch; Conflict for a batch not approved yet, cancelled, or with nothing to
    pay."""
    batch = await conn.fetchrow(_BATCH_SQL, batch_id)
    if batch is None:
        raise NotFound("no disbursement batch with this id", field="id")
    if batch["state"] not in EXPORTABLE_BATCH_STATES:
        raise Conflict(
            f"a batch in state {batch['state']} has no payment file: only an approved batch goes to a bank",
            field="state",
        )
    if batch["channel"] != "file":
        # The worker pays this batch through the bank's API: the same transfers in a file would pay twice.
        raise Conflict(
            "this batch is paid through the bank's API; only a batch built for a file has a payment file",
            field="channel",
            message="disb.pain001.api_batch",
        )
    rows = await conn.fetch(_ITEMS_SQL, batch_id, list(PAYABLE_STATES))
    if not rows:
        raise Conflict("this batch has no payable item", field="id")
    _, _, bin_, account = batch["funding_account"].split(":", 3)
    now = now or datetime.now(UTC)
    # 100,000 decryptions take seconds: off the event loop, so other requests go on meanwhile.
    transfers = await asyncio.get_running_loop().run_in_executor(None, _transfers, keys, rows)
    return Initiation(
        message_id=f"CITYPAY-DISB-{batch_id}",  # one per batch: a bank refuses the same file twice
        payment_info_id=f"DISB-{batch_id}-{batch['programme'][:12]}-{batch['period']}",
        created_at=now,
        execution_date=max(now.astimezone(LOCAL_TZ).date(), _first_day(batch["period"])),
        debtor_name=DEBTOR_NAME,
        debtor_bin=bin_,
        debtor_account=account,
        remittance=remittance_text(batch["name_vi"], batch["period"]),
        transfers=transfers,
    )


def _transfers(keys: AppKeys, rows: Sequence[asyncpg.Record]) -> list[Transfer]:
    return [
        Transfer(
            end_to_end_id=r["end_to_end_id"],
            amount=r["amount"],
            bank_bin=r["bank_bin"],
            account_number=decrypt_account(keys, r["account_enc"]),
            holder_name=decrypt_name(keys, r["full_name_enc"]),
        )
        for r in rows
    ]


def _first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)
