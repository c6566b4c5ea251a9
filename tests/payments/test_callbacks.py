"""Bank callbacks over real HTTP: signatures, every rejection changes nothing, duplicates post once, a failure
inside is retried, the gateways' schemes, and two server processes sharing one database."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.appkeys import KEYS, POOL
from core.db import connect
from core.demo_bank_key import DEMO_BANK_CODE, public_key_pem
from core.keys import keys_as_env
from core.logging import configure_logging
from core.pii import decrypt_bytes
from payments.banks import sign_v1_headers, verify_answer, vnpay_signature
from payments.banks.payos import payos_signature
from payments.callbacks import RAW_BODY_CONTEXT, reprocess_inbox
from payments.receipts import key_id as city_key_id
from payments.requests import NewRequest, issue_payment_request
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN

pytestmark = pytest.mark.usefixtures("catalogue")
ROOT = Path(__file__).resolve().parents[2]
URL = f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}"


async def new_request(db_url, keys, amount_fee="LLTP"):
    conn = await connect(db_url)
    try:
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code=amount_fee),
            created_by="test",
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()


def vn_now() -> datetime:
    """Gateways send Hà Nội wall-clock times; a booking must be recent to be accepted."""
    return datetime.now(UTC) + timedelta(hours=7)


def payos_body(reference: str, checksum_key: str) -> dict:
    """A payOS webhook for a 200,000 đồng payment of `reference`, signed with `checksum_key`."""
    data = {
        "orderCode": 123,
        "amount": 200000,
        "description": reference,
        "accountNumber": BANK_ACCOUNT,
        "reference": "TF230204212323",
        "transactionDateTime": vn_now().strftime("%Y-%m-%d %H:%M:%S"),
        "currency": "VND",
        "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18",
        "code": "00",
        "desc": "Thành công",
        "counterAccountBankId": "",
        "counterAccountBankName": "",
        "counterAccountName": "",
        "counterAccountNumber": "",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    }
    signature = payos_signature(data, checksum_key)
    return {"code": "00", "desc": "success", "success": True, "data": data, "signature": signature}


def v1_body(reference: str, amount: int = 200_000, txn: str = "FT26327000001", **extra) -> bytes:
    doc = {
        "bank_txn_id": txn,
        "credited_bin": BANK_BIN,
        "credited_account": BANK_ACCOUNT,
        "amount": amount,
        "currency": "VND",
        "booked_at": datetime.now(UTC).isoformat(),
        "narrative": f"{reference} NGUYEN VAN AN chuyen tien",
        "payer_name": "NGUYEN VAN AN",
        "payer_account_masked": "****6789",
        **extra,
    }
    return json.dumps(doc).encode()


def signed(bank_key, body: bytes, *, now=None, kid=None, key=None) -> dict[str, str]:
    kid0, key0 = bank_key
    headers = sign_v1_headers(key or key0, kid or kid0, body, now=now or datetime.now(UTC))
    return {**headers, "Content-Type": "application/json"}


async def counts(pool) -> tuple[int, int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM payments_received"),
        await pool.fetchval("SELECT count(*) FROM callback_inbox"),
        await pool.fetchval("SELECT count(*) FROM journal_entries"),
    )


async def test_signed_callback_settles_and_our_answer_is_signed(client, db_url, keys, bank_key):
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"])
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 200
    answer = verify_answer(
        {city_key_id(keys): keys.signing_public_key}, resp.headers, await resp.read(), datetime.now(UTC)
    )
    assert answer.status == "accepted" and answer.bank_txn_id == "FT26327000001"
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"]) == "paid"
    inbox = await pool.fetchrow("SELECT * FROM callback_inbox")
    assert inbox["status"] == "processed" and inbox["outcome"] == "settled"
    assert "NGUYEN VAN AN" not in inbox["raw_body"]  # encrypted at rest …
    assert decrypt_bytes(keys, inbox["raw_body"], context=RAW_BODY_CONTEXT) == body  # … and exact

    again = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert again.status == 200
    assert json.loads(await again.read())["status"] == "duplicate"
    assert (await counts(pool))[0] == 1


async def test_rotation_two_active_keys_both_verify(client, db_url, keys, bank_key, staff_login):
    admin = await staff_login("admin")
    new_key = Ed25519PrivateKey.generate()
    resp = await client.post(
        f"/api/v1/admin/bank-profiles/{DEMO_BANK_CODE}/keys",
        headers=admin.headers(unsafe=True),
        json={"key_id": "sim-next", "public_key_pem": public_key_pem(new_key)},
    )
    assert resp.status == 201
    third = await client.post(
        f"/api/v1/admin/bank-profiles/{DEMO_BANK_CODE}/keys",
        headers=admin.headers(unsafe=True),
        json={"key_id": "sim-third", "public_key_pem": public_key_pem(new_key)},
    )
    assert third.status == 409
    for i, (kid, key) in enumerate([bank_key, ("sim-next", new_key)]):
        pr = await new_request(db_url, keys)
        body = v1_body(pr["reference"], txn=f"FT-ROT-{i}")
        assert (
            await client.post(URL, data=body, headers=signed(bank_key, body, kid=kid, key=key))
        ).status == 200
    retire = await client.delete(
        f"/api/v1/admin/bank-profiles/{DEMO_BANK_CODE}/keys/{bank_key[0]}", headers=admin.headers(unsafe=True)
    )
    assert retire.status == 200
    body = v1_body("CPX", txn="FT-ROT-OLD")
    assert (await client.post(URL, data=body, headers=signed(bank_key, body))).status == 401


def _other_bank_key():
    return ("other-1", Ed25519PrivateKey.generate())


REJECTIONS = {
    "unknown_bank": 404,
    "bad_signature": 401,
    "other_banks_key": 401,
    "stale_timestamp": 401,
    "future_timestamp": 401,
    "tampered_body": 401,
    "missing_signature": 401,
    "oversized_body": 413,
    "wrong_content_type": 415,
    "unknown_field": 422,
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
async def test_rejected_callbacks_change_nothing(client, db_url, keys, bank_key, staff_login, case, capsys):
    configure_logging("json")
    pr = await new_request(db_url, keys)
    pool = client.app[POOL]
    before = await counts(pool)
    body = v1_body(pr["reference"])
    url, headers, data = URL, signed(bank_key, body), body
    if case == "unknown_bank":
        url = "/api/v1/bank-callbacks/no-such-bank"
    elif case == "bad_signature":
        headers = signed(bank_key, body, key=Ed25519PrivateKey.generate())
    elif case == "other_banks_key":
        admin = await staff_login("admin")
        kid, key = _other_bank_key()
        await client.post(
            "/api/v1/admin/bank-profiles",
            headers=admin.headers(unsafe=True),
            json={"code": "other-bank", "name": "Other", "bin": "970415", "scheme": "citypay-bank-v1"},
        )
        await client.post(
            "/api/v1/admin/bank-profiles/other-bank/keys",
            headers=admin.headers(unsafe=True),
            json={"key_id": kid, "public_key_pem": public_key_pem(key)},
        )
        headers = signed(bank_key, body, kid=kid, key=key)
    elif case == "stale_timestamp":
        headers = signed(bank_key, body, now=datetime.now(UTC) - timedelta(seconds=301))
    elif case == "future_timestamp":
        headers = signed(bank_key, body, now=datetime.now(UTC) + timedelta(seconds=301))
    elif case == "tampered_body":
        data = body.replace(b"200000", b"900000")
    elif case == "missing_signature":
        headers = {k: v for k, v in headers.items() if k != "X-Citypay-Signature"}
    elif case == "oversized_body":
        data = v1_body(pr["reference"], narrative_padding="x" * 70_000)
        headers = signed(bank_key, data)
    elif case == "wrong_content_type":
        headers = {**headers, "Content-Type": "text/plain"}
    elif case == "unknown_field":
        data = v1_body(pr["reference"], surprise=True)
        headers = signed(bank_key, data)
    resp = await client.post(url, data=data, headers=headers)
    assert resp.status == REJECTIONS[case]
    assert await counts(pool) == before  # no inbox row, no payment, no ledger entry
    assert await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"]) == "pending"
    security = [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("{") and '"callback_rejected"' in line
    ]
    assert len(security) == 1 and security[0]["level"] == "warning"
    text = json.dumps(security[0])
    assert headers.get("X-Citypay-Signature", "¤") not in text and "NGUYEN VAN AN" not in text


async def test_failure_inside_is_answered_503_kept_and_retried(client, db_url, keys, bank_key, monkeypatch):
    import payments.callbacks as callbacks

    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn="FT-FAIL-1")
    real = callbacks.settle_credit

    async def broken(*a, **kw):
        raise ConnectionResetError("database went away mid-settlement")

    monkeypatch.setattr(callbacks, "settle_credit", broken)
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 503
    pool = client.app[POOL]
    row = await pool.fetchrow("SELECT status, last_error, attempts FROM callback_inbox")
    assert row["status"] == "received" and "went away" in row["last_error"] and row["attempts"] == 1
    assert await pool.fetchval("SELECT count(*) FROM payments_received") == 0
    monkeypatch.setattr(callbacks, "settle_credit", real)
    # the sweeper finishes the stuck row once it is due (judged as of its arrival) …
    assert await reprocess_inbox(pool, client.app[KEYS]) == 0  # not due yet: the live path may still retry
    assert await reprocess_inbox(pool, client.app[KEYS], now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"]) == "paid"
    # … and the bank's byte-identical retry is counted on the same row and answered with the first outcome
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 200 and json.loads(await resp.read())["status"] == "duplicate"
    row = await pool.fetchrow("SELECT status, deliveries, outcome FROM callback_inbox")
    assert (row["status"], row["deliveries"], row["outcome"]) == ("processed", 2, "settled")
    assert await pool.fetchval("SELECT count(*) FROM callback_inbox") == 1
    assert await pool.fetchval("SELECT count(*) FROM payments_received") == 1


async def test_vnpay_ipn(client, db_url, keys, staff_login):
    admin = await staff_login("admin")
    h = admin.headers(unsafe=True)
    assert (
        await client.post(
            "/api/v1/admin/bank-profiles",
            headers=h,
            json={
                "code": "vnpay",
                "name": "VNPay",
                "bin": "970436",
                "scheme": "vnpay",
                "credited_account": BANK_ACCOUNT,
                "merchant_code": "CITYPAY1",
            },
        )
    ).status == 201
    secret = "VNPAY-HASH-SECRET-0123456789"
    assert (
        await client.post(
            "/api/v1/admin/bank-profiles/vnpay/keys", headers=h, json={"key_id": "hash-1", "secret": secret}
        )
    ).status == 201
    assert (await client.post("/api/v1/admin/bank-profiles/vnpay/activate", headers=h)).status == 200
    stored = await client.app[POOL].fetchval(
        "SELECT secret_encrypted FROM bank_keys WHERE bank_code = 'vnpay'"
    )
    assert secret not in stored
    pr = await new_request(db_url, keys)
    params = {
        "vnp_TmnCode": "CITYPAY1",
        "vnp_Amount": "20000000",
        "vnp_TxnRef": pr["reference"],
        "vnp_PayDate": vn_now().strftime("%Y%m%d%H%M%S"),
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TransactionNo": "14422574",
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Thanh toan LLTP",
    }
    params["vnp_SecureHash"] = vnpay_signature(params, secret.encode())
    resp = await client.get("/api/v1/bank-callbacks/vnpay", params=params)
    assert (await resp.json()) == {"RspCode": "00", "Message": "Confirm Success"}
    assert (
        await client.app[POOL].fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"])
        == "paid"
    )
    again = await client.get("/api/v1/bank-callbacks/vnpay", params=params)
    assert (await again.json())["RspCode"] == "02"
    bad = dict(params, vnp_Amount="90000000")
    resp = await client.get("/api/v1/bank-callbacks/vnpay", params=bad)
    assert (await resp.json())["RspCode"] == "97"
    assert await client.app[POOL].fetchval("SELECT count(*) FROM payments_received") == 1


async def test_payos_webhook(client, db_url, keys, staff_login):
    admin = await staff_login("admin")
    h = admin.headers(unsafe=True)
    assert (
        await client.post(
            "/api/v1/admin/bank-profiles",
            headers=h,
            json={
                "code": "payos",
                "name": "payOS",
                "bin": "970436",
                "scheme": "payos",
                "credited_account": BANK_ACCOUNT,
            },
        )
    ).status == 201
    checksum = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
    assert (
        await client.post(
            "/api/v1/admin/bank-profiles/payos/keys", headers=h, json={"key_id": "ck-1", "secret": checksum}
        )
    ).status == 201
    assert (await client.post("/api/v1/admin/bank-profiles/payos/activate", headers=h)).status == 200
    pr = await new_request(db_url, keys)
    body = payos_body(pr["reference"], checksum)
    resp = await client.post("/api/v1/bank-callbacks/payos", json=body)
    assert resp.status == 200
    assert (
        await client.app[POOL].fetchval("SELECT status FROM payment_requests WHERE id = $1", pr["id"])
        == "paid"
    )
    body["signature"] = "0" * 64
    assert (await client.post("/api/v1/bank-callbacks/payos", json=body)).status == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_two_processes_two_hundred_copies_one_entry(db_url, keys, bank_key, tmp_path):
    pr = await new_request(db_url, keys)
    ports = [_free_port(), _free_port()]
    env = {
        **os.environ,
        **keys_as_env(keys),
        "DATABASE_URL": db_url,
        "CITYPAY_LOG_LEVEL": "warning",
        "CITYPAY_VAR_DIR": str(tmp_path),
        "CITYPAY_DB_POOL_MAX": "8",
    }
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 (starting a server returns at once)
            [sys.executable, "main.py", "serve"],
            cwd=ROOT,
            env={**env, "CITYPAY_PORT": str(p)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for port in ports:
                for _ in range(100):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
            body = v1_body(pr["reference"], txn="FT-STORM-1")
            headers = signed(bank_key, body)

            async def send(i: int) -> tuple[int, str]:
                async with http.post(
                    f"http://127.0.0.1:{ports[i % 2]}{URL}", data=body, headers=headers
                ) as r:
                    return r.status, json.loads(await r.read())["status"]

            results = await asyncio.gather(*(send(i) for i in range(200)))
        assert {status for status, _ in results} == {200}
        assert sorted(s for _, s in results).count("accepted") == 1
        conn = await connect(db_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind LIKE 'credit.%'") == 1
            assert await conn.fetchval("SELECT count(*) FROM payments_received") == 1
            # byte-identical copies: one inbox row that counted every delivery
            inbox = await conn.fetchrow("SELECT status, deliveries FROM callback_inbox")
            assert (inbox["status"], inbox["deliveries"]) == ("processed", 200)
            assert await conn.fetchval("SELECT count(*) FROM callback_inbox") == 1
        finally:
            await conn.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
