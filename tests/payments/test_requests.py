"""Payment requests over HTTP: creation with Idempotency-Key, reading, cancelling, listing, subsidies."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from core.appkeys import POOL
from ledger import account_balance
from payments.reference import is_valid_reference
from payments.vietqr import parse_payload

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
async def agency(api_token):
    return {"Authorization": f"Bearer {await api_token('payment-requests:write')}"}


async def create(client, headers, body=None, key=None):
    body = body or {"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "HS-2026-0001"}
    return await client.post(
        "/api/v1/payment-requests",
        json=body,
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def test_create_returns_a_payable_request(client, agency):
    resp = await create(client, agency)
    assert resp.status == 201
    pr = await resp.json()
    assert pr["status"] == "pending" and pr["amount_due"] == 200_000 and pr["fee_amount"] == 200_000
    assert is_valid_reference(pr["reference"]) and pr["pay_url"].endswith(f"/pay/{pr['reference']}")
    qr = parse_payload(pr["qr_payload"])
    assert (qr.bin, qr.account, qr.amount, qr.purpose) == (
        "970436",
        "0011001234567",
        200_000,
        pr["reference"],
    )
    assert pr["transfer"]["note"] == pr["reference"] and pr["transfer"]["bank_name"] == "Vietcombank"
    got = await client.get(f"/api/v1/payment-requests/{pr['id']}", headers=agency)
    assert (await got.json()) == pr


async def test_same_key_same_body_replays_and_other_body_conflicts(client, agency):
    first = await create(client, agency, key="order-1")
    again = await create(client, agency, key="order-1")
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json()) == (await first.json())
    other = await create(client, agency, key="order-1", body={"kind": "service_fee", "fee_code": "GPLX-DOI"})
    assert other.status == 409 and (await other.json())["type"] == "/problems/idempotency-key-reused"
    assert await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests") == 1


async def test_concurrent_duplicates_make_one_request(client, agency):
    responses = await asyncio.gather(*(create(client, agency, key="same") for _ in range(20)))
    bodies = [await r.json() for r in responses]
    assert {r.status for r in responses} == {201}
    assert len({b["id"] for b in bodies}) == 1
    assert await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests") == 1


async def test_a_repeat_replays_even_when_the_fee_was_withdrawn_since(client, agency):
    first = await create(client, agency, key="order-7")
    pool = client.app[POOL]
    await pool.execute("UPDATE fee_catalogue SET active_until = now() WHERE code = 'LLTP'")
    assert (await create(client, agency)).status == 422  # a new request cannot have it any more
    again = await create(client, agency, key="order-7")
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json()) == (await first.json())
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 1


async def test_two_idempotency_keys_in_one_request_are_refused(client, agency):
    """Which one the client meant is a guess (a proxy may have added one): neither is used."""
    from multidict import CIMultiDict

    headers = CIMultiDict(agency)
    headers.add("Idempotency-Key", "first")
    headers.add("Idempotency-Key", "second")
    resp = await client.post(
        "/api/v1/payment-requests", json={"kind": "service_fee", "fee_code": "LLTP"}, headers=headers
    )
    assert resp.status == 422 and (await resp.json())["field"] == "Idempotency-Key"
    assert resp.content_type == "application/problem+json"
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == 0
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_missing_key_and_unknown_fee_change_nothing(client, agency):
    resp = await client.post(
        "/api/v1/payment-requests", json={"kind": "service_fee", "fee_code": "LLTP"}, headers=agency
    )
    assert resp.status == 422 and (await resp.json())["field"] == "Idempotency-Key"
    resp = await create(client, agency, body={"kind": "service_fee", "fee_code": "NOPE"}, key="k2")
    assert resp.status == 403 and (await resp.json())["field"] == "fee_code"  # not one the token may charge
    resp = await create(client, agency, body={"kind": "parking", "fee_code": "LLTP"})
    assert resp.status == 422
    assert await client.app[POOL].fetchval("SELECT count(*) FROM payment_requests") == 0
    # a failed create does not burn the key
    assert (await create(client, agency, key="k2")).status == 201


async def test_tokens_only_see_their_own_requests(client, agency, api_token):
    pr = await (await create(client, agency)).json()
    other = {"Authorization": f"Bearer {await api_token('payment-requests:read')}"}
    assert (await client.get(f"/api/v1/payment-requests/{pr['id']}", headers=other)).status == 404
    assert (await client.get("/api/v1/payment-requests/not-a-uuid", headers=agency)).status == 404


async def test_cancel_then_cannot_cancel_again(client, agency):
    pr = await (await create(client, agency)).json()
    url, why = f"/api/v1/payment-requests/{pr['id']}/cancel", {"reason": "dossier withdrawn"}
    resp = await client.post(url, json=why, headers=agency)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    again = await client.post(url, json=why, headers=agency)
    assert again.status == 409


async def test_staff_list_filters(client, agency, staff_login):
    a = await (await create(client, agency)).json()
    await create(client, agency, body={"kind": "service_fee", "fee_code": "GPLX-DOI"})
    finance = await staff_login("finance")
    listing = await (
        await client.get("/api/v1/payment-requests?fee_code=LLTP", headers=finance.headers())
    ).json()
    assert listing["total"] == 1 and listing["items"][0]["id"] == a["id"]
    listing = await (
        await client.get("/api/v1/payment-requests?status=pending", headers=finance.headers())
    ).json()
    assert listing["total"] == 2


async def test_every_list_filter_alone_and_together(client, agency, staff_login):
    """Each filter of the staff list selects what it names, alone and with the others (the statement holds
    only the filters asked for)."""
    a = await (await create(client, agency)).json()
    b = await (await create(client, agency, body={"kind": "service_fee", "fee_code": "GPLX-DOI"})).json()
    c = await (await create(client, agency)).json()
    pool = client.app[POOL]
    await pool.execute("UPDATE payment_requests SET amount_received = 1000 WHERE id = $1::uuid", a["id"])
    await pool.execute(
        "UPDATE payment_requests SET status = 'cancelled', closed_at = now() WHERE id = $1::uuid", c["id"]
    )
    finance = await staff_login("finance")

    async def ids(query: str) -> set[str]:
        resp = await client.get(f"/api/v1/payment-requests?{query}&limit=200", headers=finance.headers())
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["total"] == len(body["items"])
        return {i["id"] for i in body["items"]}

    mine = {a["id"], b["id"], c["id"]}
    assert await ids(f"reference={b['reference']}") == {b["id"]}
    assert await ids("reference=CP00000000000") == set()
    assert await ids("underpaid=true") & mine == {a["id"]}
    assert await ids("underpaid=false") & mine == {b["id"], c["id"]}
    assert await ids("status=cancelled") & mine == {c["id"]}
    assert await ids("kind=parking") & mine == set()
    assert await ids("kind=service_fee&fee_code=LLTP&status=pending") & mine == {a["id"]}
    assert await ids(f"fee_code=LLTP&reference={b['reference']}") == set()
    assert (
        await ids("created_from=2000-01-01T00:00:00%2B00:00&created_to=2100-01-01T00:00:00%2B00:00") >= mine
    )
    assert await ids("created_to=2000-01-01T00:00:00%2B00:00") == set()
    assert await ids("offset=0") >= mine  # no filter


async def test_a_search_by_reference_finds_the_request_by_its_index(client, agency, db_url):
    """The statement a search by reference runs, prepared and planned generically (as PostgreSQL plans it
    after five runs), reads the reference's unique index, not the table."""
    from payments.routes import ListQuery, _list_filter

    await create(client, agency)
    where, _ = _list_filter(ListQuery(reference="CP0000000000A"))

    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE q(text) AS SELECT count(*) FROM payment_requests pr {where}")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE q('CP0000000000A')"))
    finally:
        await conn.close()
    assert "payment_requests_reference_key" in plan and "Seq Scan" not in plan, plan


async def test_fully_subsidised_request_settles_without_qr(client, agency):
    resp = await create(client, agency, body={"kind": "service_fee", "fee_code": "LLTP", "channel": "vneid"})
    pr = await resp.json()
    assert pr["status"] == "paid" and pr["amount_due"] == 0 and pr["subsidy_amount"] == 200_000
    assert pr["qr_payload"] is None and pr["qr_png_url"] is None and pr["receipt_id"]
    async with client.app[POOL].acquire() as conn:
        assert await account_balance(conn, "expense:subsidy:vneid-lltp-demo") == 200_000
        assert await account_balance(conn, "revenue:fee:LLTP") == -200_000


async def test_subsidy_budget_is_consumed_atomically(client, agency):
    """100 concurrent requests against a budget that covers 10: exactly 10 subsidised, 90 pay in full."""
    bodies = [
        {"kind": "service_fee", "fee_code": "LLTP", "channel": "vneid", "payer_reference": f"HS-{i}"}
        for i in range(100)
    ]
    responses = await asyncio.gather(*(create(client, agency, body=b) for b in bodies))
    prs = [await r.json() for r in responses]
    assert {r.status for r in responses} == {201}
    assert sum(1 for p in prs if p["subsidy_amount"] == 200_000 and p["status"] == "paid") == 10
    assert sum(1 for p in prs if p["subsidy_amount"] == 0 and p["amount_due"] == 200_000) == 90
    used = await client.app[POOL].fetchval(
        "SELECT budget_used FROM subsidy_programmes WHERE code = 'vneid-lltp-demo'"
    )
    assert used == 2_000_000


async def test_openapi_documents_the_idempotency_header(client):
    doc = await (await client.get("/openapi.json")).json()
    params = doc["paths"]["/api/v1/payment-requests"]["post"]["parameters"]
    assert {"name": "Idempotency-Key", "in": "header", "required": True}.items() <= params[0].items()


async def test_the_key_row_is_written_by_the_requests_own_insert(make_app, aiohttp_client, agency):
    client = await aiohttp_client(make_app(background=False, db_pool_min=1, db_pool_max=1))
    seen: list[str] = []
    async with client.app[POOL].acquire() as conn:  # the pool's one connection: the request will use it
        conn.add_query_logger(lambda record: seen.append(record.query))
    assert (await create(client, agency)).status == 201  # reads the token and the fee's terms first
    assert sum("AS subsidised" in q for q in seen) == 1 and not any(q.startswith("BEGIN") for q in seen)
    seen.clear()
    resp = await create(client, agency, key="one-statement")
    assert resp.status == 201
    # On the fee's cached terms the request and its idempotency key are one statement: no BEGIN, no COMMIT …
    assert len(seen) == 1 and "payment_requests" in seen[0] and "idempotency_keys" in seen[0], seen
    # … and what it stored for replays is what the request reads back as.
    stored = await client.app[POOL].fetchval(
        "SELECT response_body FROM idempotency_keys WHERE key = 'one-statement'"
    )
    got = await client.get(f"/api/v1/payment-requests/{stored['id']}", headers=agency)
    assert stored == await resp.json() == await got.json()


async def test_the_answer_built_directly_is_the_documented_models_json(client, agency):
    """payment_request_json skips PaymentRequestOut on the hot path: for a pending, a cancelled and a paid
    request (with its receipt), it is exactly what the model validates and serialises to."""
    from core.responses import dump
    from payments.routes import _SELECT, PaymentRequestOut, payment_request_json

    pending = await (await create(client, agency)).json()
    cancelled = await (await create(client, agency)).json()
    url = f"/api/v1/payment-requests/{cancelled['id']}/cancel"
    assert (await client.post(url, json={"reason": "dossier withdrawn"}, headers=agency)).status == 200
    paid = await (
        await create(client, agency, body={"kind": "service_fee", "fee_code": "LLTP", "channel": "vneid"})
    ).json()
    rows = await client.app[POOL].fetch(_SELECT + " ORDER BY pr.created_at")
    assert {r["status"] for r in rows} == {"pending", "cancelled", "paid"}
    for row in rows:
        built = payment_request_json(row, "https://pay.example")
        assert dump(PaymentRequestOut.model_validate(built)) == built
    assert pending["receipt_id"] is None and paid["receipt_id"] and paid["settled_at"]


@pytest.mark.parametrize(
    "query",
    [
        "reference=CP%00000000000",  # NUL: PostgreSQL text cannot hold it
        "reference=CP0000%E2%80%8B0000000",  # a zero-width space inside
        "reference=" + "C" * 33,  # past the field's length
        "reference=",
        "created_from=0001-01-01T00:00:00%2B00:00",
        "created_to=9999-12-31T23:59:59%2B00:00",
        "underpaid=maybe",
        "status=PAID",
        "kind=%E2%80%AEparking",  # a right-to-left override before the word
    ],
)
async def test_odd_list_filters_get_a_clear_answer_and_change_nothing(client, agency, staff_login, query):
    """Each filter's value reaches the statement only as a parameter of a condition written in the code; odd
    values are refused with a problem (422) or simply match nothing, never a 500, and nothing is written."""
    await create(client, agency)
    pool = client.app[POOL]
    before = await pool.fetchval("SELECT count(*) FROM payment_requests")
    finance = await staff_login("finance")
    resp = await client.get(f"/api/v1/payment-requests?{query}", headers=finance.headers())
    assert resp.status in (200, 422), await resp.text()
    if resp.status == 422:
        assert resp.content_type == "application/problem+json"
    else:
        assert (await resp.json())["total"] == 0
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == before
