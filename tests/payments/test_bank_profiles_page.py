"""The admin page for banks: register a bank, add and retire keys through HTML forms."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.appkeys import POOL
from core.demo_bank_key import public_key_pem


async def test_register_bank_add_and_retire_key_through_forms(client, staff_login):
    admin = await staff_login("admin")
    page = await client.get("/admin/banks", headers=admin.headers())
    assert page.status == 200 and "Ngân hàng và cổng thanh toán" in await page.text()
    form = {
        "csrf_token": admin.csrf,
        "code": "bidv-test",
        "name": "BIDV",
        "bin": "970418",
        "scheme": "citypay-bank-v1",
        "tolerance_s": "300",
    }
    resp = await client.post("/admin/banks", data=form, headers=admin.headers(), allow_redirects=False)
    assert resp.status == 303
    key = {
        "csrf_token": admin.csrf,
        "key_id": "bidv-1",
        "public_key_pem": public_key_pem(Ed25519PrivateKey.generate()),
    }
    resp = await client.post(
        "/admin/banks/bidv-test/keys", data=key, headers=admin.headers(), allow_redirects=False
    )
    assert resp.status == 303
    text = await (await client.get("/admin/banks", headers=admin.headers())).text()
    assert "bidv-1" in text and "đang dùng" in text
    resp = await client.post(
        "/admin/banks/bidv-test/keys/bidv-1/retire",
        data={"csrf_token": admin.csrf},
        headers=admin.headers(),
        allow_redirects=False,
    )
    assert resp.status == 303
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT retired_at IS NOT NULL FROM bank_keys WHERE key_id = 'bidv-1'")
    actions = [
        r["action"] for r in await pool.fetch("SELECT action FROM audit_log WHERE subject = 'bank:bidv-test'")
    ]
    assert actions == ["bank_profile.create", "bank_key.add", "bank_key.retire"]


async def test_bad_form_input_is_shown_and_changes_nothing(client, staff_login):
    admin = await staff_login("admin")
    bad = {
        "csrf_token": admin.csrf,
        "code": "x",
        "name": "X",
        "bin": "970418",
        "scheme": "citypay-bank-v1",
        "tolerance_s": "soon",
    }
    resp = await client.post("/admin/banks", data=bad, headers=admin.headers())
    assert resp.status == 422 and 'id="form-error"' in await resp.text()
    bad.update(tolerance_s="300", code="ok-code", bin="999999")
    resp = await client.post("/admin/banks", data=bad, headers=admin.headers())
    assert resp.status == 422
    no_csrf = await client.post("/admin/banks", data={**bad, "csrf_token": "nope"}, headers=admin.headers())
    assert no_csrf.status == 403
    assert await client.app[POOL].fetchval("SELECT count(*) FROM bank_profiles") == 0
