"""The simulator against the real citypay app, over real HTTP: citypay issues a payment request, the simulated
bank pays its QR and calls back, citypay books it. Each side only knows the other through the protocol."""

from __future__ import annotations

import uuid

import pytest

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from core.db import connect
from core.demo_bank_key import ensure_demo_bank_key
from payments.demo import load_payments_demo
from tests.banksim.conftest import pay, wait_delivery


@pytest.fixture
async def live(banksim_db, db_url, settings, keys, make_app, api_token, aiohttp_server, aiohttp_client):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)  # registers the simulator's key from settings.var_dir
    finally:
        await conn.close()
    citypay = await aiohttp_server(make_app())
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    config = BankSimConfig(
        signing_key=key,
        signing_key_id=key_id,
        citypay_url=str(citypay.make_url("")).rstrip("/"),
        retry_base_s=0.05,
        retry_max_s=0.2,
        max_attempts=5,
        poll_interval_s=0.05,
    )
    sim = await aiohttp_client(create_banksim_app(database_url=banksim_db, config=config))
    agency = {"Authorization": f"Bearer {await api_token('payment-requests:write')}"}
    citypay_client = await aiohttp_client(citypay)
    return sim, citypay_client, agency


async def issue(citypay, agency) -> dict:
    resp = await citypay.post(
        "/api/v1/payment-requests",
        json={"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "HS-2026-0042"},
        headers={**agency, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def status_of(citypay, agency, request_id: str) -> dict:
    return await (await citypay.get(f"/api/v1/payment-requests/{request_id}", headers=agency)).json()


async def test_paying_citypays_qr_settles_the_request(live):
    sim, citypay, agency = live
    pr = await issue(citypay, agency)
    paid = await pay(sim, pr["qr_payload"], fault="duplicate")
    assert pr["reference"] in paid["narrative"] and paid["amount"] == pr["amount_due"]
    answers = []
    for d in paid["deliveries"]:
        done = await wait_delivery(sim, d["id"], "delivered")
        answers.append(done["attempt_log"][-1]["answer"])
    assert sorted('"status":"duplicate"' in a for a in answers) == [False, True]  # booked once
    after = await status_of(citypay, agency, pr["id"])
    assert after["status"] == "paid" and after["amount_received"] == pr["amount_due"]


async def test_citypay_rejects_a_bad_signature_and_books_nothing(live):
    sim, citypay, agency = live
    pr = await issue(citypay, agency)
    paid = await pay(sim, pr["qr_payload"], fault="bad_signature")
    done = await wait_delivery(sim, paid["deliveries"][0]["id"], "rejected")
    assert done["attempt_log"][0]["http_status"] == 401
    assert (await status_of(citypay, agency, pr["id"]))["status"] == "pending"


async def test_a_short_payment_is_held_by_citypay(live):
    sim, citypay, agency = live
    pr = await issue(citypay, agency)
    paid = await pay(sim, pr["qr_payload"], fault="wrong_amount")
    await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    after = await status_of(citypay, agency, pr["id"])
    assert after["status"] == "pending" and after["amount_received"] == paid["amount"] < pr["amount_due"]
