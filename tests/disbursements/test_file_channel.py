"""A batch paid by file, end to end: built for a file, approved by another person (the worker is not given
it), the pain.001 downloaded by finance (that is the send: funds reserved, items sending), the bank executes
the file (here: the simulator books each transfer under its end-to-end id), and the day's statement settles
each item — paid, its share of the reserve posted to the entry its bank line is matched to, the batch
completed. An API batch never offers a file."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from lxml import etree

import disbursements.setup  # noqa: F401  (registers the statement claimants, as the app does)
from core.money import LOCAL_TZ
from disbursements.batches import approve_batch, build_batch
from disbursements.beneficiaries import change_account
from ledger import account_balance, trial_balance
from reconciliation.fetch import fetch_statements
from tests.disbursements.test_batches import add_beneficiary
from tests.disbursements.test_execution import bank, pool  # noqa: F401  (fixtures)

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


async def test_a_file_batch_is_sent_by_its_download_and_settled_by_the_statement(
    bank,  # noqa: F811
    conn,
    pool,  # noqa: F811
    keys,
    settings,
    make_app,
    aiohttp_client,
    staff_login,
):
    sim, url, _ = bank
    settings = replace(settings, banksim_url=url)
    await add_beneficiary(conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000)
    await add_beneficiary(
        conn, keys, name="Đỗ Thị Mai", account="101876543210", bin_="970415", amount=1_000_000
    )
    batch = await build_batch(conn, "pension", "2026-02", maker="staff:maker", channel="file")
    await approve_batch(conn, batch.id, checker="staff:checker")
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'disbursements.execute'") == 0

    client = await aiohttp_client(make_app(background=False, banksim_url=url))
    finance = await staff_login("finance")
    resp = await client.get(f"/disbursements/batches/{batch.id}/pain001.xml", headers=finance.headers())
    assert resp.status == 200, await resp.text()
    doc = etree.fromstring(await resp.read())
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch.id) == "executing"
    assert {
        r["state"] for r in await conn.fetch("SELECT state FROM disb_items WHERE batch_id = $1", batch.id)
    } == {"sending"}
    # A second download is the same file and sends nothing again.
    again = await client.get(f"/disbursements/batches/{batch.id}/pain001.xml", headers=finance.headers())
    assert await again.read() == etree.tostring(doc, xml_declaration=True, encoding="UTF-8")

    # The bank executes the file: one transfer per CdtTrfTxInf, its end-to-end id as the bank's key.
    for tx in doc.iterfind(".//p:CdtTrfTxInf", NS):
        booked = await sim.post(
            "/sim/api/payouts",
            json={
                "to_bin": tx.findtext(".//p:CdtrAgt//p:MmbId", namespaces=NS),
                "to_account": tx.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=NS),
                "amount": int(tx.findtext(".//p:InstdAmt", namespaces=NS)),
                "narrative": "PAIN001 FILE",
            },
            headers={"Idempotency-Key": tx.findtext(".//p:EndToEndId", namespaces=NS)},
        )
        assert (await booked.json())["status"] == "booked"

    report = await fetch_statements(pool, keys, settings, datetime.now(LOCAL_TZ).date())
    assert report.imported and not report.failed, report
    items = await conn.fetch("SELECT state, bank_txn_id FROM disb_items WHERE batch_id = $1", batch.id)
    assert [i["state"] for i in items] == ["paid", "paid"] and all(i["bank_txn_id"] for i in items)
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch.id) == "completed"
    assert await account_balance(conn, "expense:benefit:pension") == 4_000_000
    assert sum(r.balance for r in await trial_balance(conn)) == 0
    rules = await conn.fetch(
        """SELECT m.rule FROM recon_lines l JOIN recon_matches m ON m.line_id = l.id AND m.state = 'accepted'
            WHERE l.direction = 'debit'"""
    )
    assert sorted(r["rule"] for r in rules) == ["claimed", "claimed"]
    assert (
        await conn.fetchval(
            "SELECT state FROM ledger_pending WHERE id = (SELECT reserve_id FROM disb_batches WHERE id = $1)",
            batch.id,
        )
        == "settled"
    )


async def test_an_account_replaced_after_approval_is_held_out_of_the_file(
    bank,  # noqa: F811
    conn,
    keys,
    make_app,
    aiohttp_client,
    staff_login,
):
    """An outside audit changed a beneficiary's account after the file batch was approved: the file then
    named the old account. The API channel holds such an item when sending; the file's issue does too."""
    _, url, _ = bank
    await add_beneficiary(conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000)
    moved = await add_beneficiary(
        conn, keys, name="Đỗ Thị Mai", account="101876543210", bin_="970415", amount=1_000_000
    )
    batch = await build_batch(conn, "pension", "2026-03", maker="staff:maker", channel="file")
    await approve_batch(conn, batch.id, checker="staff:checker")
    await change_account(conn, keys, moved, bank_bin="970415", account_number="101800000001", actor="staff:f")

    client = await aiohttp_client(make_app(background=False, banksim_url=url))
    resp = await client.get(
        f"/disbursements/batches/{batch.id}/pain001.xml", headers=(await staff_login("finance")).headers()
    )
    assert resp.status == 200, await resp.text()
    body = await resp.read()
    assert b"101876543210" not in body and b"101800000001" not in body
    accounts = [
        a.text for a in etree.fromstring(body).iterfind(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:Othr/p:Id", NS)
    ]
    assert accounts == ["0011000456789"]
    items = dict(
        await conn.fetch("SELECT beneficiary_id, hold_reason FROM disb_items WHERE batch_id = $1", batch.id)
    )
    assert items[moved] == "account_changed"
