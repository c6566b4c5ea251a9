"""The fee, subsidy and collection-account forms (issue 9, point 5): read into the admin API's own models, so
đồng may be typed as people group them and times are Hà Nội local; a refusal — from validation, the service
or a database guard — comes back beside its field, in Vietnamese (English when chosen), with what was typed
kept and nothing written."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core.appkeys import POOL
from tests.payments.test_catalogue import SUBSIDIES, issue, snapshot, subsidy_body

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
async def admin(staff_login):
    return await staff_login("admin")


def fee_form(admin, **over):
    form = {
        "csrf_token": admin.csrf,
        "code": "GPXD",
        "name_vi": "Lệ phí cấp giấy phép xây dựng",
        "name_en": "Building permit fee",
        "amount": "1.234.567",
        "agency": "Sở Xây dựng Hà Nội",
        "revenue_account": "",
        "collection_account_code": "hanoi-treasury",
        "active_from": "2026-03-01T08:30",
        "active_until": "",
    }
    return {**form, **over}


def beside(html: str, field: str) -> str:
    """The message shown next to one field ('' when there is none)."""
    found = re.search(rf'<span class="field-error" id="err-{field}">([^<]*)</span>', html)
    return found.group(1) if found else ""


async def post(client, admin, path, data):
    return await client.post(path, data=data, headers=admin.headers(), allow_redirects=False)


async def test_a_fee_typed_as_people_write_it_is_saved(client, admin):
    resp = await post(client, admin, "/admin/fees", fee_form(admin))
    assert resp.status == 303 and resp.headers["Location"] == "/admin/fees?saved=1"
    row = await client.app[POOL].fetchrow(
        "SELECT amount, active_from, active_until, revenue_account FROM fee_catalogue WHERE code = 'GPXD'"
    )
    assert row["amount"] == 1_234_567 and row["active_until"] is None
    assert row["active_from"] == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)  # 08:30 in Hà Nội
    assert row["revenue_account"] == "revenue:fee:GPXD"  # left empty: the default

    # The edit form: "200 000 ₫" is understood; an empty "until" leaves the fee open-ended.
    edit = {
        k: v for k, v in fee_form(admin, amount="200 000 ₫").items() if k not in ("code", "revenue_account")
    }
    edit["active_until"] = "31/12/2030 17:00"
    assert (await post(client, admin, "/admin/fees/GPXD", edit)).status == 303
    row = await client.app[POOL].fetchrow(
        "SELECT amount, active_until FROM fee_catalogue WHERE code = 'GPXD'"
    )
    assert row["amount"] == 200_000 and row["active_until"] == datetime(2030, 12, 31, 10, tzinfo=UTC)
    assert (await post(client, admin, "/admin/fees/GPXD", {**edit, "active_until": ""})).status == 303
    assert (
        await client.app[POOL].fetchval("SELECT active_until FROM fee_catalogue WHERE code = 'GPXD'") is None
    )


async def test_a_refused_fee_shows_why_beside_the_field_and_keeps_what_was_typed(client, admin):
    before = await snapshot(client)
    resp = await post(client, admin, "/admin/fees", fee_form(admin, code="GPXD2", amount="12,5"))
    html = await resp.text()
    assert resp.status == 422 and 'id="form-error"' in html and "Chưa lưu" in html
    assert beside(html, "amount") == "Nhập số tiền nguyên bằng đồng, ví dụ 200000 hoặc 200.000."
    assert 'aria-invalid="true" aria-describedby="err-amount"' in html
    assert 'value="GPXD2"' in html and 'value="12,5"' in html and 'value="2026-03-01T08:30"' in html
    assert "Input should" not in html and "whole number of đồng" not in html  # never the API's English

    # The service's refusal (the window) lands beside "until"; the database's (code taken) beside "code".
    resp = await post(client, admin, "/admin/fees", fee_form(admin, active_until="2026-02-01T00:00"))
    html = await resp.text()
    assert resp.status == 422
    assert beside(html, "active_until") == "Thời điểm kết thúc phải sau thời điểm bắt đầu."
    resp = await post(client, admin, "/admin/fees", fee_form(admin, code="LLTP"))
    html = await resp.text()
    assert resp.status == 409 and beside(html, "code") == "Đã có khoản phí với mã này."
    resp = await post(client, admin, "/admin/fees", fee_form(admin, amount="600.000.000"))
    html = await resp.text()
    assert resp.status == 422 and beside(html, "amount") == "Vượt quá mức tối đa cho một khoản thanh toán."
    assert await snapshot(client) == before

    client.session.cookie_jar.update_cookies({"lang": "en"})
    resp = await post(client, admin, "/admin/fees", fee_form(admin, code="GPXD2", amount="12,5"))
    html = await resp.text()
    assert (
        resp.status == 422
        and beside(html, "amount") == "Enter a whole number of đồng, e.g. 200000 or 200.000."
    )
    resp = await post(client, admin, "/admin/fees", fee_form(admin, active_until="2026-02-01T00:00"))
    assert beside(await resp.text(), "active_until") == "The end must come after the start."
    assert await snapshot(client) == before


async def test_an_edit_refusal_is_shown_in_that_fee_s_own_form(client, admin):
    before = await snapshot(client)
    edit = {k: v for k, v in fee_form(admin, amount="abc").items() if k not in ("code", "revenue_account")}
    resp = await post(client, admin, "/admin/fees/LLTP", edit)
    html = await resp.text()
    assert resp.status == 422
    own = html[html.index('action="/admin/fees/LLTP"') : html.index('id="create-fee"')]
    create = html[html.index('id="create-fee"') :]
    assert beside(own, "amount").startswith("Nhập số tiền") and 'value="abc"' in own
    assert "<details open>" in html[: html.index('action="/admin/fees/LLTP"')].rsplit("<tr", 1)[-1]
    assert "field-error" not in create and 'value="abc"' not in create  # the other forms stay clean
    assert await snapshot(client) == before


async def test_subsidy_forms_take_grouped_amounts_and_refuse_a_cap_below_use(client, admin, conn, keys):
    form = {
        "csrf_token": admin.csrf,
        "code": "ht-free",
        "name_vi": "Miễn phí trích lục",
        "name_en": "Free extracts",
        "fee_code": "HT-BANSAO",
        "channel": "kiosk",
        "per_request": "8.000",
        "budget_cap": "1.234.567",
        "valid_from": "2026-01-01T00:00",
        "valid_until": "2027-12-31T23:59",
    }
    assert (await post(client, admin, "/admin/subsidies", form)).status == 303
    row = await client.app[POOL].fetchrow("SELECT * FROM subsidy_programmes WHERE code = 'ht-free'")
    assert row["budget_cap"] == 1_234_567 and row["per_request"] == 8_000
    assert row["valid_until"] == datetime(2027, 12, 31, 16, 59, tzinfo=UTC)

    # An empty channel on the edit form opens the programme to every channel.
    edit = {k: v for k, v in form.items() if k not in ("code", "fee_code")}
    assert (await post(client, admin, "/admin/subsidies/ht-free", {**edit, "channel": ""})).status == 303
    assert (
        await client.app[POOL].fetchval("SELECT channel FROM subsidy_programmes WHERE code = 'ht-free'")
        is None
    )

    resp = await client.post(
        SUBSIDIES, json=subsidy_body(per_request=50_000), headers=admin.headers(unsafe=True)
    )
    assert resp.status == 201
    await issue(conn, keys, channel="kiosk")  # 50.000 đ of the kiosk programme used
    before = await snapshot(client)
    kiosk = {k: v for k, v in form.items() if k not in ("code", "fee_code")}
    resp = await post(client, admin, "/admin/subsidies/kiosk-lltp", {**kiosk, "budget_cap": "49.999"})
    html = await resp.text()
    assert resp.status == 409
    assert beside(html, "budget_cap") == "Hạn mức không thể thấp hơn số đã dùng."
    assert 'value="49.999"' in html
    resp = await post(client, admin, "/admin/subsidies", {**form, "code": "x2", "valid_from": "tomorrow"})
    html = await resp.text()
    assert resp.status == 422 and beside(html, "valid_from").startswith("Nhập ngày giờ")
    assert await snapshot(client) == before


async def test_collection_account_form_refusals_are_beside_their_fields(client, admin):
    before = await snapshot(client)
    form = {
        "csrf_token": admin.csrf,
        "code": "hanoi-bidv",
        "bin": "999999",
        "account_number": "12010000123456",
        "holder_name": "KHO BAC HA NOI",
    }
    resp = await post(client, admin, "/admin/collection-accounts", form)
    html = await resp.text()
    assert resp.status == 422 and beside(html, "bin") == "Không có ngân hàng đang hoạt động với mã BIN này."
    assert "<details open>" in html and 'value="12010000123456"' in html
    resp = await post(
        client, admin, "/admin/collection-accounts", {**form, "bin": "970418", "holder_name": "Kho bạc"}
    )
    html = await resp.text()
    assert resp.status == 422 and beside(html, "holder_name") == "Không đúng định dạng."
    assert await snapshot(client) == before
    resp = await post(client, admin, "/admin/collection-accounts", {**form, "bin": "970418"})
    assert resp.status == 303
    assert (
        await client.app[POOL].fetchval("SELECT bin FROM collection_accounts WHERE code = 'hanoi-bidv'")
        == "970418"
    )


async def test_a_fee_names_its_legal_basis_which_its_receipts_cite(client, admin):
    """Left empty, a new fee cites the fee law; the admin may name the decision it is collected under, and a
    basis of only spaces is refused beside its field with nothing changed."""
    resp = await post(client, admin, "/admin/fees", fee_form(admin))
    assert resp.status == 303
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT legal_basis FROM fee_catalogue WHERE code = 'GPXD'") == (
        "Luật Phí và lệ phí số 97/2015/QH13"
    )
    basis = "Nghị quyết 06/2020/NQ-HĐND thành phố Hà Nội"
    typed = fee_form(admin, legal_basis=basis)
    edit = {k: v for k, v in typed.items() if k not in ("code", "revenue_account")}
    resp = await post(client, admin, "/admin/fees/GPXD", edit)
    assert resp.status == 303, await resp.text()
    assert await pool.fetchval("SELECT legal_basis FROM fee_catalogue WHERE code = 'GPXD'") == basis
    page = await (await client.get("/admin/fees", headers=admin.headers())).text()
    assert basis in page

    refused = await post(client, admin, "/admin/fees/GPXD", {**edit, "legal_basis": "x" * 301})
    assert refused.status == 422
    assert beside(await refused.text(), "legal_basis") == "Tối đa 300 ký tự."
    assert await pool.fetchval("SELECT legal_basis FROM fee_catalogue WHERE code = 'GPXD'") == basis
    api = await client.get("/api/v1/admin/fees", headers=admin.headers())
    assert [f["legal_basis"] for f in (await api.json())["items"] if f["code"] == "GPXD"] == [basis]
