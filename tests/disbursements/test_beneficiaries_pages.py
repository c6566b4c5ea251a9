"""The beneficiary pages: Vietnamese first, English one click away; masked everywhere (list, one, CSV export
with a BOM); the forms (verify, change account, propose a decision, verify all) refuse bad input beside its
field and change nothing; roles."""

from __future__ import annotations

import pytest

from core.appkeys import POOL
from tests.disbursements.conftest import enrol_via_api

PAGE = "/disbursements/beneficiaries"
CCCD, ACCOUNT = "001055001234", "0011000456789"


def english(login) -> dict[str, str]:
    return {**login.headers(), "Cookie": f"citypay_session={login.cookie}; lang=en"}


def form_headers(login) -> dict[str, str]:
    return {"Cookie": f"citypay_session={login.cookie}"}


@pytest.fixture
async def app_client(sim_bank, make_app, aiohttp_client):
    _sim, url, _db = sim_bank
    return await aiohttp_client(make_app(background=False, banksim_url=url))


async def test_list_page_vietnamese_first_masked_and_searchable(client, staff_login):
    finance = await staff_login("finance")
    created = await enrol_via_api(client, finance)
    await enrol_via_api(
        client,
        finance,
        national_id="079160004321",
        full_name="Trần Thị Bích Ngọc",
        birth_date="1960-01-09",
        account_number="0011000567890",
    )
    resp = await client.get(PAGE, headers=finance.headers())
    assert resp.status == 200
    html = await resp.text()
    assert "Người hưởng chi trả an sinh" in html and "2 người hưởng" in html
    assert "001******234" in html and "****6789" in html and "N*** V*** A***" in html
    assert CCCD not in html and ACCOUNT not in html and "Nguyễn" not in html
    assert "Chưa xác minh" in html
    en = await (await client.get(PAGE, headers=english(finance))).text()
    assert "Social-security beneficiaries" in en and "Unverified" in en
    search = await client.post(
        f"{PAGE}/search", data={"csrf_token": finance.csrf, "q": CCCD}, headers=form_headers(finance)
    )
    assert search.status == 200
    found = await search.text()
    assert "1 người hưởng" in found and f'href="/disbursements/beneficiaries/{created["id"]}"' in found
    assert CCCD not in found  # not even echoed back
    by_account = await client.post(
        f"{PAGE}/search",
        data={"csrf_token": finance.csrf, "q": "0011000567890"},
        headers=form_headers(finance),
    )
    assert "1 người hưởng" in await by_account.text()
    filtered = await (await client.get(PAGE, params={"state": "payable"}, headers=finance.headers())).text()
    assert "0 người hưởng" in filtered
    odd = await client.get(
        PAGE, params={"state": "<script>", "page": "-4", "programme": "x"}, headers=finance.headers()
    )
    assert odd.status == 200


async def test_csv_export_is_masked_with_a_bom(client, staff_login):
    finance = await staff_login("finance")
    await enrol_via_api(client, finance)
    resp = await client.get(f"{PAGE}.csv", headers=finance.headers())
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.read()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,so_cccd,ho_ten")
    assert "001******234" in text and CCCD not in text and ACCOUNT not in text and "Nguyễn" not in text
    en = await (await client.get(f"{PAGE}.csv", headers=english(finance))).read()
    assert en.decode("utf-8-sig").startswith("id,national_id,full_name")


async def test_one_beneficiary_page_and_its_forms(app_client, staff_login):
    client = app_client
    finance = await staff_login("finance")
    created = await enrol_via_api(
        client,
        finance,
        national_id="001058001111",
        full_name="Lê Đức Thành",
        birth_date="1958-01-01",
        account_number="0011000678901",
    )
    url = f"{PAGE}/{created['id']}"
    html = await (await client.get(url, headers=finance.headers())).text()
    assert "001******111" in html and "Xác minh với ngân hàng ngay" in html and "Đổi tài khoản" in html
    pool = client.app[POOL]
    # verify through the form (the bank says LE DUC THANG: a mismatch)
    verified = await client.post(
        f"{url}/verify",
        data={"csrf_token": finance.csrf},
        headers=form_headers(finance),
        allow_redirects=False,
    )
    assert verified.status == 303 and verified.headers["Location"].endswith("?saved=verified")
    html = await (await client.get(url + "?saved=verified", headers=finance.headers())).text()
    assert "Tên không khớp" in html and "L*** D*** T***" in html and "LE DUC THANG" not in html
    # propose a decision: without a note it is refused beside the field, nothing stored
    refused = await client.post(
        f"{url}/review",
        data={"csrf_token": finance.csrf, "decision": "accept", "note": ""},
        headers=form_headers(finance),
    )
    assert refused.status == 422 and "field-error" in await refused.text()
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 0
    proposed = await client.post(
        f"{url}/review",
        data={"csrf_token": finance.csrf, "decision": "accept", "note": "Đã gọi điện xác nhận"},
        headers=form_headers(finance),
        allow_redirects=False,
    )
    assert proposed.status == 303
    assert await pool.fetchval("SELECT kind FROM approvals") == "disbursements.accept_mismatch"
    html = await (await client.get(url, headers=finance.headers())).text()
    assert "chờ người duyệt" in html
    review = await (await client.get(f"{PAGE}/review", headers=finance.headers())).text()
    assert "Chấp nhận tên không khớp" in review and "001******111" in review
    # change the account: a bad number is shown beside its field and changes nothing
    bad = await client.post(
        f"{url}/account",
        data={"csrf_token": finance.csrf, "bank_bin": "970436", "account_number": "12ab"},
        headers=form_headers(finance),
    )
    assert bad.status == 422
    bad_html = await bad.text()
    assert 'id="err-account_number"' in bad_html or "form-error" in bad_html
    assert await pool.fetchval("SELECT count(*) FROM disb_accounts") == 1
    good = await client.post(
        f"{url}/account",
        data={"csrf_token": finance.csrf, "bank_bin": "970436", "account_number": "0011000678902"},
        headers=form_headers(finance),
        allow_redirects=False,
    )
    assert good.status == 303
    assert await pool.fetchval("SELECT count(*) FROM disb_accounts") == 2
    # no CSRF token: refused
    no_csrf = await client.post(f"{url}/verify", data={}, headers=form_headers(finance))
    assert no_csrf.status == 403


async def test_verify_all_and_import_pages(client, staff_login):
    finance = await staff_login("finance")
    await enrol_via_api(client, finance)
    resp = await client.post(
        f"{PAGE}/verify-all",
        data={"csrf_token": finance.csrf},
        headers=form_headers(finance),
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"{PAGE}?queued=1"
    html = await (await client.get(f"{PAGE}?queued=1", headers=finance.headers())).text()
    assert "Đã xếp 1 tài khoản" in html
    page = await (await client.get(f"{PAGE}/import", headers=finance.headers())).text()
    assert 'id="upload-progress"' in page and "beneficiary_import.js" in page
    assert "/api/v1/disbursements/beneficiaries/import" in page
    script = await client.get("/static/disbursements/beneficiary_import.js")
    assert script.status == 200 and "failed_csv" in await script.text()


async def test_roles_on_pages(client, staff_login):
    finance = await staff_login("finance")
    created = await enrol_via_api(client, finance)
    attendant = await staff_login("attendant")
    for path in (PAGE, f"{PAGE}/{created['id']}", f"{PAGE}.csv", f"{PAGE}/review", f"{PAGE}/import"):
        assert (await client.get(path, headers=attendant.headers())).status == 403, path
    approver = await staff_login("approver")
    html = await (await client.get(PAGE, headers=approver.headers())).text()
    assert "verify-all" not in html
    one = await (await client.get(f"{PAGE}/{created['id']}", headers=approver.headers())).text()
    assert 'id="change-account"' not in one
    assert (await client.get(f"{PAGE}/import", headers=approver.headers())).status == 403
    refused = await client.post(
        f"{PAGE}/{created['id']}/account",
        data={"csrf_token": approver.csrf, "bank_bin": "970436", "account_number": "0011000678902"},
        headers=form_headers(approver),
    )
    assert refused.status == 403
    assert await client.app[POOL].fetchval("SELECT count(*) FROM disb_accounts") == 1
    home = await (await client.get("/staff", headers=finance.headers())).text()
    assert 'href="/disbursements/beneficiaries"' in home
