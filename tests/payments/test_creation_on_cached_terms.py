"""A payment request is created in one statement on its fee's cached terms (payments/fee_terms.py). The cache
is only a hint: a price, a collection account or a subsidy programme changed by hand in the database applies
to the very next creation, and duplicates of one Idempotency-Key still make one request."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.appkeys import POOL
from payments.fee_terms import FEE_TERMS
from payments.vietqr import parse_payload

pytestmark = pytest.mark.usefixtures("catalogue")
LLTP = {"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "HS-2026-0001"}


@pytest.fixture
async def agency(api_token):
    return {"Authorization": f"Bearer {await api_token('payment-requests:write')}"}


async def create(client, agency, key: str | None = None):
    resp = await client.post(
        "/api/v1/payment-requests", json=LLTP, headers={**agency, "Idempotency-Key": key or str(uuid.uuid4())}
    )
    return resp, await resp.json()


async def cached_create(client, agency):
    """A first creation, which leaves LLTP's terms in the app's cache."""
    resp, pr = await create(client, agency)
    assert resp.status == 201 and pr["amount_due"] == 200_000
    assert await client.app[FEE_TERMS].terms(None, "LLTP", None, datetime.now(UTC)) is not None  # no read


async def requests_count(client) -> int:
    return await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests")


async def test_a_price_changed_by_hand_is_charged_at_the_next_creation(client, agency):
    await cached_create(client, agency)
    await client.app[POOL].execute("UPDATE fee_catalogue SET amount = 250000 WHERE code = 'LLTP'")
    for _ in range(2):  # the stale terms are dropped, then read again
        resp, pr = await create(client, agency)
        assert resp.status == 201 and pr["fee_amount"] == pr["amount_due"] == 250_000
        assert parse_payload(pr["qr_payload"]).amount == 250_000
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests WHERE fee_amount = 200000")
        == 1
    )  # only the first


@pytest.mark.parametrize(
    "by_hand",
    [
        "UPDATE collection_accounts SET active = false WHERE id = "
        "(SELECT collection_account_id FROM fee_catalogue WHERE code = 'LLTP')",
        "UPDATE fee_catalogue SET active_until = now() - interval '1 second' WHERE code = 'LLTP'",
    ],
    ids=["collection-account-retired", "fee-withdrawn"],
)
async def test_a_fee_that_can_no_longer_be_paid_is_refused_at_the_next_creation(client, agency, by_hand):
    await cached_create(client, agency)
    await client.app[POOL].execute(by_hand)
    resp, problem = await create(client, agency)
    assert resp.status == 422 and problem["type"] == "/problems/fee-not-available"
    assert await requests_count(client) == 1  # nothing paid into a retired account or for a withdrawn fee


async def test_an_account_renumbered_by_hand_is_the_one_in_the_next_qr(client, agency):
    await cached_create(client, agency)
    await client.app[POOL].execute(
        "UPDATE collection_accounts SET account_number = '0011009999999' WHERE id = "
        "(SELECT collection_account_id FROM fee_catalogue WHERE code = 'LLTP')"
    )
    resp, pr = await create(client, agency)
    assert resp.status == 201 and parse_payload(pr["qr_payload"]).account == "0011009999999"
    assert pr["transfer"]["account_number"] == "0011009999999"


async def test_a_new_subsidy_programme_applies_at_the_next_creation(client, agency):
    await cached_create(client, agency)
    now = datetime.now(UTC)
    await client.app[POOL].execute(
        """INSERT INTO subsidy_programmes (code, name_vi, name_en, fee_code, per_request, budget_cap,
                                           valid_from, valid_until)
           VALUES ('lltp-all', 'Hỗ trợ', 'Support', 'LLTP', 50000, 1000000, $1, $2)""",
        now - timedelta(minutes=1),
        now + timedelta(days=1),
    )
    resp, pr = await create(client, agency)
    assert resp.status == 201
    assert (pr["subsidy_code"], pr["subsidy_amount"], pr["amount_due"]) == ("lltp-all", 50_000, 150_000)
    assert (
        await client.app[POOL].fetchval("SELECT budget_used FROM subsidy_programmes WHERE code = 'lltp-all'")
        == 50_000
    )


async def test_twenty_duplicates_at_once_make_one_request(client, agency):
    await cached_create(client, agency)
    answers = await asyncio.gather(*(create(client, agency, key="same-order") for _ in range(20)))
    assert {resp.status for resp, _ in answers} == {201}
    assert len({pr["id"] for _, pr in answers}) == 1
    assert sum(resp.headers.get("Idempotent-Replayed") == "true" for resp, _ in answers) == 19
    assert await requests_count(client) == 2
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'same-order'") == 1
    )


async def test_a_key_reused_with_another_body_is_refused_on_cached_terms(client, agency):
    await cached_create(client, agency)
    first, _ = await create(client, agency, key="order-7")
    other = await client.post(
        "/api/v1/payment-requests",
        json={**LLTP, "payer_reference": "HS-2026-0002"},
        headers={**agency, "Idempotency-Key": "order-7"},
    )
    assert first.status == 201 and other.status == 409
    assert (await other.json())["type"] == "/problems/idempotency-key-reused"
    assert await requests_count(client) == 2


async def test_a_price_raised_by_hand_past_the_cap_is_refused_naming_the_cap(client, agency):
    await cached_create(client, agency)
    await client.app[POOL].execute("UPDATE fee_catalogue SET amount = 10000000000000 WHERE code = 'LLTP'")
    answers = await asyncio.gather(*(create(client, agency, key="capped-1") for _ in range(20)))  # at once
    for resp, problem in answers:  # each refused naming the cap; nothing written, the key still free
        assert resp.status == 422 and problem["field"] == "amount", problem
    assert await requests_count(client) == 1
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'capped-1'") == 0
    )
