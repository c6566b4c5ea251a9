"""pain.001.001.09 export: the pure builder is valid against the ISO 20022 schema shipped in shared/data, with
Vietnamese names, characters that need escaping, and 1 or 500 transfers; totals equal the transfers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from disbursements.pain001 import NS, Initiation, Transfer, bank_spelling, build_pain001, remittance_text

# shared/ lies beside the checkout (as CI lays it beside its clone).
# The published schema; tests/banksim/data holds an identical copy for a fresh checkout.
_SHARED_XSD = Path(__file__).resolve().parents[3] / "shared" / "data" / "iso20022" / "pain.001.001.09.xsd"
XSD = (
    _SHARED_XSD
    if _SHARED_XSD.exists()
    else Path(__file__).resolve().parents[1] / "banksim" / "data" / "pain.001.001.09.xsd"
)
N = {"p": NS}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def initiation(transfers: list[Transfer]) -> Initiation:
    return Initiation(
        message_id="CITYPAY-DISB-7",
        payment_info_id="DISB-7-pension-2026-01",
        created_at=datetime(2026, 1, 20, 8, 30, 15, 123456, tzinfo=UTC),
        execution_date=date(2026, 1, 20),
        debtor_name="Kho bạc Nhà nước Hà Nội",
        debtor_bin="970436",
        debtor_account="0011001234567",
        remittance=remittance_text("Lương hưu", "2026-01"),
        transfers=transfers,
    )


def transfer(i: int, name: str, amount: int = 3_500_000) -> Transfer:
    return Transfer(
        end_to_end_id=f"DISB7E{i:010d}",
        amount=amount,
        bank_bin="970415" if i % 2 else "970436",
        account_number=f"10{i:010d}",
        holder_name=name,
    )


def parse_valid(schema: etree.XMLSchema, body: bytes) -> etree._Element:
    doc = etree.fromstring(body)
    assert schema.validate(doc), schema.error_log
    return doc


def test_bank_spelling_drops_diacritics_and_keeps_what_must_be_escaped() -> None:
    assert bank_spelling("  Đặng   Thị Ngọc Ánh ") == "DANG THI NGOC ANH"
    assert bank_spelling("Nguyễn Văn Đức & <Con>") == "NGUYEN VAN DUC & <CON>"
    assert bank_spelling("Lê\tVăn\u200bTám") == "LE VAN TAM"  # tab and zero-width become spaces
    assert len(bank_spelling("A" * 500)) == 140


def test_one_transfer_with_a_vietnamese_name_is_valid(schema: etree.XMLSchema) -> None:
    body = build_pain001(initiation([transfer(1, "Trần Thị Hồng Đào", 4_250_000)]))
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    doc = parse_valid(schema, body)
    hdr = doc.find("p:CstmrCdtTrfInitn/p:GrpHdr", N)
    assert hdr.findtext("p:NbOfTxs", namespaces=N) == "1"
    assert hdr.findtext("p:CtrlSum", namespaces=N) == "4250000"
    assert hdr.findtext("p:CreDtTm", namespaces=N) == "2026-01-20T08:30:15Z"
    info = doc.find("p:CstmrCdtTrfInitn/p:PmtInf", N)
    assert info.findtext("p:PmtMtd", namespaces=N) == "TRF"
    assert info.findtext("p:ReqdExctnDt/p:Dt", namespaces=N) == "2026-01-20"
    assert info.findtext("p:Dbtr/p:Nm", namespaces=N) == "KHO BAC NHA NUOC HA NOI"
    assert info.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=N) == "0011001234567"
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=N) == "970436"
    tx = info.find("p:CdtTrfTxInf", N)
    assert tx.findtext("p:PmtId/p:InstrId", namespaces=N) == "DISB7E0000000001"
    assert tx.findtext("p:PmtId/p:EndToEndId", namespaces=N) == "DISB7E0000000001"
    amount = tx.find("p:Amt/p:InstdAmt", N)
    assert (amount.text, amount.get("Ccy")) == ("4250000", "VND")  # whole đồng, no decimals
    assert tx.findtext("p:CdtrAgt/p:FinInstnId/p:ClrSysMmbId/p:MmbId", namespaces=N) == "970415"
    assert tx.findtext("p:Cdtr/p:Nm", namespaces=N) == "TRAN THI HONG DAO"
    assert tx.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=N) == "100000000001"
    assert tx.findtext("p:RmtInf/p:Ustrd", namespaces=N) == "LUONG HUU THANG 01/2026"


def test_names_with_ampersand_and_angle_brackets_are_escaped(schema: etree.XMLSchema) -> None:
    names = ["Công ty A&B <script>", 'O\'Brien "Đức"', "]]> & </Nm><Nm>x"]
    body = build_pain001(initiation([transfer(i, n) for i, n in enumerate(names, 1)]))
    assert b"<script>" not in body and b"</Nm><Nm>x" not in body
    assert b"A&amp;B &lt;SCRIPT&gt;" in body
    doc = parse_valid(schema, body)
    got = [e.text for e in doc.iterfind(".//p:CdtTrfTxInf/p:Cdtr/p:Nm", N)]
    assert got == ["CONG TY A&B <SCRIPT>", 'O\'BRIEN "DUC"', "]]> & </NM><NM>X"]


def test_five_hundred_transfers_totals_equal_the_items(schema: etree.XMLSchema) -> None:
    transfers = [transfer(i, f"Nguyễn Văn Thứ {i}", 1_000_000 + i) for i in range(1, 501)]
    doc = parse_valid(schema, build_pain001(initiation(transfers)))
    txs = doc.findall(".//p:CdtTrfTxInf", N)
    assert len(txs) == 500
    total = sum(int(t.findtext("p:Amt/p:InstdAmt", namespaces=N)) for t in txs)
    assert total == sum(t.amount for t in transfers) == 500_000_000 + 125_250
    for path in ("p:CstmrCdtTrfInitn/p:GrpHdr", "p:CstmrCdtTrfInitn/p:PmtInf"):
        part = doc.find(path, N)
        assert part.findtext("p:NbOfTxs", namespaces=N) == "500"
        assert Decimal(part.findtext("p:CtrlSum", namespaces=N)) == total
    assert len({t.findtext("p:PmtId/p:EndToEndId", namespaces=N) for t in txs}) == 500


def test_a_tampered_file_fails_the_schema(schema: etree.XMLSchema) -> None:
    """The schema check is real: the same document with a decimal amount in the wrong place is refused."""
    doc = etree.fromstring(build_pain001(initiation([transfer(1, "An")])))
    doc.find(".//p:PmtMtd", N).text = "CASH"
    assert not schema.validate(doc)


def test_empty_or_non_positive_is_refused() -> None:
    with pytest.raises(ValueError):
        build_pain001(initiation([]))
    with pytest.raises(ValueError):
        build_pain001(initiation([transfer(1, "An", 0)]))
