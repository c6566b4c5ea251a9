"""Issue 8's attacks on bank callbacks, over real HTTP against a real database: each one sends the attack and
checks that nothing changed (or that the money went where finance will see it)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.appkeys import POOL
from core.demo_bank_key import DEMO_BANK_CODE
from core.logging import configure_logging
from core.pii import decrypt_bytes, decrypt_pii
from payments.banks import verify_answer, vnpay_signature
from payments.banks.payos import payos_signature
from payments.callbacks import QUERY_CONTEXT, reprocess_inbox
from payments.narrative import NARRATIVE_CONTEXT, redact_narrative
from payments.receipts import key_id as city_key_id
from payments.requests import expire_overdue_requests
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN
from tests.payments.test_callbacks import (
    URL,
    counts,
    new_request,
    payos_body,
    signed,
    v1_body,
    vn_now,
)

pytestmark = pytest.mark.usefixtures("catalogue")
VNPAY_SECRET = "VNPAY-HASH-SECRET-0123456789"
PAYOS_KEY = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"


async def _gateway(client, admin, scheme: str, secret: str, *, activate: bool = True) -> None:
    h = admin.headers(unsafe=True)
    profile = {
        "code": scheme,
        "name": scheme,
        "bin": BANK_BIN,
        "scheme": scheme,
        "credited_account": BANK_ACCOUNT,
    }
    if scheme == "vnpay":
        profile["merchant_code"] = "CITYPAY1"
    assert (await client.post("/api/v1/admin/bank-profiles", headers=h, json=profile)).status == 201
    key = await client.post(
        f"/api/v1/admin/bank-profiles/{scheme}/keys", headers=h, json={"key_id": "k1", "secret": secret}
    )
    assert key.status == 201
    if activate:
        assert (await client.post(f"/api/v1/admin/bank-profiles/{scheme}/activate", headers=h)).status == 200


def _vnpay_params(
    reference: str, secret: bytes, *, amount: int = 200_000, txn: str = "14422574", **extra
) -> dict:
    params = {
        "vnp_TmnCode": "CITYPAY1",
        "vnp_Amount": str(amount * 100),
        "vnp_TxnRef": reference,
        "vnp_PayDate": vn_now().strftime("%Y%m%d%H%M%S"),
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TransactionNo": txn,
        "vnp_OrderInfo": "Thanh toan LLTP 0912345678",
        **extra,
    }
    params["vnp_SecureHash"] = vnpay_signature(params, secret)
    return params


async def _status(pool, request_id) -> str:
    return await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", request_id)


def _security_lines(capsys) -> list[dict]:
    return [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("{") and '"callback_rejected"' in line
    ]


# 1. No active key: nothing verifies -------------------------------------------------------------------------


async def test_a_profile_cannot_be_activated_without_a_key(client, staff_login):
    admin = await staff_login("admin")
    h = admin.headers(unsafe=True)
    profile = {
        "code": "vnpay",
        "name": "VNPay",
        "bin": BANK_BIN,
        "scheme": "vnpay",
        "credited_account": BANK_ACCOUNT,
    }
    assert (await client.post("/api/v1/admin/bank-profiles", headers=h, json=profile)).status == 201
    resp = await client.post("/api/v1/admin/bank-profiles/vnpay/activate", headers=h)
    assert resp.status == 409 and resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == "active"
    assert await client.app[POOL].fetchval("SELECT active FROM bank_profiles WHERE code = 'vnpay'") is False
    # the database refuses it too, whatever code path tries
    with pytest.raises(asyncpg.CheckViolationError):
        await client.app[POOL].execute("UPDATE bank_profiles SET active = true WHERE code = 'vnpay'")


@pytest.mark.parametrize("scheme", ["vnpay", "payos", "citypay-bank-v1"])
async def test_a_profile_whose_last_key_was_retired_refuses_callbacks_signed_with_an_empty_key(
    client, db_url, keys, staff_login, scheme, capsys, bank_key
):
    configure_logging("json")
    admin = await staff_login("admin")
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    if scheme == "citypay-bank-v1":
        code, kid = DEMO_BANK_CODE, bank_key[0]
    else:
        await _gateway(client, admin, scheme, VNPAY_SECRET if scheme == "vnpay" else PAYOS_KEY)
        code, kid = scheme, "k1"
    retired = await client.delete(
        f"/api/v1/admin/bank-profiles/{code}/keys/{kid}", headers=admin.headers(unsafe=True)
    )
    assert retired.status == 200
    before = await counts(pool)
    capsys.readouterr()
    if scheme == "vnpay":
        resp = await client.get("/api/v1/bank-callbacks/vnpay", params=_vnpay_params(pr["reference"], b""))
        assert (await resp.json())["RspCode"] == "97"
    elif scheme == "payos":
        resp = await client.post("/api/v1/bank-callbacks/payos", json=payos_body(pr["reference"], ""))
        assert resp.status == 401
    else:
        body = v1_body(pr["reference"])
        resp = await client.post(URL, data=body, headers=signed(bank_key, body))
        assert resp.status == 401
    assert await counts(pool) == before
    assert await _status(pool, pr["id"]) == "pending"
    lines = _security_lines(capsys)
    assert len(lines) == 1 and lines[0]["reason"] == "no_active_key"


async def test_a_gateway_profile_must_credit_a_registered_city_account(client, staff_login):
    admin = await staff_login("admin")
    profile = {
        "code": "vnpay",
        "name": "VNPay",
        "bin": BANK_BIN,
        "scheme": "vnpay",
        "credited_account": "9999999999",
    }
    resp = await client.post("/api/v1/admin/bank-profiles", headers=admin.headers(unsafe=True), json=profile)
    assert resp.status == 422 and (await resp.json())["field"] == "credited_account"
    assert not await client.app[POOL].fetchval("SELECT count(*) FROM bank_profiles WHERE code = 'vnpay'")


# 2. The credited account ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credited_bin", "credited_account"),
    [(BANK_BIN, "9999999999"), ("970415", BANK_ACCOUNT)],
    ids=["not-a-city-account", "city-account-number-at-another-bank"],
)
async def test_a_credit_to_an_account_the_city_does_not_hold_is_refused(
    client, db_url, keys, bank_key, credited_bin, credited_account
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    before = await counts(pool)
    accounts_before = await pool.fetchval("SELECT count(*) FROM ledger_accounts")
    body = v1_body(pr["reference"], credited_bin=credited_bin, credited_account=credited_account)
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 422
    answer = verify_answer(
        {city_key_id(keys): keys.signing_public_key}, resp.headers, await resp.read(), datetime.now(UTC)
    )
    assert (answer.reason, answer.field) == ("unknown_account", "credited_account")
    assert await counts(pool) == before
    assert await pool.fetchval("SELECT count(*) FROM ledger_accounts") == accounts_before
    assert not await pool.fetchval("SELECT count(*) FROM ledger_accounts WHERE path LIKE '%9999999999'")
    assert await _status(pool, pr["id"]) == "pending"


async def test_a_credit_to_another_city_account_goes_to_suspense_and_settles_nothing(
    client, db_url, keys, bank_key
):
    pool = client.app[POOL]
    await pool.execute(
        """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
           VALUES ('parking-hk', $1, '0011007654321', 'BQL BAI XE HOAN KIEM')""",
        BANK_BIN,
    )
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], credited_account="0011007654321")
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 200  # the money is ours and booked; the bank is done
    assert await _status(pool, pr["id"]) == "pending"
    assert await pool.fetchval("SELECT outcome FROM payments_received") == "wrong_account"
    suspense = await pool.fetchval(
        """SELECT sum(p.amount) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE a.path = 'liability:suspense'"""
    )
    assert suspense == -200_000


async def test_the_ledger_refuses_a_bank_account_that_is_not_registered(conn):
    from ledger import post_entry

    async with conn.transaction():
        with pytest.raises(asyncpg.CheckViolationError):
            await post_entry(
                conn,
                idempotency_key="forged",
                kind="credit.settled",
                business_date=datetime.now(UTC).date(),
                lines=[("asset:bank:970436:123456789", 1000), ("revenue:fee:LLTP", -1000)],
            )


# 3. Money limits --------------------------------------------------------------------------------------------


async def test_an_amount_above_the_sanity_cap_is_held_for_finance_not_revenue(
    make_app, aiohttp_client, db_url, keys, bank_key, staff_login
):
    client = await aiohttp_client(make_app(inbound_sanity_cap=1_000_000))
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], amount=9_999_999_999_999)
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 200
    assert await _status(pool, pr["id"]) == "pending"
    assert await pool.fetchval("SELECT outcome FROM payments_received") == "over_cap"
    revenue = await pool.fetchval(
        """SELECT count(*) FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE a.path LIKE 'revenue:%'"""
    )
    assert revenue == 0
    finance = await staff_login("finance")
    page = await client.get("/finance/payments", headers=finance.headers())
    assert "over_cap" in await page.text() or "vượt ngưỡng" in await page.text()
    # 10^13 đồng is beyond any VietQR amount: refused outright, nothing stored
    before = await counts(pool)
    body = v1_body(pr["reference"], amount=10**13, txn="FT-HUGE")
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 422
    assert await counts(pool) == before


async def test_vnpay_is_never_told_error_for_money_that_was_booked(
    make_app, aiohttp_client, db_url, keys, staff_login
):
    client = await aiohttp_client(make_app(inbound_sanity_cap=1_000_000))
    await _gateway(client, await staff_login("admin"), "vnpay", VNPAY_SECRET)
    pr = await new_request(db_url, keys)
    params = _vnpay_params(pr["reference"], VNPAY_SECRET.encode(), amount=5_000_000)
    answer = await (await client.get("/api/v1/bank-callbacks/vnpay", params=params)).json()
    assert answer["RspCode"] == "04"  # booked (held for finance); VNPay's rule for a wrong amount, not "99"
    assert await client.app[POOL].fetchval("SELECT outcome FROM payments_received") == "over_cap"
    again = await (await client.get("/api/v1/bank-callbacks/vnpay", params=params)).json()
    assert again["RspCode"] == "02"


# 4. Same transaction id, other content ----------------------------------------------------------------------


async def test_the_same_transaction_id_with_other_content_is_a_conflict_finance_sees(
    client, db_url, keys, bank_key, staff_login
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-CONFLICT")
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 200
    other = v1_body(pr["reference"], amount=900_000, txn="FT-CONFLICT")
    resp = await client.post(URL, data=other, headers=signed(bank_key, other))
    assert resp.status == 200 and json.loads(await resp.read())["status"] == "duplicate"
    assert await pool.fetchval("SELECT amount FROM payments_received") == 200_000  # the first stands
    assert await pool.fetchval("SELECT count(*) FROM journal_entries WHERE kind LIKE 'credit.%'") == 1
    conflict = await pool.fetchrow("SELECT * FROM callback_conflicts")
    assert conflict["bank_txn_id"] == "FT-CONFLICT"
    assert conflict["differences"]["amount"] == {"first": 200_000, "now": 900_000}
    assert (
        await pool.fetchval("SELECT status FROM callback_inbox WHERE id = $1", conflict["inbox_id"])
        == "conflict"
    )
    finance = await staff_login("finance")
    page = await (await client.get("/finance/payments", headers=finance.headers())).text()
    assert "FT-CONFLICT" in page and "900.000" in page
    api = await client.get("/api/v1/finance/callback-issues", headers=finance.headers())
    assert api.status == 200
    items = (await api.json())["conflicts"]
    assert [i["bank_txn_id"] for i in items] == ["FT-CONFLICT"]


# 5. Lateness by the bank's booking time ---------------------------------------------------------------------


async def test_paid_before_expiry_settles_even_when_the_callback_arrives_after_it(
    client, db_url, keys, bank_key
):
    pool = client.app[POOL]
    on_time, late = await new_request(db_url, keys), await new_request(db_url, keys)
    expired_at = datetime.now(UTC) - timedelta(hours=3)
    await pool.execute(
        """UPDATE payment_requests SET expires_at = $1, created_at = $1::timestamptz - interval '1 hour'
            WHERE id = ANY($2::uuid[])""",
        expired_at,
        [on_time["id"], late["id"]],
    )
    async with pool.acquire() as conn:
        assert await expire_overdue_requests(conn) == 2  # the sweeper ran during the bank's outage
    budget_before = await pool.fetchval("SELECT sum(budget_used) FROM subsidy_programmes")
    paid_in_time = (expired_at - timedelta(minutes=10)).isoformat()
    body = v1_body(on_time["reference"], txn="FT-ONTIME", booked_at=paid_in_time)
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 200
    assert await _status(pool, on_time["id"]) == "paid"
    paid_late = (expired_at + timedelta(minutes=30)).isoformat()
    body = v1_body(late["reference"], txn="FT-LATE", booked_at=paid_late)
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 200
    assert await _status(pool, late["id"]) == "expired"
    outcomes = dict(await pool.fetch("SELECT bank_txn_id, outcome FROM payments_received"))
    assert outcomes == {"FT-ONTIME": "settled", "FT-LATE": "late"}
    assert await pool.fetchval("SELECT sum(budget_used) FROM subsidy_programmes") == budget_before


# 6. Bodies in pieces ----------------------------------------------------------------------------------------


async def test_a_body_in_two_chunks_or_two_segments_is_read_whole(client, db_url, keys, bank_key):
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-CHUNKED")

    async def two_chunks():
        yield body[:40]
        await asyncio.sleep(0.2)
        yield body[40:]

    resp = await client.post(URL, data=two_chunks(), headers=signed(bank_key, body))
    assert resp.status == 200 and json.loads(await resp.read())["status"] == "accepted"

    other = await new_request(db_url, keys)
    body = v1_body(other["reference"], txn="FT-SEGMENTS")
    head = "".join(f"{k}: {v}\r\n" for k, v in signed(bank_key, body).items())
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
        + f"Connection: close\r\n{head}\r\n".encode()
        + body[:25]
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(body[25:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert await _status(client.app[POOL], other["id"]) == "paid"


# 7. Extreme dates and poison rows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "booked_at",
    [
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
        "2026-01-01T00:00:00+07:00",
        (datetime.now(UTC) + timedelta(days=2)).isoformat(),
    ],
    ids=["year-1", "year-9999", "months-ago", "days-ahead"],
)
async def test_a_booking_time_outside_the_window_is_422_and_stores_nothing(
    client, db_url, keys, bank_key, booked_at
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    before = await counts(pool)
    body = v1_body(pr["reference"], booked_at=booked_at)
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 422
    assert json.loads(await resp.read())["field"] == "booked_at"
    assert await counts(pool) == before


@pytest.mark.parametrize(
    ("field", "text"), [("narrative", "\ud800"), ("payer_name", "AN \udfff"), ("narrative", "\x00")]
)
async def test_a_signed_callback_with_text_utf8_cannot_hold_is_422_and_stores_nothing(
    client, db_url, keys, bank_key, field, text
):
    """A JSON escape of a lone surrogate parses into text PostgreSQL cannot store: such a callback was kept in
    the inbox and then failed every settlement attempt, answering 503 "retry" each time."""
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    before = await counts(pool)
    body = v1_body(pr["reference"], **{field: f"{pr['reference']} {text}"})
    assert b"\\u" in body  # sent escaped, as JSON must carry it
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 422, await resp.text()
    assert json.loads(await resp.read())["field"] == field
    assert await counts(pool) == before


async def test_a_payos_description_utf8_cannot_hold_is_422_and_stores_nothing(
    client, db_url, keys, staff_login
):
    await _gateway(client, await staff_login("admin"), "payos", PAYOS_KEY)
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    before = await counts(pool)
    for name, text in (("description", f"{pr['reference']} \x00"), ("counterAccountName", "NGUYEN \x00")):
        body = payos_body(pr["reference"], PAYOS_KEY)
        body["data"][name] = text
        body["signature"] = payos_signature(body["data"], PAYOS_KEY)
        resp = await client.post("/api/v1/bank-callbacks/payos", json=body)
        assert resp.status == 422, await resp.text()
        assert (await resp.json())["field"] == f"data.{name}"
    assert await counts(pool) == before


async def test_vnpay_year_one_is_refused_without_storing(client, db_url, keys, staff_login):
    await _gateway(client, await staff_login("admin"), "vnpay", VNPAY_SECRET)
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    before = await counts(pool)
    params = _vnpay_params(pr["reference"], VNPAY_SECRET.encode(), vnp_PayDate="00010101000000")
    answer = await (await client.get("/api/v1/bank-callbacks/vnpay", params=params)).json()
    assert answer["RspCode"] == "99"  # nothing booked: VNPay may retry
    assert await counts(pool) == before


async def test_poison_rows_end_as_failed_and_never_starve_genuine_ones(
    client, db_url, keys, bank_key, staff_login
):
    """Rows stored before today's checks (an extreme date) or that keep failing: the re-processor gives up on
    them visibly, and a genuine stuck row behind 150 of them is still finished."""
    from core.pii import encrypt_bytes
    from payments.callbacks import RAW_BODY_CONTEXT

    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    poison = v1_body(pr["reference"], booked_at="0001-01-01T00:00:00+23:59", txn="FT-POISON")
    rows = [
        (
            encrypt_bytes(
                keys, poison.replace(b"FT-POISON", f"FT-P{i:04d}".encode()), context=RAW_BODY_CONTEXT
            ),
            f"FT-P{i:04d}",
        )
        for i in range(150)
    ]
    good = v1_body(pr["reference"], txn="FT-GENUINE")
    rows.append((encrypt_bytes(keys, good, context=RAW_BODY_CONTEXT), "FT-GENUINE"))
    await pool.executemany(
        """INSERT INTO callback_inbox (bank_code, method, headers, raw_body, bank_txn_id, received_at)
           VALUES ('vcb-sim', 'POST', '{}', $1, $2, now() - interval '5 minutes')""",
        rows,
    )
    later = datetime.now(UTC) + timedelta(minutes=1)
    for _ in range(3):
        await reprocess_inbox(pool, keys, now=later, limit=100)
    assert await _status(pool, pr["id"]) == "paid"
    assert await pool.fetchval("SELECT count(*) FROM callback_inbox WHERE status = 'failed'") == 150
    assert await pool.fetchval("SELECT count(*) FROM callback_inbox WHERE status = 'received'") == 0
    finance = await staff_login("finance")
    issues = await (await client.get("/api/v1/finance/callback-issues", headers=finance.headers())).json()
    assert issues["failed_count"] == 150


async def test_a_row_that_keeps_failing_gives_up_after_the_attempt_limit(client, db_url, keys, monkeypatch):
    import payments.callbacks as callbacks
    from payments.callbacks import CallbackPolicy

    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    from core.pii import encrypt_bytes

    await pool.execute(
        """INSERT INTO callback_inbox (bank_code, method, headers, raw_body, bank_txn_id, received_at)
           VALUES ('vcb-sim', 'POST', '{}', $1, 'FT-BROKEN', now() - interval '5 minutes')""",
        encrypt_bytes(keys, v1_body(pr["reference"], txn="FT-BROKEN"), context=callbacks.RAW_BODY_CONTEXT),
    )

    async def broken(*a, **kw):
        raise RuntimeError("a bug in settlement")

    monkeypatch.setattr(callbacks, "settle_credit", broken)
    policy = CallbackPolicy(max_attempts=3)
    far = datetime.now(UTC) + timedelta(days=1)
    for _ in range(5):
        await reprocess_inbox(pool, keys, now=far, policy=policy)
    row = await pool.fetchrow("SELECT status, attempts, last_error FROM callback_inbox")
    assert (row["status"], row["attempts"]) == ("failed", 3) and "a bug in settlement" in row["last_error"]


# 8. Replays -------------------------------------------------------------------------------------------------


async def test_twenty_identical_deliveries_at_once_add_one_inbox_row(client, db_url, keys, bank_key):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-STORM")
    answers = await asyncio.gather(
        *(client.post(URL, data=body, headers=signed(bank_key, body)) for _ in range(20))
    )
    statuses = sorted([json.loads(await a.read())["status"] for a in answers])
    assert statuses == ["accepted"] + ["duplicate"] * 19
    row = await pool.fetchrow("SELECT count(*) AS n, sum(deliveries) AS deliveries FROM callback_inbox")
    assert (row["n"], row["deliveries"]) == (1, 20)
    assert await pool.fetchval("SELECT count(*) FROM payments_received") == 1


async def test_unsigned_extras_do_not_make_a_captured_gateway_callback_new(client, db_url, keys, staff_login):
    """Replays are recognised by what the signature covers: VNPay parameters outside vnp_* and payOS's
    top-level fields are not signed, so changing them must not add inbox rows."""
    admin = await staff_login("admin")
    await _gateway(client, admin, "vnpay", VNPAY_SECRET)
    await _gateway(client, admin, "payos", PAYOS_KEY)
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    params = _vnpay_params(pr["reference"], VNPAY_SECRET.encode(), txn="777001")
    for n in range(10):
        resp = await client.get("/api/v1/bank-callbacks/vnpay", params={**params, "junk": str(n)})
        assert (await resp.json())["RspCode"] in ("00", "02")
    other = await new_request(db_url, keys)
    body = payos_body(other["reference"], PAYOS_KEY)
    for n in range(10):
        assert (
            await client.post("/api/v1/bank-callbacks/payos", json={**body, "desc": f"x{n}"})
        ).status == 200
    rows = dict(await pool.fetch("SELECT bank_code, count(*) FROM callback_inbox GROUP BY bank_code"))
    assert rows == {"vnpay": 1, "payos": 1}
    deliveries = dict(await pool.fetch("SELECT bank_code, deliveries FROM callback_inbox"))
    assert deliveries == {"vnpay": 10, "payos": 10}
    assert await pool.fetchval("SELECT count(*) FROM payments_received") == 2


async def test_repeated_vnpay_failure_notices_are_kept_once(client, db_url, keys, staff_login):
    await _gateway(client, await staff_login("admin"), "vnpay", VNPAY_SECRET)
    pr = await new_request(db_url, keys)
    params = _vnpay_params(
        pr["reference"], VNPAY_SECRET.encode(), vnp_ResponseCode="24", vnp_TransactionStatus="02"
    )
    for _ in range(5):
        assert (await (await client.get("/api/v1/bank-callbacks/vnpay", params=params)).json())[
            "RspCode"
        ] == "00"
    row = await client.app[POOL].fetchrow("SELECT count(*) AS n, max(deliveries) AS d FROM callback_inbox")
    assert (row["n"], row["d"]) == (1, 5)


# 15. Personal data in the narrative, the VNPay query and payer_reference ------------------------------------


async def test_the_narrative_is_encrypted_and_redacted_and_kept_out_of_the_journal(
    client, db_url, keys, bank_key
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    narrative = f"{pr['reference']} NGUYEN VAN AN SDT 0912345678 CCCD 001090012345"
    body = v1_body(pr["reference"], narrative=narrative)
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 200
    row = await pool.fetchrow("SELECT narrative, narrative_encrypted FROM payments_received")
    assert "0912345678" not in row["narrative"] and "001090012345" not in row["narrative"]
    assert pr["reference"] in row["narrative"]  # matching still finds the reference in the redacted copy
    assert decrypt_pii(keys, row["narrative_encrypted"], context=NARRATIVE_CONTEXT) == narrative
    memo = await pool.fetchval("SELECT memo FROM journal_entries WHERE kind LIKE 'credit.%'")
    assert "NGUYEN" not in memo and "0912345678" not in memo and "001090012345" not in memo


def test_redaction_masks_digit_runs_but_keeps_the_reference():
    from payments.reference import check_symbol

    ref = "CP1234567890" + check_symbol("CP1234567890")  # a reference with a long digit run of its own
    redacted = redact_narrative(f"TT {ref} NGUYEN VAN AN 0987654321 cccd 001090012345 ma 12345")
    assert redacted == f"TT {ref} NGUYEN VAN AN *******321 cccd *********345 ma 12345"


@pytest.mark.parametrize(
    ("narrative", "redacted"),
    [
        ("sdt 0912 345 678", "sdt **** *** 678"),
        ("cccd 001-099-012-345", "cccd ***-***-***-345"),
        ("so tk 1903.6789.0123", "so tk ****.****.*123"),
        ("sdt ０９１２３４５６７８", "sdt *******678"),  # fullwidth digits
        ("ngay 30/11/2026 so tien 50.000", "ngay 30/11/2026 so tien 50.000"),  # dates and amounts stay
    ],
)
def test_redaction_counts_digits_across_separators(narrative, redacted):
    assert redact_narrative(narrative) == redacted


async def test_invisible_characters_in_a_narrative_neither_hide_the_reference_nor_reach_finance(
    client, db_url, keys, bank_key
):
    pool = client.app[POOL]
    pr = await new_request(db_url, keys)
    ref = pr["reference"]
    narrative = f"{ref[:5]}\u200b{ref[5:]} \u202eNA NAV NEYUGN\u202c 0912\u2060345678"
    body = v1_body(ref, narrative=narrative, txn="FT-INVISIBLE")
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 200
    assert await _status(pool, pr["id"]) == "paid"  # the reference is still found
    shown = await pool.fetchval("SELECT narrative FROM payments_received")
    assert not any(ch in shown for ch in "\u200b\u202e\u202c\u2060")
    assert "0912345678" not in shown and ref in shown
    stored = await pool.fetchval("SELECT narrative_encrypted FROM payments_received")
    assert decrypt_pii(keys, stored, context=NARRATIVE_CONTEXT) == narrative  # the bank's text, kept exactly


def test_redaction_never_eats_into_a_reference_that_touches_digits():
    from payments.reference import check_symbol

    ref = "CP9PNKMPRX8R" + check_symbol("CP9PNKMPRX8R")
    assert redact_narrative(f"ref{ref}0912345678") == f"ref{ref}*******678"


async def test_the_vnpay_query_string_is_stored_encrypted(client, db_url, keys, staff_login):
    await _gateway(client, await staff_login("admin"), "vnpay", VNPAY_SECRET)
    pr = await new_request(db_url, keys)
    resp = await client.get(
        "/api/v1/bank-callbacks/vnpay", params=_vnpay_params(pr["reference"], VNPAY_SECRET.encode())
    )
    assert (await resp.json())["RspCode"] == "00"
    row = await client.app[POOL].fetchrow("SELECT query, query_encrypted FROM callback_inbox")
    assert row["query"] == "" and "0912345678" not in row["query_encrypted"]
    assert "0912345678" in decrypt_bytes(keys, row["query_encrypted"], context=QUERY_CONTEXT).decode()


async def test_a_payer_reference_that_looks_like_a_citizen_id_is_refused(client, api_token, db_url, keys):
    token = await api_token("payment-requests:write")
    pool = client.app[POOL]
    before = await pool.fetchval("SELECT count(*) FROM payment_requests")
    refused = (
        "001090012345",
        "HS-0912345678",
        "０１２３４５６７８９",
        "0912.345.678",
        "0912 345 678",
        "001-099-012-345",
    )
    for i, value in enumerate(refused):
        resp = await client.post(
            "/api/v1/payment-requests",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{i}"},
            json={"kind": "service_fee", "fee_code": "LLTP", "payer_reference": value},
        )
        assert resp.status == 422, value
        assert (await resp.json())["field"] == "payer_reference"
    assert await pool.fetchval("SELECT count(*) FROM payment_requests") == before
    dossier = await client.post(  # a dossier code with letters between its digit groups is not personal data
        "/api/v1/payment-requests",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-dossier"},
        json={"kind": "service_fee", "fee_code": "LLTP", "payer_reference": "000.00.10.H26-240101-0001"},
    )
    assert dossier.status == 201
    pr = await new_request(db_url, keys)
    with pytest.raises(asyncpg.CheckViolationError):  # the database refuses it too
        await pool.execute(
            "UPDATE payment_requests SET payer_reference = '001090012345' WHERE id = $1", pr["id"]
        )


# 19 (bank keys). Bad keys are a 422, never a 500 ------------------------------------------------------------


def _pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _ed25519_point_pem(raw: bytes) -> str:
    """An Ed25519 key of any 32 bytes, as a bank could upload it."""
    return (
        Ed25519PublicKey.from_public_bytes(raw)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n",
        "hello",
        _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 (the attack)
        _pem(ec.generate_private_key(ec.SECP256R1())),
        _pem(rsa.generate_private_key(public_exponent=3, key_size=2048)),
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode(),
        # Small-order points: under them R = identity, S = 0 "signs" anything for OpenSSL's verifier.
        _ed25519_point_pem(b"\x01" + bytes(31)),
        _ed25519_point_pem(bytes(32)),
    ],
    ids=["bad-pem", "not-pem", "rsa-1024", "ec-p256", "rsa-e3", "pkcs1-not-spki", "identity", "zero-point"],
)
async def test_a_bad_bank_key_is_422_on_the_api_and_the_page(client, staff_login, pem):
    admin = await staff_login("admin")
    pool = client.app[POOL]
    before = await pool.fetchval("SELECT count(*) FROM bank_keys")
    resp = await client.post(
        f"/api/v1/admin/bank-profiles/{DEMO_BANK_CODE}/keys",
        headers=admin.headers(unsafe=True),
        json={"key_id": "new-key", "public_key_pem": pem},
    )
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    assert (await resp.json())["field"] == "public_key_pem"
    page = await client.post(
        f"/admin/banks/{DEMO_BANK_CODE}/keys",
        headers=admin.headers(),
        data={"csrf_token": admin.csrf, "key_id": "new-key", "public_key_pem": pem},
    )
    assert page.status == 422 and "public_key_pem" in await page.text()
    assert await pool.fetchval("SELECT count(*) FROM bank_keys") == before
