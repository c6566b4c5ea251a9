"""Daily statements: camt.053 validates against the ISO 20022 schema; camt.053, MT940 and CSV all add up."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import mt940
import pytest
from lxml import etree

from tests.banksim.conftest import CITY_ACCOUNT, pay, vietqr

# Copies of the shared reference data (camt.053.001.02.xsd, camt053_min.xml, mt940_min.sta), so that a
# fresh checkout can run these tests.
ISO = Path(__file__).resolve().parent / "data"
NS = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"}


@pytest.fixture(scope="module")
def camt_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ISO / "camt.053.001.02.xsd")))


@pytest.fixture
async def busy_day(sim):
    """Three QR credits (one paid short) and one payout debit on the city's account."""
    paid = [
        await pay(sim, vietqr(200_000, "CPAAAAAAAAAA1")),
        await pay(sim, vietqr(35_000, "CPBBBBBBBBBB2"), payer_account="0011000567890"),
        await pay(sim, vietqr(135_000, "CPCCCCCCCCCC3"), fault="wrong_amount"),
    ]
    resp = await sim.post(
        "/sim/api/payouts",
        json={
            "to_bin": "970418",
            "to_account": "21510001234567",
            "amount": 60_000,
            "narrative": "HOAN TIEN CP0000000001",
        },
        headers={"Idempotency-Key": "refund-1"},
    )
    payout = await resp.json()
    day = datetime.fromisoformat(paid[0]["booked_at"]).date()
    return sim, day, paid, payout


def test_the_reference_samples_pass_the_same_checks(camt_schema):
    """The checks below hold for the published samples too, so they test the formats, not our own habits."""
    camt_schema.assertValid(etree.parse(str(ISO / "camt053_min.xml")))
    parsed = mt940.parse((ISO / "mt940_min.sta").read_text())
    opening = parsed.data["final_opening_balance"].amount.amount
    closing = parsed.data["final_closing_balance"].amount.amount
    assert opening + sum(t.data["amount"].amount for t in parsed) == closing


async def statement(sim, day: date, fmt: str, account: str = CITY_ACCOUNT):
    resp = await sim.get(f"/sim/api/statements/{account}", params={"date": day.isoformat(), "format": fmt})
    assert resp.status == 200, await resp.text()
    return resp, await resp.text()


async def test_camt053_validates_against_the_schema_and_adds_up(busy_day, camt_schema):
    sim, day, paid, payout = busy_day
    resp, text = await statement(sim, day, "camt053")
    assert resp.content_type == "application/xml"
    doc = etree.fromstring(text.encode())
    camt_schema.assertValid(doc)

    stmt = doc.find("c:BkToCstmrStmt/c:Stmt", NS)
    assert stmt.findtext("c:Acct/c:Id/c:Othr/c:Id", namespaces=NS) == CITY_ACCOUNT
    bal = {b.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS): b for b in stmt.findall("c:Bal", NS)}
    opening = int(bal["OPBD"].findtext("c:Amt", namespaces=NS))
    closing = int(bal["CLBD"].findtext("c:Amt", namespaces=NS))
    assert bal["OPBD"].find("c:Amt", NS).get("Ccy") == "VND"
    entries = stmt.findall("c:Ntry", NS)
    signed = [
        int(e.findtext("c:Amt", namespaces=NS))
        * (1 if e.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -1)
        for e in entries
    ]
    assert opening + sum(signed) == closing
    assert signed == [200_000, 35_000, 85_000, -60_000]
    refs = [e.findtext("c:AcctSvcrRef", namespaces=NS) for e in entries]
    assert refs == [p["bank_txn_id"] for p in paid] + [payout["bank_txn_id"]]
    first = entries[0]
    assert first.findtext("c:BookgDt/c:Dt", namespaces=NS) == day.isoformat()
    assert first.findtext("c:ValDt/c:Dt", namespaces=NS) == day.isoformat()
    assert first.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", namespaces=NS) == paid[0]["narrative"]
    assert first.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", namespaces=NS) == "CPAAAAAAAAAA1"
    assert first.findtext("c:NtryDtls/c:TxDtls/c:RltdPties/c:Dbtr/c:Nm", namespaces=NS) == "NGUYEN VAN AN"
    summary = stmt.find("c:TxsSummry", NS)
    assert summary.findtext("c:TtlCdtNtries/c:Sum", namespaces=NS) == "320000"
    assert summary.findtext("c:TtlDbtNtries/c:Sum", namespaces=NS) == "60000"


async def test_balances_carry_from_one_day_to_the_next(busy_day, camt_schema):
    sim, day, _, _ = busy_day

    def balances(text: str) -> tuple[int, int, int]:
        doc = etree.fromstring(text.encode())
        camt_schema.assertValid(doc)
        amounts = [int(a.text) for a in doc.iterfind(".//c:Bal/c:Amt", NS)]
        return amounts[0], amounts[1], len(doc.findall(".//c:Ntry", NS))

    _, today = await statement(sim, day, "camt053")
    _, before = await statement(sim, day - timedelta(days=1), "camt053")
    _, after = await statement(sim, day + timedelta(days=1), "camt053")
    t_open, t_close, _ = balances(today)
    assert balances(before) == (t_open, t_open, 0)
    assert balances(after) == (t_close, t_close, 0)


async def test_mt940_follows_the_sample_and_adds_up(busy_day):
    sim, day, paid, payout = busy_day
    _, text = await statement(sim, day, "mt940")
    lines = text.splitlines()
    assert lines[0] == f":20:STMT{day:%y%m%d}" and lines[1] == f":25:{CITY_ACCOUNT}"
    assert lines[2] == f":28C:{day.timetuple().tm_yday}/1" and lines[-1] == "-"
    assert re.fullmatch(r":60F:C\d{6}VND\d+,", lines[3])
    assert re.fullmatch(
        rf":61:{day:%y%m%d}{day:%m%d}C200000,NTRFCPAAAAAAAAAA1//{paid[0]['bank_txn_id']}", lines[4]
    )
    assert lines[5] == f":86:{paid[0]['narrative']}"

    parsed = mt940.parse(text)
    opening = parsed.data["final_opening_balance"].amount.amount
    closing = parsed.data["final_closing_balance"].amount.amount
    amounts = [t.data["amount"].amount for t in parsed]
    assert amounts == [Decimal(200_000), Decimal(35_000), Decimal(85_000), Decimal(-60_000)]
    assert opening + sum(amounts) == closing
    assert [t.data["bank_reference"] for t in parsed] == [p["bank_txn_id"] for p in paid] + [
        payout["bank_txn_id"]
    ]


async def test_csv_has_a_header_and_adds_up(busy_day):
    sim, day, paid, _ = busy_day
    resp, text = await statement(sim, day, "csv")
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["record_type"] == "OPENING" and rows[-1]["record_type"] == "CLOSING"
    entries = rows[1:-1]
    opening, closing = int(rows[0]["balance"]), int(rows[-1]["balance"])
    credits = sum(int(r["credit"] or 0) for r in entries)
    debits = sum(int(r["debit"] or 0) for r in entries)
    assert (credits, debits) == (320_000, 60_000)
    assert opening + credits - debits == closing
    assert int(entries[-1]["balance"]) == closing  # the running balance ends where the closing row does
    assert (
        entries[0]["bank_txn_id"] == paid[0]["bank_txn_id"]
        and entries[0]["narrative"] == paid[0]["narrative"]
    )
    assert "*" in entries[0]["counterparty_account"]


async def test_a_citizen_statement_shows_the_debit(busy_day):
    sim, day, _, _ = busy_day
    _, text = await statement(sim, day, "csv", account="0011000456789")
    entries = [r for r in csv.DictReader(io.StringIO(text)) if r["record_type"] == "ENTRY"]
    assert [(r["debit"], r["counterparty_name"]) for r in entries] == [
        ("200000", "KHO BAC NHA NUOC HA NOI"),
        ("85000", "KHO BAC NHA NUOC HA NOI"),
    ]


async def test_statement_errors(sim):
    assert (await sim.get("/sim/api/statements/0011999999999")).status == 404
    assert (await sim.get("/sim/api/statements/101876543210")).status == 404  # another bank's account
    resp = await sim.get(f"/sim/api/statements/{CITY_ACCOUNT}", params={"format": "pdf"})
    assert resp.status == 422
    resp = await sim.get(f"/sim/api/statements/{CITY_ACCOUNT}", params={"date": "2026-02-30"})
    assert resp.status == 422
    today = await sim.get(f"/sim/api/statements/{CITY_ACCOUNT}")  # defaults: today, camt.053
    assert today.status == 200 and "camt.053.001.02" in await today.text()
