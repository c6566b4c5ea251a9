"""A receiving bank returns a booked payout: once per payout, the money goes back to the city's account, the
return carries the payout's end-to-end id on the statement, and no callback is queued for it."""

from __future__ import annotations

import asyncio

from tests.banksim.conftest import CITY_ACCOUNT, balances
from tests.banksim.test_accounts_payouts import PAYOUT, payout


async def test_a_booked_payout_returns_once_with_its_end_to_end_id(sim):
    assert (await (await payout(sim, "E2E-RET-1")).json())["status"] == "booked"
    before = await balances(sim)
    answers = await asyncio.gather(
        *(sim.post("/sim/api/payouts/E2E-RET-1/return", json={"reason_code": "AC04"}) for _ in range(20))
    )
    assert sorted(a.status for a in answers) == [200] * 19 + [201]
    first = await answers[0].json()
    assert first["end_to_end_id"] == "E2E-RET-1" and first["amount"] == PAYOUT["amount"]
    after = await balances(sim)
    assert after[CITY_ACCOUNT] - before[CITY_ACCOUNT] == PAYOUT["amount"]  # returned once, not 20 times
    assert before[PAYOUT["to_account"]] - after[PAYOUT["to_account"]] == PAYOUT["amount"]
    statement = await (await sim.get(f"/sim/api/statements/{CITY_ACCOUNT}?format=csv")).text()
    returned = [row for row in statement.splitlines() if first["bank_txn_id"] in row]
    assert len(returned) == 1 and "E2E-RET-1" in returned[0]
    deliveries = await (await sim.get("/sim/api/deliveries")).json()
    assert all(d["bank_txn_id"] != first["bank_txn_id"] for d in deliveries["deliveries"])


async def test_only_a_booked_payout_can_be_returned(sim):
    assert (await sim.post("/sim/api/payouts/never-sent/return", json={})).status == 404
    refused = {**PAYOUT, "to_account": "0011000890123", "to_bin": "970436"}  # closed: AC04
    assert (await payout(sim, "E2E-REFUSED", refused)).status in (200, 201)
    answer = await sim.post("/sim/api/payouts/E2E-REFUSED/return", json={})
    assert answer.status == 409 and answer.content_type == "application/problem+json"
    bad = await sim.post("/sim/api/payouts/E2E-REFUSED/return", json={"reason_code": "XX99"})
    assert bad.status == 422


async def test_the_operator_closes_an_account_and_the_next_payout_is_refused(sim):
    url = f"/sim/api/accounts/{PAYOUT['to_bin']}/{PAYOUT['to_account']}/status"
    changed = await sim.post(url, json={"status": "deceased"})
    assert changed.status == 200
    assert (await changed.json())["previous_status"] == "open"
    refused = await (await payout(sim, "AFTER-DEATH")).json()
    assert (refused["status"], refused["reason_code"]) == ("rejected", "MD07")
    name = await (await sim.get(f"/sim/api/accounts/{PAYOUT['to_bin']}/{PAYOUT['to_account']}/name")).json()
    assert name["status"] == "deceased" and name["name"] is None
    assert (await sim.post(url, json={"status": "gone"})).status == 422
    assert (
        await sim.post(f"/sim/api/accounts/970436/{CITY_ACCOUNT}/status", json={"status": "closed"})
    ).status == 404
