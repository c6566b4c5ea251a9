"""Account-name inquiry and payouts with idempotency keys, ISO reason codes and the payout-timeout fault."""

from __future__ import annotations

import asyncio

from tests.banksim.conftest import CITY_ACCOUNT, balances

PAYOUT = {
    "to_bin": "970415",
    "to_account": "101876543210",
    "amount": 1_500_000,
    "narrative": "TRO CAP XA HOI T01/2026",
}


async def payout(sim, key: str, body: dict | None = None, headers: dict | None = None):
    return await sim.post(
        "/sim/api/payouts", json=body or PAYOUT, headers={"Idempotency-Key": key, **(headers or {})}
    )


async def test_seeded_accounts_are_there_once_with_upper_case_names(make_sim):
    sim = await make_sim()
    await sim.close()
    sim = await make_sim()  # seeding again on a second start changes nothing
    accounts = (await (await sim.get("/sim/api/accounts")).json())["accounts"]
    numbers = [a["account"] for a in accounts]
    assert len(numbers) == len(set(numbers))
    city = [a for a in accounts if a["kind"] == "city"]
    assert [(a["bin"], a["account"], a["name"]) for a in city] == [
        ("970436", CITY_ACCOUNT, "KHO BAC NHA NUOC HA NOI")
    ]
    names = {a["name"] for a in accounts}
    assert {"NGUYEN VAN AN", "TRAN THI BICH NGOC", "LE DUC THANG"} <= names
    assert all(n == n.upper() and n.isascii() for n in names)
    assert any(a["status"] == "closed" for a in accounts)


async def test_name_inquiry_open_closed_and_unknown(sim):
    resp = await sim.get("/sim/api/accounts/970436/0011000456789/name")
    assert resp.status == 200
    assert await resp.json() == {
        "bin": "970436",
        "account": "0011000456789",
        "name": "NGUYEN VAN AN",
        "status": "open",
        "reason_code": None,
    }
    other_bank = await (await sim.get("/sim/api/accounts/970422/0987654321/name")).json()
    assert other_bank["name"] == "NGO THI LAN"

    closed = await sim.get("/sim/api/accounts/970436/0011000890123/name")
    assert closed.status == 200
    body = await closed.json()
    assert (body["status"], body["name"], body["reason_code"]) == ("closed", None, "AC04")

    unknown = await sim.get("/sim/api/accounts/970436/0011999999999/name")
    assert unknown.status == 404
    assert (await unknown.json())["reason_code"] == "AC01"
    assert (await sim.get("/sim/api/accounts/97043/0011000456789/name")).status == 404  # not a BIN


async def test_a_payout_is_booked_once_per_key(sim):
    before = await balances(sim)
    first = await payout(sim, "batch-7/line-1")
    assert first.status == 200
    booked = await first.json()
    assert booked["status"] == "booked" and booked["reason_code"] is None
    assert booked["beneficiary_name"] == "DO THI MAI" and booked["bank_txn_id"].startswith("FT")

    again = await payout(sim, "batch-7/line-1")
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == booked
    after = await balances(sim)
    assert after[CITY_ACCOUNT] == before[CITY_ACCOUNT] - 1_500_000
    assert after["101876543210"] == before["101876543210"] + 1_500_000

    other = await payout(sim, "batch-7/line-1", {**PAYOUT, "amount": 1_600_000})
    assert other.status == 409
    assert await balances(sim) == after

    status = await sim.get("/sim/api/payouts/batch-7/line-1")
    assert status.status == 200 and await status.json() == booked
    assert (await sim.get("/sim/api/payouts/never-sent")).status == 404


async def test_concurrent_payouts_with_one_key_book_once(sim):
    before = await balances(sim)
    answers = await asyncio.gather(*(payout(sim, "same-key") for _ in range(5)))
    bodies = [await a.json() for a in answers]
    assert {b["bank_txn_id"] for b in bodies} == {bodies[0]["bank_txn_id"]}
    assert (await balances(sim))[CITY_ACCOUNT] == before[CITY_ACCOUNT] - PAYOUT["amount"]


async def test_payouts_are_refused_with_iso_reason_codes(sim):
    before = await balances(sim)
    cases = [
        ({**PAYOUT, "to_account": "999999999999"}, "AC01"),
        ({**PAYOUT, "to_bin": "970436", "to_account": "0011000890123"}, "AC04"),
        ({**PAYOUT, "to_bin": "970436", "to_account": "0011000901234"}, "AC06"),
        ({**PAYOUT, "to_bin": "970405", "to_account": "1500205123456"}, "MD07"),
        ({**PAYOUT, "beneficiary_name": "TRAN VAN B"}, "BE01"),
        ({**PAYOUT, "amount": 9_000_000_000}, "AM04"),
    ]
    for i, (body, code) in enumerate(cases):
        resp = await payout(sim, f"refused-{i}", body)
        assert resp.status == 200
        answer = await resp.json()
        assert (answer["status"], answer["reason_code"], answer["bank_txn_id"]) == ("rejected", code, None), (
            code
        )
        # The refusal is remembered under its key like a booking.
        assert (await (await sim.get(f"/sim/api/payouts/refused-{i}")).json())["reason_code"] == code
    assert await balances(sim) == before


async def test_name_check_is_diacritic_and_word_order_tolerant(sim):
    resp = await payout(sim, "named", {**PAYOUT, "beneficiary_name": "Mai Đỗ Thị"})
    assert (await resp.json())["status"] == "booked"


async def test_the_same_payout_under_a_new_key_is_refused_as_a_duplicate(sim):
    assert (await (await payout(sim, "k-1")).json())["status"] == "booked"
    second = await (await payout(sim, "k-2")).json()
    assert (second["status"], second["reason_code"]) == ("rejected", "AM05")


async def test_payout_timeout_books_then_answers_504_and_inquiry_resolves_it(sim):
    before = await balances(sim)
    resp = await payout(sim, "unknown-outcome", headers={"X-Banksim-Fault": "payout_timeout"})
    assert resp.status == 504 and await resp.read() == b""
    assert (await balances(sim))[CITY_ACCOUNT] == before[CITY_ACCOUNT] - PAYOUT["amount"]  # it was booked
    status = await (await sim.get("/sim/api/payouts/unknown-outcome")).json()
    assert status["status"] == "booked"
    retry = await payout(sim, "unknown-outcome")
    assert retry.status == 200 and (await retry.json())["bank_txn_id"] == status["bank_txn_id"]
    assert (await balances(sim))[CITY_ACCOUNT] == before[CITY_ACCOUNT] - PAYOUT["amount"]


async def test_payout_timeout_as_a_standing_fault(sim):
    await sim.post("/sim/api/faults", json={"fault": "payout_timeout", "count": 1})
    assert (await payout(sim, "t-1")).status == 504
    assert (await payout(sim, "t-2", {**PAYOUT, "amount": 7})).status == 200
    assert (await (await sim.get("/sim/api/faults")).json())["fault"] == "none"


async def test_payout_input_is_validated(sim):
    assert (await sim.post("/sim/api/payouts", json=PAYOUT)).status == 422  # no Idempotency-Key
    for body in (
        {**PAYOUT, "amount": 0},
        {**PAYOUT, "amount": "5"},
        {**PAYOUT, "to_bin": "97"},
        {**PAYOUT, "x": 1},
    ):
        assert (await payout(sim, "bad", body)).status == 422
    assert (await sim.get("/sim/api/payouts/bad")).status == 404  # nothing was kept


async def test_openapi_documents_the_simulator(sim):
    doc = await (await sim.get("/openapi.json")).json()
    assert doc["info"]["title"] == "citypay bank simulator"
    paths = doc["paths"]
    for path in (
        "/sim/api/payments",
        "/sim/api/payouts",
        "/sim/api/payouts/{key}",
        "/sim/api/accounts/{bin}/{account}/name",
        "/sim/api/statements/{account}",
        "/sim/api/faults",
        "/sim/api/deliveries/{delivery_id}/redeliver",
    ):
        assert path in paths, path
    assert "/sim/pay" not in paths
    params = {p["name"] for p in paths["/sim/api/payouts"]["post"]["parameters"]}
    assert "Idempotency-Key" in params
