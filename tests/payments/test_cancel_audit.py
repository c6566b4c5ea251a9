"""Cancelling a payment request says who and why (issue 8.13): the reason is required and clean, kept on the
request (API read, finance page) and in the audit log in the same transaction; parking's cancellations too."""

from __future__ import annotations

import uuid

import pytest

from core.appkeys import POOL
from tests.parking.conftest import attendant, lots  # noqa: F401 (fixtures for the parking case)

pytestmark = pytest.mark.usefixtures("catalogue")
URL = "/api/v1/payment-requests"


@pytest.fixture
async def agency(api_token):
    return {"Authorization": f"Bearer {await api_token('payment-requests:write')}"}


async def issue(client, headers) -> dict:
    resp = await client.post(
        URL,
        json={"kind": "service_fee", "fee_code": "LLTP"},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status == 201
    return await resp.json()


async def state(client, request_id: str) -> tuple:
    pool = client.app[POOL]
    row = await pool.fetchrow(
        "SELECT status, cancelled_by, cancel_reason, closed_at FROM payment_requests WHERE id = $1",
        uuid.UUID(request_id),
    )
    audits = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'payment_request.cancel' AND subject = $1",
        f"payment_request:{request_id}",
    )
    return (*row.values(), audits)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x" * 501},
        {"reason": "hồ sơ\u200b rút"},  # zero-width space
        {"reason": "\u202eyrrac ot refer"},  # right-to-left override
        {"reason": "line\nbreak"},
        {"reason": "bell\x07"},
        {"reason": 42},
        {"reason": "ok", "extra": 1},
    ],
)
async def test_cancel_without_a_clean_reason_changes_nothing(client, agency, body):
    pr = await issue(client, agency)
    kwargs = {} if body is None else {"json": body}
    resp = await client.post(f"{URL}/{pr['id']}/cancel", headers=agency, **kwargs)
    assert resp.status in (400, 415, 422) and resp.content_type == "application/problem+json"
    if body and "reason" in body and "extra" not in body:
        assert (await resp.json())["field"] == "reason"
    assert await state(client, pr["id"]) == ("pending", None, None, None, 0)


async def test_token_cancel_is_audited_with_who_and_why(client, agency):
    pr = await issue(client, agency)
    reason = "  Hồ sơ HS-2026-0001 bị rút  "
    resp = await client.post(f"{URL}/{pr['id']}/cancel", json={"reason": reason}, headers=agency)
    assert resp.status == 200
    out = await resp.json()
    assert out["status"] == "cancelled" and out["cancel_reason"] == reason.strip()
    read = await (await client.get(f"{URL}/{pr['id']}", headers=agency)).json()
    assert read["cancel_reason"] == reason.strip()
    pool = client.app[POOL]
    token_actor = "token:" + str(await pool.fetchval("SELECT id FROM api_tokens"))
    status, by, why, closed_at, audits = await state(client, pr["id"])
    assert (status, by, why, audits) == ("cancelled", token_actor, reason.strip(), 1)
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'payment_request.cancel'")
    assert audit["actor"] == token_actor and audit["subject"] == f"payment_request:{pr['id']}"
    assert audit["before"]["status"] == "pending"
    assert audit["after"] == {"status": "cancelled", "reference": pr["reference"], "reason": reason.strip()}
    # a second cancel is refused and records nothing more
    again = await client.post(f"{URL}/{pr['id']}/cancel", json={"reason": "again"}, headers=agency)
    assert again.status == 409
    assert (await state(client, pr["id"]))[2:] == (reason.strip(), closed_at, 1)


async def test_staff_cancel_names_the_person_and_finance_sees_why(client, agency, staff_login):
    pr = await issue(client, agency)
    finance = await staff_login("finance")
    reason = "Trùng hồ sơ <script>alert(1)</script>"
    # without the CSRF token nothing happens
    forged = await client.post(f"{URL}/{pr['id']}/cancel", json={"reason": reason}, headers=finance.headers())
    assert forged.status == 403
    assert (await state(client, pr["id"]))[0] == "pending"
    resp = await client.post(
        f"{URL}/{pr['id']}/cancel", json={"reason": reason}, headers=finance.headers(unsafe=True)
    )
    assert resp.status == 200
    assert (await state(client, pr["id"]))[1:3] == (f"staff:{finance.username}", reason)
    page = await client.get("/finance/payments?status=cancelled", headers=finance.headers())
    html = await page.text()
    assert page.status == 200 and pr["reference"] in html
    assert "Trùng hồ sơ &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f"staff:{finance.username}" in html


async def test_voiding_a_parking_session_cancels_its_request_with_a_reason(client, attendant, staff_login):  # noqa: F811
    lot = "hk-hang-dau"
    headers = attendant.headers(unsafe=True)
    checked_in = await client.post(
        f"/api/v1/parking/lots/{lot}/check-ins",
        json={"plate": "30A-444.44", "vehicle_class": "car"},
        headers=headers,
    )
    assert checked_in.status == 201
    out = await (
        await client.post(
            f"/api/v1/parking/lots/{lot}/check-outs", json={"plate": "30A-444.44"}, headers=headers
        )
    ).json()
    request_id = out["payment"]["id"]
    admin = await staff_login("admin")
    resp = await client.post(
        f"/api/v1/parking/sessions/{out['id']}/void",
        json={"reason": "nhập nhầm biển"},
        headers=admin.headers(unsafe=True),
    )
    assert resp.status == 200 and (await resp.json())["status"] == "voided"
    status, by, why, _, audits = await state(client, request_id)
    assert (status, by, why, audits) == ("cancelled", f"staff:{admin.username}", "parking session voided", 1)
