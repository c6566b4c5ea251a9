"""Fee catalogue, subsidy programmes, collection accounts and banks through the admin API and pages, and the
finance page of payment requests and money to refund."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.appkeys import POOL, REGISTRY
from core.audit import verify_audit_chain
from payments import catalogue_api, catalogue_pages, finance_pages
from payments.requests import FeeNotAvailable, NewRequest, issue_payment_request
from payments.settlement import settle_credit
from tests.payments.conftest import credit

pytestmark = pytest.mark.usefixtures("catalogue")
DAY = timedelta(days=1)
FEES = "/api/v1/admin/fees"
SUBSIDIES = "/api/v1/admin/subsidies"


@pytest.fixture
async def client(make_app, aiohttp_client):  # the app stops before its database is dropped
    """The app with the catalogue routes, whether or not main.create_app registers them already."""
    app = make_app()
    if "get_fees" not in app.router.named_resources():
        for table in (catalogue_api.routes, catalogue_pages.routes, finance_pages.routes):
            app[REGISTRY].add(app, table)
    return await aiohttp_client(app)


@pytest.fixture
async def admin(staff_login):
    return await staff_login("admin")


def fee_body(**over):
    body = {
        "code": "GPXD",
        "name_vi": "Lệ phí cấp giấy phép xây dựng",
        "name_en": "Building permit fee",
        "amount": 150_000,
        "agency": "Sở Xây dựng Hà Nội",
        "collection_account_code": "hanoi-treasury",
        "active_from": "2025-01-01T00:00:00+07:00",
    }
    return {**body, **over}


def subsidy_body(**over):
    now = datetime.now(UTC)
    body = {
        "code": "kiosk-lltp",
        "name_vi": "Hỗ trợ phí LLTP tại ki-ốt",
        "name_en": "Judicial record fee support at kiosks",
        "fee_code": "LLTP",
        "channel": "kiosk",
        "per_request": 200_000,
        "budget_cap": 1_000_000,
        "valid_from": (now - DAY).isoformat(),
        "valid_until": (now + 30 * DAY).isoformat(),
    }
    return {**body, **over}


async def issue(conn, keys, fee="LLTP", **kw):
    return await issue_payment_request(
        conn,
        keys,
        NewRequest(kind="service_fee", fee_code=fee, **kw),
        created_by="test",
        amount_cap=500_000_000,
        default_expiry=DAY,
    )


async def audit_rows(client, subject):
    return await client.app[POOL].fetch(
        "SELECT actor, action, before, after FROM audit_log WHERE subject = $1 ORDER BY seq", subject
    )


async def snapshot(client):
    pool = client.app[POOL]
    return (
        [tuple(r) for r in await pool.fetch("SELECT * FROM fee_catalogue ORDER BY code")],
        [tuple(r) for r in await pool.fetch("SELECT * FROM subsidy_programmes ORDER BY code")],
        [tuple(r) for r in await pool.fetch("SELECT * FROM collection_accounts ORDER BY code")],
        [tuple(r) for r in await pool.fetch("SELECT * FROM banks ORDER BY bin")],
        await pool.fetchval("SELECT count(*) FROM audit_log"),
    )


# Fee catalogue ----------------------------------------------------------------------------------------------


async def test_admin_creates_lists_and_updates_a_fee_audited(client, admin, staff_login, conn, keys):
    resp = await client.post(FEES, json=fee_body(), headers=admin.headers(unsafe=True))
    assert resp.status == 201, await resp.text()
    fee = await resp.json()
    assert fee["amount"] == 150_000 and fee["revenue_account"] == "revenue:fee:GPXD"
    assert fee["active_from"] == "2024-12-31T17:00:00+00:00" and fee["active_until"] is None
    assert fee["active_now"] is True

    finance = await staff_login("finance")
    listing = await (await client.get(FEES, headers=finance.headers())).json()
    assert {"GPXD", "LLTP"} <= {f["code"] for f in listing["items"]}

    issued = await issue(conn, keys, "GPXD")
    change = {"amount": 180_000, "name_en": "Building permit fee (2025)"}
    resp = await client.put(f"{FEES}/GPXD", json=change, headers=admin.headers(unsafe=True))
    assert resp.status == 200, await resp.text()
    updated = await resp.json()
    assert updated["amount"] == 180_000 and updated["name_vi"] == fee["name_vi"]

    # The request issued before the change keeps its amount; a new one gets the new amount.
    old = await conn.fetchrow(
        "SELECT fee_amount, amount_due, qr_payload FROM payment_requests WHERE id = $1", issued["id"]
    )
    assert (old["fee_amount"], old["amount_due"]) == (150_000, 150_000) and "5406150000" in old["qr_payload"]
    assert (await issue(conn, keys, "GPXD"))["fee_amount"] == 180_000

    rows = await audit_rows(client, "fee:GPXD")
    assert [r["action"] for r in rows] == ["fee.create", "fee.update"]
    assert all(r["actor"] == f"staff:{admin.username}" for r in rows)
    assert rows[0]["before"] is None and rows[0]["after"]["amount"] == 150_000
    assert rows[1]["before"]["amount"] == 150_000 and rows[1]["after"]["amount"] == 180_000
    assert rows[1]["after"]["name_en"] == "Building permit fee (2025)"
    assert (await verify_audit_chain(conn)).ok


async def test_finance_reads_but_may_not_write(client, staff_login):
    finance = await staff_login("finance")
    before = await snapshot(client)
    writes = [
        ("POST", FEES, fee_body()),
        ("PUT", f"{FEES}/LLTP", {"amount": 1}),
        ("POST", SUBSIDIES, subsidy_body()),
        ("PUT", f"{SUBSIDIES}/vneid-lltp-demo", {"budget_cap": 5_000_000}),
        ("PUT", "/api/v1/admin/banks/970436", {"active": False}),
    ]
    for method, path, body in writes:
        resp = await client.request(method, path, json=body, headers=finance.headers(unsafe=True))
        assert resp.status == 403, f"{method} {path}"
    for path in (FEES, SUBSIDIES, "/api/v1/admin/banks", "/api/v1/admin/collection-accounts"):
        assert (await client.get(path, headers=finance.headers())).status == 200
    assert (await client.get("/admin/fees", headers=finance.headers())).status == 403
    assert await snapshot(client) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (fee_body(amount=-5), 422, "amount"),
        (fee_body(amount=0), 422, "amount"),
        (fee_body(amount=150_000.0), 422, "amount"),
        (fee_body(amount="150000"), 422, "amount"),
        (fee_body(amount=500_000_001), 422, "amount"),  # above the amount cap
        (fee_body(collection_account_code="nowhere"), 422, "collection_account_code"),
        (fee_body(active_until="2024-12-31T00:00:00+07:00"), 422, "active_until"),
        (fee_body(active_until="2025-01-01T00:00:00+07:00"), 422, "active_until"),
        (fee_body(active_from="2025-01-01T00:00:00"), 422, "active_from"),  # no time zone
        (fee_body(revenue_account="revenue:parking:x"), 422, "revenue_account"),
        (fee_body(code="gpxd"), 422, "code"),
        (fee_body(name_vi="  "), 422, "name_vi"),
        (fee_body(name_en="a\x00b"), 422, "name_en"),
        (fee_body(active_from="0001-01-01T00:00:00+14:00"), 422, "active_from"),  # before year 1 in UTC
        (fee_body(code="LLTP"), 409, "code"),
        ({**fee_body(), "surprise": 1}, 422, "surprise"),
    ],
)
async def test_invalid_fee_is_refused_and_changes_nothing(client, admin, body, status, field):
    before = await snapshot(client)
    resp = await client.post(FEES, json=body, headers=admin.headers(unsafe=True))
    assert resp.status == status, await resp.text()
    problem = await resp.json()
    assert resp.content_type == "application/problem+json" and problem["field"] == field
    assert await snapshot(client) == before


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (f"{FEES}/LLTP", {"amount": -1}, 422, "amount"),
        (f"{FEES}/LLTP", {"amount": 1.5}, 422, "amount"),
        (f"{FEES}/LLTP", {"active_until": "2023-06-01T00:00:00+07:00"}, 422, "active_until"),
        (f"{FEES}/LLTP", {"name_vi": None}, 422, "name_vi"),
        (f"{FEES}/LLTP", {"collection_account_code": "nowhere"}, 422, "collection_account_code"),
        (f"{FEES}/LLTP", {}, 422, None),
        (f"{FEES}/NOPE", {"amount": 1000}, 404, "code"),
    ],
)
async def test_invalid_fee_change_is_refused_and_changes_nothing(client, admin, path, body, status, field):
    before = await snapshot(client)
    resp = await client.put(path, json=body, headers=admin.headers(unsafe=True))
    assert resp.status == status, await resp.text()
    assert (await resp.json()).get("field") == field
    assert await snapshot(client) == before


async def test_a_fee_whose_window_ended_cannot_be_charged(client, admin, conn, keys):
    resp = await client.post(
        FEES,
        json=fee_body(active_from="2024-01-01T00:00:00+07:00", active_until="2024-12-31T00:00:00+07:00"),
        headers=admin.headers(unsafe=True),
    )
    assert resp.status == 201 and (await resp.json())["active_now"] is False
    with pytest.raises(FeeNotAvailable):
        await issue(conn, keys, "GPXD")
    # Ending a live fee now: requests are refused from that moment.
    assert (await issue(conn, keys, "GPLX-DOI"))["fee_amount"] == 135_000
    end = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    resp = await client.put(
        f"{FEES}/GPLX-DOI", json={"active_until": end}, headers=admin.headers(unsafe=True)
    )
    assert resp.status == 200 and (await resp.json())["active_now"] is False
    with pytest.raises(FeeNotAvailable):
        await issue(conn, keys, "GPLX-DOI")
    # And reopening it (active_until: null) makes it chargeable again.
    resp = await client.put(
        f"{FEES}/GPLX-DOI", json={"active_until": None}, headers=admin.headers(unsafe=True)
    )
    assert resp.status == 200 and (await resp.json())["active_until"] is None
    assert (await issue(conn, keys, "GPLX-DOI"))["fee_amount"] == 135_000


async def test_fee_page_forms_create_and_edit(client, admin):
    page = await client.get("/admin/fees", headers=admin.headers())
    text = await page.text()
    assert page.status == 200 and "Danh mục phí, lệ phí" in text
    assert "200.000 ₫" in text and "8.000 ₫" in text  # LLTP and HT-BANSAO
    form = {
        "csrf_token": admin.csrf,
        "code": "GPXD",
        "name_vi": "Lệ phí cấp giấy phép xây dựng",
        "name_en": "Building permit fee",
        "amount": "150.000",
        "agency": "Sở Xây dựng Hà Nội",
        "revenue_account": "",
        "collection_account_code": "hanoi-treasury",
        "active_from": "2025-01-01T08:30",
        "active_until": "",
    }
    resp = await client.post("/admin/fees", data=form, headers=admin.headers(), allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/fees?saved=1"
    row = await client.app[POOL].fetchrow(
        "SELECT amount, active_from, active_until FROM fee_catalogue WHERE code = 'GPXD'"
    )
    assert row["amount"] == 150_000 and row["active_until"] is None
    assert row["active_from"] == datetime(2025, 1, 1, 1, 30, tzinfo=UTC)  # 08:30 in Hà Nội
    text = await (await client.get("/admin/fees?saved=1", headers=admin.headers())).text()
    assert 'id="saved"' in text and "150.000 ₫" in text and "01/01/2025 08:30" in text

    edit = {**form, "amount": "175000", "active_until": "2030-01-01T00:00"}
    del edit["code"], edit["revenue_account"]
    resp = await client.post("/admin/fees/GPXD", data=edit, headers=admin.headers(), allow_redirects=False)
    assert resp.status == 303
    row = await client.app[POOL].fetchrow(
        "SELECT amount, active_until FROM fee_catalogue WHERE code = 'GPXD'"
    )
    assert row["amount"] == 175_000 and row["active_until"] == datetime(2029, 12, 31, 17, tzinfo=UTC)
    assert [r["action"] for r in await audit_rows(client, "fee:GPXD")] == ["fee.create", "fee.update"]

    before = await snapshot(client)
    bad = await client.post(
        "/admin/fees", data={**form, "code": "GPXD2", "amount": "12,5"}, headers=admin.headers()
    )
    text = await bad.text()
    assert bad.status == 422 and 'id="form-error"' in text and "amount" in text
    assert 'value="GPXD2"' in text  # what was typed comes back
    dup = await client.post("/admin/fees", data=form, headers=admin.headers())
    assert dup.status == 409 and 'id="form-error"' in await dup.text()
    no_csrf = await client.post(
        "/admin/fees", data={**form, "code": "GPXD3", "csrf_token": "x"}, headers=admin.headers()
    )
    assert no_csrf.status == 403
    assert await snapshot(client) == before


# Subsidy programmes -----------------------------------------------------------------------------------------


async def test_subsidy_create_update_and_cap_never_below_used(client, admin, conn, keys):
    # The demo programmes are for VNeID; a kiosk programme of its own keeps them out of the way.
    resp = await client.post(
        SUBSIDIES, json=subsidy_body(per_request=50_000), headers=admin.headers(unsafe=True)
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["budget_used"] == 0 and created["budget_remaining"] == 1_000_000 and created["open_now"]

    pr = await issue(conn, keys, channel="kiosk")
    assert (pr["subsidy_code"], pr["subsidy_amount"], pr["amount_due"]) == ("kiosk-lltp", 50_000, 150_000)
    await issue(conn, keys, channel="kiosk")

    listing = await (await client.get(SUBSIDIES, headers=admin.headers())).json()
    ours = next(p for p in listing["items"] if p["code"] == "kiosk-lltp")
    assert (ours["budget_used"], ours["budget_cap"], ours["budget_remaining"]) == (
        100_000,
        1_000_000,
        900_000,
    )

    before = await snapshot(client)
    low = await client.put(
        f"{SUBSIDIES}/kiosk-lltp", json={"budget_cap": 99_999}, headers=admin.headers(unsafe=True)
    )
    assert low.status == 409 and (await low.json())["field"] == "budget_cap"
    assert await snapshot(client) == before

    change = {"budget_cap": 100_000, "channel": None, "name_en": "Judicial record support"}
    resp = await client.put(f"{SUBSIDIES}/kiosk-lltp", json=change, headers=admin.headers(unsafe=True))
    assert resp.status == 200, await resp.text()
    updated = await resp.json()
    assert (
        updated["budget_cap"] == 100_000 and updated["budget_remaining"] == 0 and updated["channel"] is None
    )
    # Used up: the citizen pays the full fee.
    assert (await issue(conn, keys, channel="kiosk"))["amount_due"] == 200_000

    rows = await audit_rows(client, "subsidy:kiosk-lltp")
    assert [r["action"] for r in rows] == ["subsidy.create", "subsidy.update"]
    assert rows[1]["before"]["budget_cap"] == 1_000_000 and rows[1]["after"]["budget_cap"] == 100_000
    assert rows[1]["before"]["channel"] == "kiosk" and rows[1]["after"]["channel"] is None

    page = await (await client.get("/admin/subsidies", headers=admin.headers())).text()
    card = page[page.index('id="subsidy-kiosk-lltp"') :]
    assert "100.000 ₫" in card and 'aria-valuenow="100.0"' in card


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (subsidy_body(code="vneid-lltp-demo"), 409, "code"),
        (subsidy_body(fee_code="NOPE"), 422, "fee_code"),
        (subsidy_body(valid_until="2020-01-01T00:00:00+07:00"), 422, "valid_until"),
        (subsidy_body(budget_cap=-1), 422, "budget_cap"),
        (subsidy_body(per_request=1.0), 422, "per_request"),
        (subsidy_body(budget_cap=2**63), 422, "budget_cap"),
        (subsidy_body(channel="VNeID"), 422, "channel"),
    ],
)
async def test_invalid_subsidy_is_refused_and_changes_nothing(client, admin, body, status, field):
    before = await snapshot(client)
    resp = await client.post(SUBSIDIES, json=body, headers=admin.headers(unsafe=True))
    assert resp.status == status, await resp.text()
    assert (await resp.json())["field"] == field
    assert await snapshot(client) == before


async def test_subsidy_window_change_is_checked_against_the_stored_window(client, admin):
    before = await snapshot(client)
    resp = await client.put(
        f"{SUBSIDIES}/vneid-lltp-2024",
        json={"valid_from": "2025-06-01T00:00:00+07:00"},  # after its stored end, 31-12-2024
        headers=admin.headers(unsafe=True),
    )
    assert resp.status == 422 and (await resp.json())["field"] == "valid_from"
    assert await snapshot(client) == before


async def test_subsidy_form_creates_a_programme(client, admin):
    form = {
        "csrf_token": admin.csrf,
        "code": "ht-free",
        "name_vi": "Miễn phí trích lục",
        "name_en": "Free extracts",
        "fee_code": "HT-BANSAO",
        "channel": "",
        "per_request": "8.000",
        "budget_cap": "800.000",
        "valid_from": "2025-01-01T00:00",
        "valid_until": "2025-12-31T23:59",
    }
    resp = await client.post("/admin/subsidies", data=form, headers=admin.headers(), allow_redirects=False)
    assert resp.status == 303
    row = await client.app[POOL].fetchrow("SELECT * FROM subsidy_programmes WHERE code = 'ht-free'")
    assert row["channel"] is None and row["per_request"] == 8_000 and row["budget_cap"] == 800_000
    assert row["valid_until"] == datetime(2025, 12, 31, 16, 59, tzinfo=UTC)
    page = await (await client.get("/admin/subsidies", headers=admin.headers())).text()
    assert "Miễn phí trích lục" in page and "800.000 ₫" in page
    bad = await client.post(
        "/admin/subsidies",
        data={**form, "code": "ht-free-2", "valid_until": "2024-01-01T00:00"},
        headers=admin.headers(),
    )
    assert bad.status == 422 and "valid_until" in await bad.text()


# Collection accounts and banks ------------------------------------------------------------------------------


async def test_collection_accounts_need_an_active_bank(client, admin):
    headers = admin.headers(unsafe=True)
    accounts = "/api/v1/admin/collection-accounts"
    body = {
        "code": "hanoi-bidv",
        "bin": "970418",
        "account_number": "12010000123456",
        "holder_name": "KHO BAC HA NOI",
    }
    before = await snapshot(client)
    for bad, field in (
        ({**body, "bin": "999999"}, "bin"),
        ({**body, "holder_name": "Kho bạc Hà Nội"}, "holder_name"),
        ({**body, "account_number": "12-01"}, "account_number"),
        ({**body, "code": "hanoi-treasury"}, "code"),
        ({**body, "bin": "970436", "account_number": "0011001234567"}, "account_number"),
    ):
        resp = await client.post(accounts, json=bad, headers=headers)
        assert resp.status in (409, 422) and (await resp.json())["field"] == field, bad
    assert await snapshot(client) == before

    banks = await (await client.get("/api/v1/admin/banks", headers=admin.headers())).json()
    assert {"bin": "970418", "short_name": "BIDV"}.items() <= next(
        b for b in banks["items"] if b["bin"] == "970418"
    ).items()
    resp = await client.put("/api/v1/admin/banks/970418", json={"active": False}, headers=headers)
    assert resp.status == 200 and (await resp.json())["active"] is False
    refused = await client.post(accounts, json=body, headers=headers)
    assert refused.status == 422 and (await refused.json())["field"] == "bin"

    resp = await client.put(
        "/api/v1/admin/banks/970418", json={"active": True, "short_name": "BIDV Bank"}, headers=headers
    )
    assert resp.status == 200
    resp = await client.post(accounts, json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["bank_name"] == "BIDV Bank"
    # A bank that active collection accounts use cannot be deactivated.
    busy = await client.put("/api/v1/admin/banks/970418", json={"active": False}, headers=headers)
    assert busy.status == 409 and "hanoi-bidv" in (await busy.json())["detail"]
    assert (
        await client.put("/api/v1/admin/banks/97041", json={"active": False}, headers=headers)
    ).status == 404

    listing = await (await client.get(accounts, headers=admin.headers())).json()
    assert {a["code"] for a in listing["items"]} == {"hanoi-treasury", "hanoi-bidv"}
    assert [r["action"] for r in await audit_rows(client, "bin:970418")] == ["bank.update", "bank.update"]
    bank_rows = await audit_rows(client, "bin:970418")
    assert bank_rows[0]["before"]["active"] is True and bank_rows[0]["after"]["active"] is False
    assert bank_rows[1]["after"]["short_name"] == "BIDV Bank"
    created = await audit_rows(client, "collection_account:hanoi-bidv")
    assert created[0]["action"] == "collection_account.create" and created[0]["after"]["bin"] == "970418"


# Finance page -----------------------------------------------------------------------------------------------


async def test_finance_page_shows_underpaid_requests_and_money_to_refund(client, staff_login, conn, keys):
    underpaid = await issue(conn, keys)
    paid = await issue(conn, keys, "GPLX-DOI")
    async with conn.transaction():
        await settle_credit(conn, keys, credit(f"CK {underpaid['reference']} LLTP", 50_000, txn="FT-UNDER"))
        await settle_credit(conn, keys, credit(f"{paid['reference']}", 135_000, txn="FT-PAID"))
        await settle_credit(conn, keys, credit(f"{paid['reference']} lan 2", 135_000, txn="FT-TWICE"))
        await settle_credit(conn, keys, credit("chuyen tien hoc phi", 70_000, txn="FT-UNKNOWN"))

    finance = await staff_login("finance")
    page = await client.get("/finance/payments", headers=finance.headers())
    text = await page.text()
    assert page.status == 200 and "Yêu cầu thanh toán" in text
    row = re.search(rf'<tr id="request-{underpaid["reference"]}">.*?</tr>', text, re.S).group(0)
    assert f'href="/finance/payments/{underpaid["reference"]}"' in row
    assert "200.000 ₫" in row and "50.000 ₫" in row
    assert "trả thiếu, đang giữ" in row
    refunds = text[text.index('id="refunds"') :]
    assert (
        "FT-UNKNOWN" in refunds and "chuyen tien hoc phi" in refunds and "không rõ mã thanh toán" in refunds
    )
    assert "FT-TWICE" in refunds and "trả lần nữa" in refunds
    assert "FT-UNDER" not in refunds and "FT-PAID" not in refunds
    assert re.search(r'id="refunds-total">205\.000 ₫<', refunds)

    held = await (await client.get("/finance/payments?underpaid=1", headers=finance.headers())).text()
    assert f"request-{underpaid['reference']}" in held and f"request-{paid['reference']}" not in held
    by_status = await (
        await client.get("/finance/payments?status=paid&fee_code=", headers=finance.headers())
    ).text()
    assert (
        f"request-{paid['reference']}" in by_status and f"request-{underpaid['reference']}" not in by_status
    )
    tomorrow = (datetime.now(UTC) + 2 * DAY).date().isoformat()
    later = await (
        await client.get(f"/finance/payments?date_from={tomorrow}", headers=finance.headers())
    ).text()
    assert "request-CP" not in later and "FT-UNKNOWN" not in later

    english = await client.get(
        "/finance/payments",
        headers={**finance.headers(), "Cookie": f"citypay_session={finance.cookie}; lang=en"},
    )
    assert "Money in suspense and to refund" in await english.text()

    attendant = await staff_login("attendant")
    assert (await client.get("/finance/payments", headers=attendant.headers())).status == 403
    admin = await staff_login("admin")
    assert (await client.get("/finance/payments", headers=admin.headers())).status == 200
    bad = await client.get(
        "/finance/payments?date_from=yesterday", headers={**finance.headers(), "Accept": "text/html"}
    )
    assert bad.status == 422
