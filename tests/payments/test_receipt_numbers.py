"""E-receipt numbering and content (issue 12 point 12): numbers 1, 2, 3 … per series without gaps or
duplicates under concurrency and rollback, the payer's name as the bank's callback gave it (masked), the fee's
legal basis and agency in the signed body, and migration 0020's backfill of receipts issued before it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.db import connect, load_migrations, migrate
from core.demo_bank_key import DEMO_BANK_CODE
from payments.banks import sign_v1_headers
from payments.receipts import (
    mask_person_name,
    receipt_number_text,
    sign_receipt,
    verify_receipt_signature,
)
from payments.requests import NewRequest, issue_payment_request
from payments.settlement import settle_credit
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN, credit

pytestmark = pytest.mark.usefixtures("catalogue")


async def _issue(conn, keys, fee: str = "LLTP"):
    return await issue_payment_request(
        conn,
        keys,
        NewRequest(kind="service_fee", fee_code=fee),
        created_by="test",
        amount_cap=10**9,
        default_expiry=timedelta(days=1),
    )


async def _pay(db_url, keys, reference: str, amount: int = 200_000) -> None:
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            await settle_credit(conn, keys, credit(f"CK {reference}", amount))
    finally:
        await conn.close()


async def _numbers(conn) -> list[tuple[str, int]]:
    rows = await conn.fetch("SELECT series, number FROM receipts ORDER BY number")
    return [(r["series"], r["number"]) for r in rows]


async def test_twenty_receipts_issued_at_once_are_numbered_1_to_20(db_url, keys):
    conn = await connect(db_url)
    try:
        requests = [await _issue(conn, keys) for _ in range(20)]
        # Twenty settlements in twenty transactions at the same moment, each issuing its receipt.
        await asyncio.gather(*(_pay(db_url, keys, pr["reference"]) for pr in requests))
        assert await _numbers(conn) == [("HN-26E", n) for n in range(1, 21)]
        assert await conn.fetchval("SELECT last_number FROM receipt_series WHERE series = 'HN-26E'") == 20
        # The signed body says the same number as the record.
        for row in await conn.fetch("SELECT body, series, number FROM receipts"):
            body = json.loads(row["body"])
            assert (body["series"], body["number"], body["template_code"]) == (
                row["series"],
                row["number"],
                "01BLP0-001",
            )
    finally:
        await conn.close()


async def test_a_rolled_back_receipt_gives_its_number_back(db_url, keys):
    conn = await connect(db_url)
    try:
        first, lost, second = [await _issue(conn, keys) for _ in range(3)]
        await _pay(db_url, keys, first["reference"])

        class Abandon(Exception):
            pass

        with pytest.raises(Abandon):
            async with conn.transaction():
                await settle_credit(conn, keys, credit(f"CK {lost['reference']}", 200_000))
                assert await conn.fetchval("SELECT max(number) FROM receipts") == 2  # taken, in here
                raise Abandon  # e.g. the callback's inbox update failed: everything rolls back
        await _pay(db_url, keys, second["reference"])
        assert await _numbers(conn) == [("HN-26E", 1), ("HN-26E", 2)]
        by_request = await conn.fetch("SELECT payment_request_id, number FROM receipts ORDER BY number")
        assert [r["payment_request_id"] for r in by_request] == [first["id"], second["id"]]
    finally:
        await conn.close()


async def test_numbers_are_unique_per_series_in_the_database(db_url, keys):
    conn = await connect(db_url)
    try:
        pr = await _issue(conn, keys)
        await _pay(db_url, keys, pr["reference"])
        other = await _issue(conn, keys)
        await conn.execute(
            "UPDATE payment_requests SET status = 'paid', settled_at = now() WHERE id = $1", other["id"]
        )
        with pytest.raises(Exception, match="receipts_series_number"):
            await conn.execute(
                """INSERT INTO receipts (payment_request_id, body, signature, key_id, series, number)
                   VALUES ($1, '{}', 'x', 'k', 'HN-26E', 1)""",
                other["id"],
            )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("NGUYEN VAN ANH", "NGUYEN V** A**"),
        ("nguyễn văn a", "NGUYỄN V** A**"),
        ("  TRAN   THI  BICH NGOC ", "TRAN T** B** N**"),
        ("LE", "LE"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_person_names_are_masked_like_account_numbers(name, masked):
    assert mask_person_name(name) == masked


def test_receipt_numbers_print_with_seven_digits():
    assert receipt_number_text(1) == "0000001" and receipt_number_text(1234567) == "1234567"


def _v1_callback(reference: str, txn: str, payer_name: str | None) -> bytes:
    doc = {
        "bank_txn_id": txn,
        "credited_bin": BANK_BIN,
        "credited_account": BANK_ACCOUNT,
        "amount": 200_000,
        "currency": "VND",
        "booked_at": datetime.now(UTC).isoformat(),
        "narrative": f"{reference} chuyen tien",
        "payer_name": payer_name,
        "payer_account_masked": "****6789",
    }
    return json.dumps(doc).encode()


async def test_the_receipt_names_the_payer_as_the_bank_reported_masked(client, db_url, keys, bank_key):
    conn = await connect(db_url)
    try:
        named, anonymous = await _issue(conn, keys), await _issue(conn, keys, "GPLX-DOI")
        fee = await conn.fetchrow(
            "SELECT amount, agency, legal_basis FROM fee_catalogue WHERE code = 'GPLX-DOI'"
        )
        for pr, txn, payer in ((named, "FT-NAMED", "NGUYỄN VĂN ANH"), (anonymous, "FT-ANON", None)):
            body = _v1_callback(pr["reference"], txn, payer)
            if pr is anonymous:
                body = json.dumps({**json.loads(body), "amount": fee["amount"]}).encode()
            headers = sign_v1_headers(bank_key[1], bank_key[0], body, now=datetime.now(UTC))
            resp = await client.post(
                f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}",
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert resp.status == 200, await resp.text()
        bodies = {
            r["payment_request_id"]: json.loads(r["body"]) for r in await conn.fetch("SELECT * FROM receipts")
        }
        assert bodies[named["id"]]["payer_name"] == "NGUYỄN V** A**"
        assert "VĂN" not in json.dumps(bodies[named["id"]], ensure_ascii=False)
        assert bodies[anonymous["id"]]["payer_name"] is None
        gplx = bodies[anonymous["id"]]
        assert gplx["fee_name"] == "Lệ phí cấp đổi giấy phép lái xe"
        assert gplx["legal_basis"] == fee["legal_basis"] == "Luật Phí và lệ phí số 97/2015/QH13"
        assert gplx["collecting_agency"]["name"] == fee["agency"]
        assert gplx["collecting_agency"]["issuer"] == "Ủy ban nhân dân thành phố Hà Nội"
        # The page shows it (and never the full name).
        receipt_id = await conn.fetchval("SELECT id FROM receipts WHERE payment_request_id = $1", named["id"])
        html = await (await client.get(f"/receipts/{receipt_id}")).text()
        assert "NGUYỄN V** A**" in html and "VĂN ANH" not in html
    finally:
        await conn.close()


async def test_a_statement_line_has_no_payer_name(db_url, keys):
    """A credit without a name (a statement line) and no callback that named the payer: the receipt says
    nothing rather than guessing; a credit that names the payer gives the receipt that name, masked."""
    conn = await connect(db_url)
    try:
        nameless, named = await _issue(conn, keys), await _issue(conn, keys)
        async with conn.transaction():
            line = credit(f"CK {nameless['reference']}", 200_000)
            await settle_credit(conn, keys, dataclasses.replace(line, payer_name=None))
        await _pay(db_url, keys, named["reference"])
        bodies = [
            json.loads(b) for b in await conn.fetchval("SELECT array_agg(body ORDER BY number) FROM receipts")
        ]
        assert [(b["number"], b["payer_name"]) for b in bodies] == [
            (1, None),
            (2, mask_person_name(line.payer_name)),
        ]
    finally:
        await conn.close()


# Migration 0020 ---------------------------------------------------------------------------------------------


def _old_body(receipt_id: uuid.UUID, request_id: uuid.UUID, reference: str) -> dict:
    """A receipt body as issued before migration 0020 (no template, series, number, payer, legal basis)."""
    return {
        "receipt_id": str(receipt_id),
        "issuer": "citypay Hà Nội",
        "payment_request_id": str(request_id),
        "reference": reference,
        "kind": "service_fee",
        "fee_code": "LLTP",
        "purpose_vi": "Phí cấp Phiếu lý lịch tư pháp",
        "purpose_en": "Judicial record certificate fee",
        "payer_reference": None,
        "fee_amount": 1000,
        "subsidy_amount": 0,
        "subsidy_code": None,
        "amount_paid": 1000,
        "currency": "VND",
        "payee": {"bin": "970436", "bank": "Vietcombank", "holder": "KHO BAC"},
        "bank_transactions": [],
        "settled_at": "2026-06-01T02:00:00+00:00",
        "key_id": "k",
        "algorithm": "Ed25519",
    }


async def test_migration_numbers_old_receipts_in_issue_order_and_they_keep_verifying(empty_db_url, keys):
    conn = await connect(empty_db_url)
    try:
        await migrate(conn, [m for m in load_migrations() if m.version < 20])
        await conn.execute(
            """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
               VALUES ('treasury', '970436', '0011001234567', 'KHO BAC');
               INSERT INTO fee_catalogue (code, name_vi, name_en, amount, agency, revenue_account,
                                          collection_account_id)
               VALUES ('LLTP', 'Phí LLTP', 'LLTP fee', 1000, 'Sở Tư pháp', 'revenue:fee:LLTP',
                       (SELECT id FROM collection_accounts))"""
        )
        issued = datetime(2026, 6, 1, 9, tzinfo=UTC)
        stored: dict[uuid.UUID, tuple[str, str, int]] = {}
        # Inserted out of order: the numbers follow issued_at, not insertion or id.
        for i, offset in enumerate((2, 0, 1)):
            request_id, receipt_id = uuid.uuid4(), uuid.uuid4()
            reference = f"CP000000000{i}X"
            await conn.execute(
                """INSERT INTO payment_requests (id, reference, kind, fee_code, purpose_vi, purpose_en,
                       fee_amount, amount_due, amount_received, revenue_account, collection_bin,
                       collection_account, collection_holder, status, created_by, expires_at, settled_at)
                   VALUES ($1, $2, 'service_fee', 'LLTP', 'x', 'x', 1000, 1000, 1000, 'revenue:fee:LLTP',
                           '970436', '0011001234567', 'KHO BAC', 'paid', 'test', $3, $3)""",
                request_id,
                reference,
                issued,
            )
            text, signature = sign_receipt(keys, _old_body(receipt_id, request_id, reference))
            await conn.execute(
                """INSERT INTO receipts (id, payment_request_id, body, signature, key_id, issued_at)
                   VALUES ($1, $2, $3, $4, 'k', $5)""",
                receipt_id,
                request_id,
                text,
                signature,
                issued + timedelta(minutes=offset),
            )
            stored[receipt_id] = (text, signature, offset + 1)
        await migrate(conn)
        rows = await conn.fetch("SELECT id, body, signature, series, number FROM receipts")
        for row in rows:
            text, signature, number = stored[row["id"]]
            assert (row["series"], row["number"]) == ("HN-26E", number)
            assert (row["body"], row["signature"]) == (text, signature)  # the signed content is untouched
            assert verify_receipt_signature(keys.signing_public_key, row["body"], row["signature"])
        assert await conn.fetchval("SELECT last_number FROM receipt_series WHERE active") == 3
        assert await conn.fetchval("SELECT legal_basis FROM fee_catalogue WHERE code = 'LLTP'") == (
            "Luật Phí và lệ phí số 97/2015/QH13"
        )
        # Receipts stay immutable after the backfill.
        with pytest.raises(Exception, match="receipts"):
            await conn.execute("UPDATE receipts SET number = number + 10")
    finally:
        await conn.close()


async def test_a_parking_receipt_names_the_law_on_prices_and_the_city(db_url, keys):
    """Parking is not in the fee catalogue: its receipt takes the series' organisation as the collecting
    agency, the parking purpose as the fee's name and the law on prices as its basis; the tax code, once
    finance records it on the series, is signed into every receipt issued after."""
    from ledger import accounts

    conn = await connect(db_url)
    try:
        await conn.execute("UPDATE receipt_series SET agency_tax_code = '0101234567' WHERE active")
        pr = await issue_payment_request(
            conn,
            keys,
            NewRequest(
                kind="parking",
                fee_code=None,
                amount=30_000,
                purpose_vi="Phí trông giữ xe",
                purpose_en="Parking fee",
                revenue_account=accounts.parking_revenue("lot-1"),
                collection_account_code="hanoi-treasury",
            ),
            created_by="test",
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
        await _pay(db_url, keys, pr["reference"], 30_000)
        body = json.loads(await conn.fetchval("SELECT body FROM receipts"))
        assert body["fee_name"] == "Phí trông giữ xe" and body["legal_basis"] == "Luật Giá số 16/2023/QH15"
        assert body["collecting_agency"] == {
            "name": "Ủy ban nhân dân thành phố Hà Nội",
            "issuer": "Ủy ban nhân dân thành phố Hà Nội",
            "tax_code": "0101234567",
        }
        with pytest.raises(Exception, match="agency_tax_code"):
            await conn.execute("UPDATE receipt_series SET agency_tax_code = 'MST 123' WHERE active")
    finally:
        await conn.close()
