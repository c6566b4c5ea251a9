"""Paying a QR: the booking, the signed citypay-bank-v1 callback, retries and the injected faults."""

from __future__ import annotations

import asyncio
import json
import re

from banksim.app import create_banksim_app
from tests.banksim.conftest import (
    BANK_KEY_ID,
    BODY_FIELDS,
    CITY_ACCOUNT,
    CITY_BIN,
    balances,
    delivery,
    pay,
    vietqr,
    wait_delivery,
    wait_for,
)


async def test_paying_a_qr_books_it_and_delivers_one_signed_callback(sim, citypay):
    fake, _ = citypay
    before = await balances(sim)
    paid = await pay(sim, vietqr(200_000, "CP7K2M9QX4ABC"))
    assert paid["amount"] == 200_000 and paid["qr_amount"] == 200_000
    assert re.fullmatch(r"FT[0-9]{5}[0-9A-Z]{2}[0-9]{6}", paid["bank_txn_id"])
    [d] = paid["deliveries"]
    done = await wait_delivery(sim, d["id"], "delivered")

    [got] = fake.received
    assert got.verdict == "accepted" and got.headers["X-Citypay-Key-Id"] == BANK_KEY_ID
    body = json.loads(got.body)
    assert list(body) == BODY_FIELDS
    assert body["bank_txn_id"] == paid["bank_txn_id"]
    assert (body["credited_bin"], body["credited_account"]) == (CITY_BIN, CITY_ACCOUNT)
    assert body["amount"] == 200_000 and body["currency"] == "VND"
    assert body["booked_at"].endswith("+07:00") and body["booked_at"] == paid["booked_at"]
    assert body["narrative"] == "CP7K2M9QX4ABC NGUYEN VAN AN chuyen tien"
    assert body["payer_name"] == "NGUYEN VAN AN"
    assert body["payer_account_masked"] == "****6789"
    assert b'"amount":200000,' in got.body  # a JSON integer, not "200000" or 200000.0

    [attempt] = done["attempt_log"]
    assert attempt["http_status"] == 200 and attempt["outcome"] == "acknowledged"
    assert json.loads(attempt["answer"])["status"] == "accepted"

    after = await balances(sim)
    assert after["0011000456789"] == before["0011000456789"] - 200_000
    assert after[CITY_ACCOUNT] == before[CITY_ACCOUNT] + 200_000


async def test_the_city_key_is_fetched_from_citypay_when_not_configured(make_sim, citypay):
    fake, _ = citypay
    sim = await make_sim(city_public_keys=None)
    paid = await pay(sim)
    await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    paid = await pay(sim)
    await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    assert fake.key_fetches == 1  # fetched once, lazily, then reused


async def test_without_the_city_key_nothing_counts_as_delivered(make_sim, citypay):
    from banksim.appkeys import DELIVERER

    fake, _ = citypay
    fake.key_published = False
    sim = await make_sim(city_public_keys=None)
    sim.server.app[DELIVERER].city_keys.refetch_after_s = 0
    paid = await pay(sim)

    async def tried_twice():
        return len((await delivery(sim, paid["deliveries"][0]["id"]))["attempt_log"]) >= 2

    await wait_for(tried_twice)
    d = await delivery(sim, paid["deliveries"][0]["id"])
    assert d["state"] == "pending" and "cannot check the answer" in d["attempt_log"][0]["error"]
    assert fake.received[0].verdict == "accepted"  # citypay stored it; the bank just cannot tell yet
    fake.key_published = True
    done = await wait_delivery(sim, d["id"], "delivered")
    assert json.loads(done["attempt_log"][-1]["answer"])["status"] == "duplicate"


async def test_a_callback_is_retried_until_citypay_acknowledges_it(sim, citypay):
    fake, _ = citypay
    fake.fail_first = 2
    paid = await pay(sim)
    done = await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    assert [a["http_status"] for a in done["attempt_log"]] == [503, 503, 200]
    assert [a["outcome"] for a in done["attempt_log"]] == ["retry", "retry", "acknowledged"]
    assert len({r.body for r in fake.received}) == 1  # every retry carries the same bytes
    assert [r.verdict for r in fake.received] == ["unavailable", "unavailable", "accepted"]


async def test_an_answer_not_signed_by_the_city_does_not_count_as_delivered(sim, citypay):
    fake, _ = citypay
    fake.wrong_answer_key_first = 1
    paid = await pay(sim)
    done = await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    first, second = done["attempt_log"]
    assert first["http_status"] == 200 and first["outcome"] == "retry"
    assert "does not verify" in first["error"]
    assert second["outcome"] == "acknowledged" and json.loads(second["answer"])["status"] == "duplicate"


async def test_duplicate_fault_delivers_the_same_callback_twice(sim, citypay):
    fake, _ = citypay
    paid = await pay(sim, fault="duplicate")
    assert len(paid["deliveries"]) == 2
    for d in paid["deliveries"]:
        await wait_delivery(sim, d["id"], "delivered")
    assert len(fake.verified()) == 2
    assert len({json.loads(r.body)["bank_txn_id"] for r in fake.received}) == 1
    assert fake.received[0].body == fake.received[1].body
    assert sorted(r.verdict for r in fake.received) == ["accepted", "duplicate"]


async def test_drop_books_but_delivers_nothing_until_redelivered(sim, citypay):
    fake, _ = citypay
    before = await balances(sim)
    paid = await pay(sim, fault="drop")
    [d] = paid["deliveries"]
    assert d["state"] == "held"
    await asyncio.sleep(0.3)
    assert fake.received == []
    assert (await balances(sim))[CITY_ACCOUNT] == before[CITY_ACCOUNT] + 200_000  # booked all the same

    resp = await sim.post(f"/sim/api/deliveries/{d['id']}/redeliver")
    assert resp.status == 200
    await wait_delivery(sim, d["id"], "delivered")
    assert [r.verdict for r in fake.received] == ["accepted"]
    again = await sim.post(f"/sim/api/deliveries/{d['id']}/redeliver")
    assert again.status == 409  # a delivered callback is not sent again


async def test_bad_signature_is_rejected_by_citypay_and_recorded(sim, citypay):
    fake, _ = citypay
    paid = await pay(sim, fault="bad_signature")
    d = await wait_delivery(sim, paid["deliveries"][0]["id"], "rejected")
    [attempt] = d["attempt_log"]
    assert attempt["http_status"] == 401 and attempt["outcome"] == "rejected"
    assert json.loads(attempt["answer"])["reason"] == "bad_signature"
    assert [r.verdict for r in fake.received] == ["bad_signature"]
    assert fake.accepted == {}

    await sim.post(f"/sim/api/deliveries/{d['id']}/redeliver")  # the operator fixed the signing
    await wait_delivery(sim, d["id"], "delivered")
    assert fake.received[-1].verdict == "accepted"


async def test_delay_fault_holds_the_callback_back(sim, citypay):
    fake, _ = citypay
    paid = await pay(sim, fault="delay", delay_seconds=1)
    await asyncio.sleep(0.5)
    assert fake.received == []
    await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered", within=5)
    assert len(fake.verified()) == 1


async def test_wrong_amount_books_and_reports_what_was_actually_paid(sim, citypay):
    fake, _ = citypay
    paid = await pay(sim, vietqr(200_000), fault="wrong_amount")
    assert (paid["amount"], paid["qr_amount"]) == (150_000, 200_000)
    await wait_delivery(sim, paid["deliveries"][0]["id"], "delivered")
    assert json.loads(fake.received[0].body)["amount"] == 150_000
    small = await pay(sim, vietqr(5_000), fault="wrong_amount")
    assert small["amount"] == 2_500


async def test_standing_fault_mode_applies_to_the_next_payments_then_clears(sim, citypay):
    resp = await sim.post("/sim/api/faults", json={"fault": "drop", "count": 2})
    assert resp.status == 200 and (await resp.json())["remaining"] == 2
    first, second, third = [await pay(sim) for _ in range(3)]
    assert [p["fault"] for p in (first, second, third)] == ["drop", "drop", None]
    assert (await (await sim.get("/sim/api/faults")).json())["fault"] == "none"
    explicit = await pay(sim, fault="duplicate")  # a fault on the call wins over the mode
    assert len(explicit["deliveries"]) == 2


async def test_an_invalid_qr_is_refused_and_nothing_is_booked(sim, citypay):
    fake, _ = citypay
    before = await balances(sim)
    good = vietqr()
    bad_crc = good[:-4] + ("0000" if good[-4:] != "0000" else "FFFF")
    for payload in (bad_crc, good[:-10] + "6304ABCD", "hello", "00020101021238" + "9" * 20 + "6304"):
        resp = await sim.post("/sim/api/payments", json={"payload": payload})
        assert resp.status == 422, payload
        problem = await resp.json()
        assert problem["type"] == "/problems/invalid-qr" and problem["field"] == "payload"
    assert await balances(sim) == before
    assert (await (await sim.get("/sim/api/deliveries")).json())["deliveries"] == []
    assert fake.received == []


async def test_refusals_carry_iso_reason_codes_and_book_nothing(sim):
    before = await balances(sim)
    cases = [
        (vietqr(account="0011000000000"), {}, "AC01"),  # unknown beneficiary
        (vietqr(account="0011000890123"), {}, "AC04"),  # closed beneficiary
        (vietqr(), {"payer_account": "0011000901234"}, "AC06"),  # blocked payer
        (vietqr(999_000_000), {"payer_account": "0011000678901"}, "AM04"),  # insufficient funds
    ]
    for payload, extra, code in cases:
        resp = await sim.post("/sim/api/payments", json={"payload": payload, **extra})
        assert resp.status == 422
        assert (await resp.json())["reason_code"] == code
    assert await balances(sim) == before


async def test_a_static_qr_takes_the_typed_amount(sim, citypay):
    static = vietqr(None, "CPSTATIC00001")
    resp = await sim.post("/sim/api/payments", json={"payload": static})
    assert resp.status == 422 and (await resp.json())["field"] == "amount"
    paid = await pay(sim, static, amount=35_000)
    assert paid["amount"] == 35_000 and paid["qr_amount"] is None
    resp = await sim.post("/sim/api/payments", json={"payload": vietqr(200_000), "amount": 1})
    assert resp.status == 422  # a dynamic QR fixes the amount


async def test_pending_deliveries_survive_a_restart(banksim_db, sim_config, citypay, aiohttp_client):
    from dataclasses import replace

    fake, _ = citypay
    first = await aiohttp_client(
        create_banksim_app(database_url=banksim_db, config=replace(sim_config, worker=False))
    )
    paid = await pay(first)
    await first.close()  # the process stops before delivering
    assert fake.received == []
    second = await aiohttp_client(create_banksim_app(database_url=banksim_db, config=sim_config))
    await wait_delivery(second, paid["deliveries"][0]["id"], "delivered")
    assert len(fake.verified()) == 1


async def test_deliveries_give_up_after_max_attempts(make_sim, citypay):
    fake, _ = citypay
    fake.fail_first = 100
    sim = await make_sim(max_attempts=3)
    paid = await pay(sim)
    d = await wait_delivery(sim, paid["deliveries"][0]["id"], "failed")
    assert d["attempts"] == 3 and len(d["attempt_log"]) == 3
    listed = await (await sim.get("/sim/api/deliveries", params={"state": "failed"})).json()
    assert [x["id"] for x in listed["deliveries"]] == [d["id"]]


async def test_an_unreachable_citypay_is_retried(make_sim, citypay):
    sim = await make_sim(citypay_url="http://127.0.0.1:9", max_attempts=2)
    paid = await pay(sim)
    d = await wait_delivery(sim, paid["deliveries"][0]["id"], "failed")
    assert all(a["http_status"] is None and "no answer" in a["error"] for a in d["attempt_log"])

    async def logged():
        return (await delivery(sim, d["id"]))["attempt_log"]

    assert len(await wait_for(logged)) == 2
