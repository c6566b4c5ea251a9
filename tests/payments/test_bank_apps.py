"""The banking apps of the pay page (issue 12, point 8): VietQR's deeplink built with every value encoded,
the app list kept as data (migration 0019) and edited by an admin through forms (add, edit, disable, enable,
remove), every change in the audit log, refusals in Vietnamese beside their fields; the pay page lists only
the enabled apps in their order, each link carrying the collecting account, the amount due now, the reference
and the way back; the remainder QR and the status poll."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image

from core.appkeys import POOL, SETTINGS
from core.db import connect
from payments.bank_apps import deeplink
from payments.requests import NewRequest, issue_payment_request
from payments.settlement import settle_credit
from payments.vietqr import parse_payload
from tests.catalogue import not_in_catalogue
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN, credit

pytestmark = pytest.mark.usefixtures("catalogue")
VCB, VPB = "970436", "970432"
SEEDED = ["vcb", "mb", "bidv", "icb", "vba", "tcb", "acb", "vpb", "tpb", "ocb", "hdb", "shb", "vib-2", "seab"]


@pytest.fixture
async def admin(staff_login):
    return await staff_login("admin")


async def issue(db_url, keys):
    conn = await connect(db_url)
    try:
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=500_000_000,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()


async def pay(db_url, keys, reference, amount):
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            await settle_credit(conn, keys, credit(f"CK {reference}", amount))
    finally:
        await conn.close()


def app_links(page: str) -> dict[str, str]:
    return {
        m.group(1): htmllib.unescape(m.group(2))
        for m in re.finditer(r'<a class="bank-app" data-app="([^"]+)" href="([^"]+)"', page)
    }


def beside(page: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="err-{field}">([^<]*)</span>', page)
    return found.group(1) if found else ""


async def post(client, admin, path, **data):
    return await client.post(
        path, data={"csrf_token": admin.csrf, **data}, headers=admin.headers(), allow_redirects=False
    )


# The deeplink ---------------------------------------------------------------------------------------------


def test_deeplink_encodes_every_value_and_keeps_the_at_and_the_return_url_readable():
    link = deeplink(
        "vib-2",
        account="0011 0042&x",
        bank="970436",
        amount=150_000,
        note="CP12 34#5",
        name="KHO BẠC HÀ NỘI",
        return_url="https://city.example/pay/CP1?a=1&b=2",
    )
    assert link.startswith("https://dl.vietqr.io/pay?app=vib-2&ba=0011%200042%26x@970436&am=150000&")
    assert "&tn=CP12%2034%235&" in link
    assert "&bn=KHO%20B%E1%BA%A0C%20H%C3%80%20N%E1%BB%98I&" in link
    assert link.endswith("&url=https://city.example/pay/CP1%3Fa%3D1%26b%3D2")
    query = parse_qs(urlsplit(link).query)
    assert query == {
        "app": ["vib-2"],
        "ba": ["0011 0042&x@970436"],
        "am": ["150000"],
        "tn": ["CP12 34#5"],
        "bn": ["KHO BẠC HÀ NỘI"],
        "url": ["https://city.example/pay/CP1?a=1&b=2"],
    }


# The pay page's list --------------------------------------------------------------------------------------


async def test_pay_page_lists_the_enabled_apps_in_order_with_the_transfer_filled_in(client, db_url, keys):
    pr = await issue(db_url, keys)
    page = await (await client.get(f"/pay/{pr['reference']}")).text()
    links = app_links(page)
    assert list(links)[: len(SEEDED)] == SEEDED
    base = client.app[SETTINGS].public_base_url
    for app_id, href in links.items():
        parts = urlsplit(href)
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "dl.vietqr.io", "/pay")
        q = parse_qs(parts.query)
        assert q["app"] == [app_id]
        assert q["ba"] == [f"{BANK_ACCOUNT}@{BANK_BIN}"]
        assert q["am"] == ["200000"] and q["tn"] == [pr["reference"]]
        assert q["bn"] == ["KHO BAC NHA NUOC HA NOI"]
        assert q["url"] == [f"{base}/pay/{pr['reference']}"]
    assert 'id="save-qr"' in page and f'download="{pr["reference"]}.png"' in page
    for button in ("copy-account", "copy-amount", "copy-note"):
        assert f'id="{button}"' in page
    assert 'data-copy="200000"' in page


async def test_a_partial_payment_points_everything_at_the_remainder(client, db_url, keys):
    pr = await issue(db_url, keys)
    await pay(db_url, keys, pr["reference"], 120_000)
    page = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert {parse_qs(urlsplit(h).query)["am"][0] for h in app_links(page).values()} == {"80000"}
    assert "Đã nhận 120.000 ₫, còn phải trả 80.000 ₫." in page
    save = htmllib.unescape(re.search(r'id="save-qr" href="([^"]+)"', page).group(1))
    assert save == f"/api/v1/payment-requests/{pr['id']}/remaining-qr.png?amount=80000&size=1024"
    image = await client.get(save)
    assert image.status == 200 and image.headers["Cache-Control"].endswith("immutable")
    [payload] = [
        r.text
        for r in zxingcpp.read_barcodes(
            Image.open(io.BytesIO(await image.read())), formats=zxingcpp.BarcodeFormat.QRCode
        )
    ]
    full = parse_payload(pr["qr_payload"])
    rest = parse_payload(payload)
    assert rest.amount == 80_000 and (rest.bin, rest.account, rest.purpose) == (
        full.bin,
        full.account,
        full.purpose,
    )


async def test_remainder_qr_refuses_an_amount_that_is_not_due_now(client, db_url, keys):
    pr = await issue(db_url, keys)
    await pay(db_url, keys, pr["reference"], 150_000)
    path = f"/api/v1/payment-requests/{pr['id']}/remaining-qr.png"
    for amount in ("200000", "49999", "1"):
        resp = await client.get(path, params={"amount": amount})
        body = await resp.json()
        assert resp.status == 409 and resp.content_type == "application/problem+json", amount
        assert not_in_catalogue([body["message"]]) == [] and body["message"].startswith("Số tiền còn phải")
    for bad in ("0", "x", "-5"):
        resp = await client.get(path, params={"amount": bad})
        assert resp.status == 422 and resp.content_type == "application/problem+json"
    resp = await client.get(path)
    assert resp.status == 422
    await pay(db_url, keys, pr["reference"], 50_000)  # paid: no QR to pay anything any more
    resp = await client.get(path, params={"amount": "50000"})
    assert resp.status == 409


async def test_status_poll_answers_like_the_event_stream(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference'].lower()}/status")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["status"] == "pending" and body["amount_remaining"] == 200_000
    await pay(db_url, keys, pr["reference"], 200_000)
    body = await (await client.get(f"/pay/{pr['reference']}/status")).json()
    assert body["status"] == "paid" and body["receipt_url"].startswith("/receipts/")
    resp = await client.get("/pay/CP0000000000X/status")
    assert resp.status == 404 and resp.content_type == "application/problem+json"


# The admin page -------------------------------------------------------------------------------------------


async def audit_rows(client, action_prefix: str) -> list[dict]:
    rows = await client.app[POOL].fetch(
        "SELECT actor, action, subject, before, after FROM audit_log WHERE action LIKE $1 ORDER BY seq",
        action_prefix + "%",
    )
    return [
        {
            **dict(r),
            "before": json.loads(r["before"]) if isinstance(r["before"], str) else r["before"],
            "after": json.loads(r["after"]) if isinstance(r["after"], str) else r["after"],
        }
        for r in rows
    ]


async def test_admin_adds_edits_disables_enables_and_removes_an_app(client, db_url, keys, admin):
    page = await client.get("/admin/bank-apps", headers=admin.headers())
    assert page.status == 200
    text = await page.text()
    assert "Ứng dụng ngân hàng trên trang thanh toán" in text and 'id="app-vcb"' in text
    assert 'data-confirm="Xóa ứng dụng Vietcombank khỏi trang thanh toán?' in text  # asks before removing

    resp = await post(
        client,
        admin,
        "/admin/bank-apps",
        app_id=" Cake ",
        display_name="CAKE",
        bank_bin="970432",
        sort_order="5",
    )
    assert resp.status == 303 and resp.headers["Location"] == "/admin/bank-apps?saved=1"
    pr = await issue(db_url, keys)
    pay_page = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert next(iter(app_links(pay_page))) == "cake"  # lower-cased, first by its order

    resp = await post(
        client,
        admin,
        "/admin/bank-apps/cake",
        display_name="CAKE by VPBank",
        bank_bin="970432",
        sort_order="500",
    )
    assert resp.status == 303
    resp = await post(client, admin, "/admin/bank-apps/vcb/disable")
    assert resp.status == 303
    pay_page = await (await client.get(f"/pay/{pr['reference']}")).text()
    links = list(app_links(pay_page))
    assert "vcb" not in links and links[-1] == "cake" and "CAKE by VPBank" in pay_page
    resp = await post(client, admin, "/admin/bank-apps/vcb/enable")
    assert resp.status == 303
    assert "vcb" in app_links(await (await client.get(f"/pay/{pr['reference']}")).text())
    resp = await post(client, admin, "/admin/bank-apps/cake/remove")
    assert resp.status == 303
    assert "cake" not in app_links(await (await client.get(f"/pay/{pr['reference']}")).text())

    rows = await audit_rows(client, "bank_app.")
    assert [r["action"] for r in rows] == [
        "bank_app.create",
        "bank_app.update",
        "bank_app.disable",
        "bank_app.enable",
        "bank_app.remove",
    ]
    assert all(r["actor"].endswith(admin.username) or admin.username in r["actor"] for r in rows)
    assert (
        rows[1]["before"]["display_name"] == "CAKE" and rows[1]["after"]["display_name"] == "CAKE by VPBank"
    )
    assert rows[1]["after"]["sort_order"] == 500
    assert rows[2]["before"]["enabled"] is True and rows[2]["after"]["enabled"] is False
    assert rows[4]["subject"] == "bank_app:cake" and rows[4]["after"] is None


async def test_admin_form_refusals_are_catalogue_sentences_beside_their_fields(client, admin):
    shown = []
    cases = [
        ({"app_id": "vcb", "display_name": "Again", "bank_bin": "970436"}, "app_id", 409),
        ({"app_id": "new app!", "display_name": "X", "bank_bin": "970436"}, "app_id", 422),
        ({"app_id": "newapp", "display_name": "X", "bank_bin": "999999"}, "bank_bin", 422),
        ({"app_id": "newapp", "display_name": "", "bank_bin": "970436"}, "display_name", 422),
        (
            {"app_id": "newapp", "display_name": "X", "bank_bin": "970436", "sort_order": "-1"},
            "sort_order",
            422,
        ),
    ]
    for data, field, status in cases:
        resp = await post(client, admin, "/admin/bank-apps", **data)
        page = await resp.text()
        assert resp.status == status, (data, page[:300])
        message = beside(page, field)
        assert message, (data, field)
        shown.append(message)
        assert f'value="{data["app_id"]}"' in page  # what was typed is kept
    resp = await post(
        client, admin, "/admin/bank-apps/vcb", display_name="", bank_bin="970436", sort_order="x"
    )
    page = await resp.text()
    assert resp.status == 422
    shown.append(beside(page, "sort_order"))
    assert not_in_catalogue(shown) == [], shown
    assert "Đã có ứng dụng với mã này." in shown
    resp = await post(client, admin, "/admin/bank-apps/nosuchapp/remove")
    assert resp.status == 404


async def test_only_admins_reach_the_page_and_its_forms(client, staff_login):
    finance = await staff_login("finance")
    assert (
        await client.get("/admin/bank-apps", headers=finance.headers(), allow_redirects=False)
    ).status in (
        403,
        303,
    )
    resp = await client.post(
        "/admin/bank-apps/vcb/disable",
        data={"csrf_token": finance.csrf},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status in (403, 303)
    rows = await client.app[POOL].fetchval("SELECT count(*) FROM pay_bank_apps WHERE NOT enabled")
    assert rows == 0
