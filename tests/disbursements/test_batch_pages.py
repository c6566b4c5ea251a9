"""Batch pages over HTTP: the list and build form, one batch with counts, refusals and the held-out list,
approve/cancel shown to the right people (the maker is told why there is no approve button), the pain.001
download (finance/admin only, audited, no-store, valid against the XSD), the items CSV (masked, formula-safe),
and the live progress stream (server-sent events) that ends when the batch completes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from pathlib import Path

import pytest
from lxml import etree

from disbursements import batch_pages
from disbursements.batches import build_batch
from tests.disbursements.test_reports import PERIOD, SPECS, Spec, complete, enrol, seed

# The published schema; tests/banksim/data holds an identical copy for a fresh checkout.
_SHARED_XSD = Path(__file__).resolve().parents[3] / "shared" / "data" / "iso20022" / "pain.001.001.09.xsd"
XSD = (
    _SHARED_XSD
    if _SHARED_XSD.exists()
    else Path(__file__).resolve().parents[1] / "banksim" / "data" / "pain.001.001.09.xsd"
)


@pytest.fixture
async def client(make_app, aiohttp_client):
    """The app without background tasks: the tests play execution themselves, no worker races them."""
    return await aiohttp_client(make_app(background=False))


def csrf_form(login, **fields: str) -> tuple[dict, dict]:
    return {"csrf_token": login.csrf, **fields}, login.headers()


async def page(client, login, path: str, *, lang: str = "vi") -> tuple[int, str]:
    headers = {"Cookie": f"citypay_session={login.cookie}" + ("; lang=en" if lang == "en" else "")}
    resp = await client.get(path, headers=headers, allow_redirects=False)
    return resp.status, await resp.text()


# Pages and roles ----------------------------------------------------------------------------------------


async def test_the_maker_sees_why_there_is_no_approve_button(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    batch = await seed(conn, keys, execute=False, maker=f"staff:{finance.username}")
    status, html = await page(client, finance, f"/disbursements/batches/{batch}")
    assert status == 200
    assert 'id="approve"' not in html
    assert "Bạn lập bảng kê này nên không thể tự phê duyệt" in html
    assert 'id="cancel"' in html  # the maker may still cancel before execution
    assert "Chờ phê duyệt" in html
    # Control totals the Vietnamese way: 7 ready items worth 19.200.000 ₫, 2 held out.
    assert "7 người · 19.200.000 ₫" in html
    held = re.findall(r'<tr data-reason="([a-z_]+)">', html)
    assert sorted(held) == ["no_account", "unverified"]
    assert "Chưa có tài khoản" in html and "Chưa xác minh" in html
    status, english = await page(client, finance, f"/disbursements/batches/{batch}", lang="en")
    assert "You made this batch, so you cannot approve it" in english and "Awaiting approval" in english


async def test_an_approver_who_made_the_batch_is_refused_too(client, conn, keys, staff_login) -> None:
    approver = await staff_login("approver")
    batch = await seed(conn, keys, execute=False, maker=f"staff:{approver.username}")
    status, html = await page(client, approver, f"/disbursements/batches/{batch}")
    assert status == 200 and 'id="approve"' not in html and "không thể tự phê duyệt" in html
    resp = await client.post(
        f"/disbursements/batches/{batch}/approve",
        data={"csrf_token": approver.csrf},
        headers=approver.headers(),
        allow_redirects=False,
    )
    assert resp.status == 409
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch) == "awaiting_approval"


async def test_another_approver_approves_from_the_page(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    approver = await staff_login("approver")
    batch = await seed(conn, keys, execute=False, maker=f"staff:{finance.username}")
    status, html = await page(client, approver, f"/disbursements/batches/{batch}")
    assert status == 200 and 'id="approve"' in html and 'id="cancel"' not in html
    # The maker's POST is refused by role before anything changes; the approver's goes through.
    resp = await client.post(
        f"/disbursements/batches/{batch}/approve",
        data={"csrf_token": finance.csrf},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 403
    resp = await client.post(
        f"/disbursements/batches/{batch}/approve",
        data={"csrf_token": approver.csrf},
        headers=approver.headers(),
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/disbursements/batches/{batch}?saved=approved"
    row = await conn.fetchrow("SELECT state, checker FROM disb_batches WHERE id = $1", batch)
    assert (row["state"], row["checker"]) == ("approved", f"staff:{approver.username}")
    status, html = await page(client, approver, f"/disbursements/batches/{batch}?saved=approved")
    assert "Đã phê duyệt" in html and 'id="approve"' not in html
    # Without the CSRF token nothing happens either.
    again = await client.post(
        f"/disbursements/batches/{batch}/approve", data={}, headers=approver.headers(), allow_redirects=False
    )
    assert again.status == 403


async def test_build_form_builds_and_lists_the_held_out(client, conn, keys, staff_login) -> None:
    await enrol(conn, keys, SPECS[:9], programme="pension", tag="")
    finance = await staff_login("finance")
    status, html = await page(client, finance, "/disbursements/batches")
    assert status == 200 and 'id="build-submit"' in html
    resp = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": finance.csrf, "programme": "pension", "period": "2026-03"},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    batch = int(location.split("/")[-1].split("?")[0])
    assert location.endswith("?built=1")
    status, html = await page(client, finance, location)
    assert "Đã lập bảng kê số" in html and "2 người bị giữ lại" in html
    assert len(re.findall(r'<tr data-reason="', html)) == 2
    status, listing = await page(client, finance, "/disbursements/batches")
    assert f'id="batch-{batch}"' in listing and "03/2026" in listing
    # The same period again is refused on the form, beside nothing saved.
    again = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": finance.csrf, "programme": "pension", "period": "2026-03"},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert again.status == 409
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 1
    for bad in ({"programme": "lottery", "period": "2026-03"}, {"programme": "pension", "period": "2026-13"}):
        resp = await client.post(
            "/disbursements/batches/build",
            data={"csrf_token": finance.csrf, **bad},
            headers=finance.headers(),
            allow_redirects=False,
        )
        assert resp.status == 422 and 'class="field-error"' in await resp.text()
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 1


async def test_roles(client, conn, keys, staff_login) -> None:
    batch = await seed(conn, keys, execute=False)
    paths = [
        "/disbursements/batches",
        f"/disbursements/batches/{batch}",
        f"/disbursements/batches/{batch}/items.csv",
        f"/disbursements/batches/{batch}/events",
        f"/disbursements/batches/{batch}/pain001.xml",
    ]
    attendant = await staff_login("attendant")
    for path in paths:
        assert (await client.get(path, headers=attendant.headers())).status == 403, path
        anonymous = await client.get(path, allow_redirects=False)
        assert anonymous.status in (303, 401), path  # a page takes a person to the login form
    admin = await staff_login("admin")
    status, html = await page(client, admin, f"/disbursements/batches/{batch}")
    assert status == 200 and 'id="approve"' not in html
    assert "Chỉ người có vai trò phê duyệt" in html
    approver = await staff_login("approver")
    status, html = await page(client, approver, f"/disbursements/batches/{batch}")
    assert 'id="pain001"' not in html  # the payment file is finance's
    resp = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": approver.csrf, "programme": "pension", "period": "2026-05"},
        headers=approver.headers(),
        allow_redirects=False,
    )
    assert resp.status == 403
    resp = await client.post(
        f"/disbursements/batches/{batch}/cancel",
        data={"csrf_token": attendant.csrf},
        headers=attendant.headers(),
        allow_redirects=False,
    )
    assert resp.status == 403
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch) == "awaiting_approval"
    for missing in ("/disbursements/batches/999999", "/disbursements/batches/99999999999999999999"):
        assert (await client.get(missing, headers=admin.headers())).status == 404


async def test_cancel_from_the_page(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    batch = await seed(conn, keys, execute=False, maker=f"staff:{finance.username}")
    resp = await client.post(
        f"/disbursements/batches/{batch}/cancel",
        data={"csrf_token": finance.csrf, "note": "sai kỳ"},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch) == "cancelled"
    _, html = await page(client, finance, f"/disbursements/batches/{batch}?saved=cancelled")
    assert "Đã hủy bảng kê." in html and 'id="cancel"' not in html
    again = await client.post(
        f"/disbursements/batches/{batch}/cancel",
        data={"csrf_token": finance.csrf},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert again.status == 409


# Downloads ----------------------------------------------------------------------------------------------


async def test_pain001_download_is_finance_only_audited_and_valid(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    waiting = await seed(conn, keys, execute=False, tag="w", programme="unemployment")
    resp = await client.get(f"/disbursements/batches/{waiting}/pain001.xml", headers=finance.headers())
    assert resp.status == 409  # not approved: no file goes to a bank
    api_batch = await seed(conn, keys, tag="api", programme="social_assistance")
    resp = await client.get(f"/disbursements/batches/{api_batch}/pain001.xml", headers=finance.headers())
    assert resp.status == 409  # the worker pays it through the API: a file would pay it twice
    assert (await resp.json())["field"] == "channel"
    batch = await seed(conn, keys, channel="file")
    audits = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'disbursements.pain001_downloaded'"
    )
    resp = await client.get(f"/disbursements/batches/{batch}/pain001.xml", headers=finance.headers())
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.content_type == "application/xml"
    body = await resp.read()
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(body)
    assert schema.validate(doc), schema.error_log
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
    # The payable items: everything but the 2 held, whatever their outcome since.
    assert doc.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "7"
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "19200000"
    names = {e.text for e in doc.iterfind(".//p:Cdtr/p:Nm", ns)}
    assert "NGUYEN VAN AN" in names and "DANG THI PHUONG" in names
    after = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'disbursements.pain001_downloaded'"
    )
    assert after == audits + 1
    for role in ("approver", "attendant"):
        who = await staff_login(role)
        assert (
            await client.get(f"/disbursements/batches/{batch}/pain001.xml", headers=who.headers())
        ).status == 403
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'disbursements.pain001_downloaded'"
        )
        == after
    )


async def test_items_csv_is_masked_and_formula_safe(client, conn, keys, staff_login) -> None:
    batch = await seed(conn, keys)
    approver = await staff_login("approver")
    resp = await client.get(f"/disbursements/batches/{batch}/items.csv", headers=approver.headers())
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))
    assert len(rows) == 1 + 9
    cells = [c for r in rows for c in r]
    assert '\'=HYPERLINK("x")' in cells  # the name starting with '=' reaches the sheet as text
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "Nguyễn Văn An" not in body.decode("utf-8")  # names are masked
    by_state = [r[6] for r in rows[1:]]
    assert by_state.count("Đã chi") == 3 and by_state.count("Bị từ chối") == 2
    assert any(r[7] == "AC04" and r[8] == "Tài khoản đã đóng" for r in rows[1:])


# Live progress ------------------------------------------------------------------------------------------


async def read_events(resp, *, until_done: bool, within_s: float = 10.0) -> list[dict]:
    events: list[dict] = []
    name = None
    async with asyncio.timeout(within_s):
        while True:
            line = await resp.content.readline()
            if not line:  # the server ended the stream
                return events
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                name = text[7:]
            elif text.startswith("data: ") and name == "summary":
                events.append(json.loads(text[6:]))
                if not until_done:
                    return events


async def test_the_stream_pushes_progress_and_ends_on_completion(
    client, conn, keys, staff_login, monkeypatch
) -> None:
    monkeypatch.setattr(batch_pages, "POLL_S", 0.05)
    batch = await seed(conn, keys)
    finance = await staff_login("finance")
    _, html = await page(client, finance, f"/disbursements/batches/{batch}")
    assert f'data-events="/disbursements/batches/{batch}/events"' in html
    script = re.search(r'<script src="(/static/disbursements/batch\.js\?v=[0-9a-f]+)"', html)
    assert script, "the page loads its script from a file (the CSP allows no inline script)"
    js = await client.get(script[1])
    assert js.status == 200 and "EventSource" in await js.text()
    resp = await client.get(f"/disbursements/batches/{batch}/events", headers=finance.headers())
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache, no-store"
    first = (await read_events(resp, until_done=False))[0]
    assert first["state"] == "executing" and first["done"] is False
    assert (first["control_count"], first["control_sum"]) == (7, 19_200_000)
    counts = first["counts"]
    assert (counts["paid"], counts["failed"], counts["sent_unknown"], counts["held"], counts["returned"]) == (
        3,
        2,
        1,
        2,
        1,
    )
    assert first["failed_by_reason"] == {"AC04": 1, "MD07": 1}
    assert first["bar"]["paid"] == pytest.approx(100 * 3 / 9, abs=0.01)
    await complete(conn, batch)  # the unknown one turns out paid; the batch completes
    rest = await read_events(resp, until_done=True)
    assert rest, "the change was pushed"
    last = rest[-1]
    assert last["state"] == "completed" and last["done"] is True
    assert last["counts"]["paid"] == 4 and last["counts"]["sent_unknown"] == 0
    # A finished batch's stream sends its one summary and ends at once.
    again = await client.get(f"/disbursements/batches/{batch}/events", headers=finance.headers())
    assert [e["state"] for e in await read_events(again, until_done=True, within_s=3)] == ["completed"]


async def test_a_stream_for_no_batch_is_404(client, staff_login) -> None:
    finance = await staff_login("finance")
    resp = await client.get("/disbursements/batches/424242/events", headers=finance.headers())
    assert resp.status == 404


async def test_an_empty_roster_builds_nothing(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    await enrol(conn, keys, [Spec("Lê Thị Mai", 1_000_000, "paid")], programme="pension", tag="m")
    assert (await build_batch(conn, "pension", "2026-07", maker="staff:x")).control_count == 1
    resp = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": finance.csrf, "programme": "social_insurance", "period": PERIOD},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 422
    assert await conn.fetchval("SELECT count(*) FROM disb_batches WHERE programme = 'social_insurance'") == 0


# Attacks over HTTP ------------------------------------------------------------------------------------


async def test_twenty_identical_builds_and_approvals_at_once_happen_once(
    client, conn, keys, staff_login
) -> None:
    await enrol(conn, keys, SPECS[:9], programme="pension", tag="")
    finance = await staff_login("finance")
    form = {"csrf_token": finance.csrf, "programme": "pension", "period": "2026-04"}
    builds = await asyncio.gather(
        *(
            client.post(
                "/disbursements/batches/build", data=form, headers=finance.headers(), allow_redirects=False
            )
            for _ in range(20)
        )
    )
    statuses = sorted(r.status for r in builds)
    assert statuses.count(303) == 1 and set(statuses) <= {303, 409}, statuses
    batch = await conn.fetchval("SELECT id FROM disb_batches WHERE period = '2026-04'")
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 1
    assert await conn.fetchval("SELECT count(*) FROM disb_items WHERE batch_id = $1", batch) == 9
    approver = await staff_login("approver")
    approvals = await asyncio.gather(
        *(
            client.post(
                f"/disbursements/batches/{batch}/approve",
                data={"csrf_token": approver.csrf},
                headers=approver.headers(),
                allow_redirects=False,
            )
            for _ in range(20)
        )
    )
    statuses = sorted(r.status for r in approvals)
    assert statuses.count(303) == 1 and set(statuses) <= {303, 409}, statuses
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'disb.batch_approved'") == 1
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch) == "approved"


@pytest.mark.parametrize(
    "fields",
    [
        {"programme": "pension", "period": "9999-01"},
        {"programme": "pension", "period": "0001-01"},
        {"programme": "pension", "period": "2026-01\u202e"},
        {"programme": "pension\u200b", "period": "2026-01"},
        {"programme": "pension"},
        {"period": "2026-01"},
    ],
)
async def test_bad_build_forms_change_nothing(client, conn, keys, staff_login, fields) -> None:
    await enrol(conn, keys, SPECS[:2], programme="pension", tag="")
    finance = await staff_login("finance")
    resp = await client.post(
        "/disbursements/batches/build",
        data={"csrf_token": finance.csrf, **fields},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 422, await resp.text()
    assert await conn.fetchval("SELECT count(*) FROM disb_batches") == 0


async def test_a_cancel_note_with_hidden_characters_is_refused(client, conn, keys, staff_login) -> None:
    finance = await staff_login("finance")
    batch = await seed(conn, keys, execute=False, maker=f"staff:{finance.username}")
    resp = await client.post(
        f"/disbursements/batches/{batch}/cancel",
        data={"csrf_token": finance.csrf, "note": "ok\u202egnp.exe"},
        headers=finance.headers(),
        allow_redirects=False,
    )
    assert resp.status == 422 and "Có ký tự ẩn" in await resp.text()
    assert await conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch) == "awaiting_approval"
