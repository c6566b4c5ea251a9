"""The bank-profile forms (issue 9, point 5): the admin API's own models, refusals beside their fields in
Vietnamese (English when chosen), what was typed kept (never a secret), nothing written."""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.appkeys import POOL
from core.demo_bank_key import public_key_pem


def beside(html: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="err-{field}">([^<]*)</span>', html)
    return found.group(1) if found else ""


async def counts(client):
    pool = client.app[POOL]
    return [
        await pool.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("bank_profiles", "bank_keys", "audit_log")
    ]


async def post(client, admin, path, data):
    return await client.post(path, data=data, headers=admin.headers(), allow_redirects=False)


async def test_bank_form_refusals_are_beside_their_fields(client, staff_login):
    admin = await staff_login("admin")
    form = {
        "csrf_token": admin.csrf,
        "code": "bidv-test",
        "name": "BIDV",
        "bin": "970418",
        "scheme": "citypay-bank-v1",
        "tolerance_s": "soon",
    }
    before = await counts(client)
    resp = await post(client, admin, "/admin/banks", form)
    html = await resp.text()
    assert resp.status == 422 and beside(html, "tolerance_s") == "Nhập một số nguyên."
    assert 'value="bidv-test"' in html and 'value="soon"' in html
    assert '<option value="970418" selected>' in html  # the chosen bank is kept
    resp = await post(client, admin, "/admin/banks", {**form, "tolerance_s": "5"})
    assert beside(await resp.text(), "tolerance_s") == "Phải từ 30 trở lên."
    resp = await post(client, admin, "/admin/banks", {**form, "tolerance_s": "", "scheme": "swift"})
    html = await resp.text()
    assert resp.status == 422 and beside(html, "scheme") == "Giao thức không được hỗ trợ."
    resp = await post(client, admin, "/admin/banks", {**form, "tolerance_s": "", "scheme": "vnpay"})
    html = await resp.text()
    assert (
        resp.status == 422 and beside(html, "credited_account") == "Cổng thanh toán cần tài khoản nhận tiền."
    )
    assert await counts(client) == before

    client.session.cookie_jar.update_cookies({"lang": "en"})
    resp = await post(client, admin, "/admin/banks", form)
    assert beside(await resp.text(), "tolerance_s") == "Enter a whole number."
    assert await counts(client) == before


async def test_key_and_activation_refusals(client, staff_login):
    admin = await staff_login("admin")
    form = {"csrf_token": admin.csrf, "code": "bidv-test", "name": "BIDV", "bin": "970418"}
    assert (await post(client, admin, "/admin/banks", {**form, "scheme": "citypay-bank-v1"})).status == 303
    before = await counts(client)

    # Activating a profile without a key: the database's guard, as a sentence for the page.
    resp = await post(client, admin, "/admin/banks/bidv-test/activate", {"csrf_token": admin.csrf})
    html = await resp.text()
    assert (
        resp.status == 409
        and "Chỉ kích hoạt được khi có khóa đang dùng" in html
        and 'id="form-error"' in html
    )

    key = {"csrf_token": admin.csrf, "key_id": "bidv-1", "public_key_pem": "not a key"}
    resp = await post(client, admin, "/admin/banks/bidv-test/keys", key)
    html = await resp.text()
    assert resp.status == 422 and beside(html, "public_key_pem").startswith("Không phải khóa công khai")
    assert 'value="bidv-1"' in html and ">not a key</textarea>" in html
    resp = await post(
        client, admin, "/admin/banks/bidv-test/keys", {**key, "public_key_pem": "", "secret": "s" * 40}
    )
    html = await resp.text()
    assert resp.status == 422 and beside(html, "public_key_pem").startswith("Ngân hàng theo giao thức này")
    assert "s" * 40 not in html  # a secret is never written back into the page
    assert await counts(client) == before

    good = {**key, "public_key_pem": public_key_pem(Ed25519PrivateKey.generate())}
    assert (await post(client, admin, "/admin/banks/bidv-test/keys", good)).status == 303
    resp = await post(client, admin, "/admin/banks/bidv-test/keys", good)
    assert (
        resp.status == 409 and beside(await resp.text(), "key_id") == "Ngân hàng này đã có khóa với mã này."
    )
    resp = await post(client, admin, "/admin/banks/bidv-test/activate", {"csrf_token": admin.csrf})
    assert resp.status == 303
    assert await client.app[POOL].fetchval("SELECT active FROM bank_profiles WHERE code = 'bidv-test'")
