"""Statements in, as finance does it: files the simulated bank renders, uploaded over HTTP (raw body and the
page's multipart form) and imported from the command line; and every refusal — unbalanced, repeated, unknown
account, too large, wrong role, an XML external entity — with nothing stored. Overlapping statements and the
same day in another format add no line twice; a sequence gap is reported; 20 identical uploads at once make
exactly one import."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import FormData

from banksim import statements as sim
from core.appkeys import POOL
from core.db import connect
from core.keys import keys_as_env
from core.money import LOCAL_TZ
from core.pii import decrypt_pii
from reconciliation.importer import NARRATIVE_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
BIN, ACCOUNT = "970436", "0011001234567"
DAY = date(2026, 3, 2)  # day 61 of the year: camt ElctrncSeqNb and MT940 :28C: are the day of the year
URL = "/api/v1/reconciliation/statements"


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ)


def entries(day: date = DAY, *, prefix: str = "FT") -> list[sim.Entry]:
    return [
        sim.Entry(
            f"{prefix}{day:%m%d}01",
            200_000,
            at(day, 8),
            "CITYPAY CPAAAAAAAAAA1 NGUYEN VAN AN 0912 345 678",
            "E2E-1",
            "Nguyễn Văn An",
            "970418",
            "21510001234567",
        ),
        sim.Entry(
            f"{prefix}{day:%m%d}02",
            -60_000,
            at(day, 9),
            "HOAN TIEN",
            None,
            "Trần Thị Bình",
            "970418",
            "0011000567890",
        ),
    ]


def rendered(
    fmt: str = "camt053",
    *,
    day: date = DAY,
    opening: int = 10_000_000,
    lines: list[sim.Entry] | None = None,
    closing_off_by: int = 0,
    account: str = ACCOUNT,
) -> bytes:
    lines = entries(day) if lines is None else lines
    statement = sim.Statement(
        bin=BIN,
        account=account,
        holder_name="KHO BAC NHA NUOC HA NOI",
        day=day,
        opening=opening,
        closing=opening + sum(e.amount for e in lines) + closing_off_by,
        entries=lines,
        created_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
    return sim.render(statement, fmt).encode()


@pytest.fixture
async def city_account(db_url):
    conn = await connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO collection_accounts (code, bin, account_number, holder_name) "
            "VALUES ('city-main', $1, $2, 'KHO BAC NHA NUOC HA NOI')",
            BIN,
            ACCOUNT,
        )
    finally:
        await conn.close()


async def stored(pool) -> tuple[int, int, int, int]:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM recon_files) AS files, (SELECT count(*) FROM recon_statements) AS st,
                  (SELECT count(*) FROM recon_lines) AS lines,
                  (SELECT count(*) FROM audit_log WHERE action = 'recon.statement_imported') AS audits"""
    )
    return row["files"], row["st"], row["lines"], row["audits"]


async def upload(client, login, data: bytes, content_type: str = "application/xml", query: str = ""):
    headers = {**login.headers(unsafe=True), "Content-Type": content_type}
    return await client.post(URL + query, data=data, headers=headers)


async def test_a_banksim_statement_uploaded_is_stored_redacted_encrypted_and_audited(
    client, staff_login, city_account, keys
):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    resp = await upload(client, finance, rendered("camt053"), query="?filename=day.xml")
    body = await resp.json()
    assert resp.status == 201, body
    [statement] = body["statements"]
    assert statement["bin"] == BIN and statement["account_number"] == ACCOUNT
    assert statement["lines"] == 2 and statement["new_lines"] == 2 and statement["duplicate_lines"] == 0
    assert statement["opening_balance"] == 10_000_000 and statement["closing_balance"] == 10_140_000
    assert statement["sequence"] == 61 and statement["sequence_gap"] is None
    assert body["format"].startswith("camt.053") and body["filename"] == "day.xml"
    assert await stored(pool) == (1, 1, 2, 1)

    line = await pool.fetchrow("SELECT * FROM recon_lines WHERE direction = 'credit'")
    assert line["bank_ref"] == f"FT{DAY:%m%d}01" and line["amount"] == 200_000
    assert line["end_to_end_id"] == "E2E-1" and line["booking_date"] == DAY
    assert "0912 345 678" not in line["narrative"] and "678" in line["narrative"]
    assert "CPAAAAAAAAAA1" in line["narrative"]  # the payment reference stays for matching
    assert decrypt_pii(keys, line["narrative_encrypted"], context=NARRATIVE_CONTEXT).endswith("0912 345 678")
    assert line["counterparty_account"] == "****4567"
    debit = await pool.fetchrow("SELECT * FROM recon_lines WHERE direction = 'debit'")
    assert debit["amount"] == 60_000

    listing = await (await client.get(URL, headers=finance.headers())).json()
    assert [s["statement_ref"] for s in listing["statements"]] == [statement["statement_ref"]]
    detail = await client.get(f"{URL}/{statement['id']}", headers=finance.headers())
    detail_body = await detail.json()
    assert detail.status == 200 and detail_body["lines_by_state"]["unmatched"] == 2
    # Matching runs right after the import: neither line has a booked credit or a ledger entry here.
    assert detail_body["open_exceptions"] == 2
    assert (await client.get(f"{URL}/999999", headers=finance.headers())).status == 404


async def test_the_page_lists_statements_and_uploads_with_its_script(client, staff_login, city_account):
    finance = await staff_login("finance")
    form = FormData()
    form.add_field("file", rendered("mt940"), filename="day.sta", content_type="application/octet-stream")
    resp = await client.post(URL, data=form, headers=finance.headers(unsafe=True))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["filename"] == "day.sta"
    page = await client.get("/reconciliation/statements", headers=finance.headers())
    html = await page.text()
    assert page.status == 200 and "Sao kê ngân hàng" in html
    assert ACCOUNT in html and "10.140.000 ₫" in html and "02/03/2026" in html
    assert "/static/reconciliation/upload.js" in html and 'id="upload-data"' in html
    assert "/static/core/upload.js" in html  # the shared sender the page's script hands its form to
    script = await client.get("/static/core/upload.js")
    assert script.status == 200 and "xhr.upload" in await script.text()


async def test_an_unbalanced_statement_is_refused_naming_the_difference(client, staff_login, city_account):
    finance = await staff_login("finance")
    resp = await upload(client, finance, rendered("camt053", closing_off_by=-1_500))
    problem = await resp.json()
    assert resp.status == 422 and problem["field"] == "closing_balance"
    assert "-1500 đồng" in problem["detail"] and problem["difference"] == -1_500
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_the_same_file_twice_is_a_conflict_naming_the_first_import(client, staff_login, city_account):
    finance = await staff_login("finance")
    data = rendered("camt053")
    first = await upload(client, finance, data)
    assert first.status == 201
    file_id = (await first.json())["file_id"]
    again = await upload(client, finance, data)
    problem = await again.json()
    assert again.status == 409 and f"import #{file_id}" in problem["detail"]
    assert problem["file_id"] == file_id
    assert await stored(client.app[POOL]) == (1, 1, 2, 1)


async def test_overlapping_statements_and_other_formats_add_no_line_twice(client, staff_login, city_account):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    assert (await upload(client, finance, rendered("camt053"))).status == 201
    # The same day as MT940 (another statement id): both lines are already known.
    mt940 = await upload(client, finance, rendered("mt940"), content_type="text/plain")
    body = await mt940.json()
    assert mt940.status == 201 and body["new_lines"] == 0 and body["duplicate_lines"] == 2
    # And as the CSV export (which does not print the account).
    csv = await upload(client, finance, rendered("csv"), content_type="text/csv", query=f"?account={ACCOUNT}")
    assert csv.status == 201 and (await csv.json())["duplicate_lines"] == 2
    # A two-day statement overlapping the first day: only the second day's lines are new.
    both = entries(DAY) + entries(DAY + timedelta(days=1))
    overlap = rendered("mt940", lines=both).replace(b":20:STMT", b":20:WEEK")
    resp = await upload(client, finance, overlap, content_type="text/plain")
    body = await resp.json()
    assert resp.status == 201 and body["new_lines"] == 2 and body["duplicate_lines"] == 2
    files, statements, lines, _ = await stored(pool)
    assert (files, statements, lines) == (4, 4, 4)
    assert await pool.fetchval("SELECT count(DISTINCT bank_ref) FROM recon_lines") == 4


async def test_a_statement_fetched_again_is_not_imported_twice(client, staff_login, city_account):
    """The bank renders the same statement again with another creation time: other bytes, same statement."""
    finance = await staff_login("finance")
    first = rendered("camt053")
    assert (await upload(client, finance, first)).status == 201
    second = first.replace(b"<CreDtTm>", b"<CreDtTm>", 1).replace(b"T00:00:00", b"T00:00:07")
    assert second != first
    again = await upload(client, finance, second)
    assert again.status == 409 and "imported before" in (await again.json())["detail"]
    assert await stored(client.app[POOL]) == (1, 1, 2, 1)


async def test_a_sequence_gap_is_reported_not_refused(client, staff_login, city_account):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    assert (await upload(client, finance, rendered("camt053", day=DAY))).status == 201
    next_day = await upload(client, finance, rendered("camt053", day=DAY + timedelta(days=1)))
    assert next_day.status == 201 and (await next_day.json())["sequence_gaps"] == []
    skipped = DAY + timedelta(days=3)  # day 64 after day 62: 63 is missing
    resp = await upload(client, finance, rendered("camt053", day=skipped))
    body = await resp.json()
    assert resp.status == 201 and body["statements"][0]["sequence_gap"].startswith("expected 63, got 64")
    assert body["sequence_gaps"] == ["****4567: " + body["statements"][0]["sequence_gap"]]
    gap = await pool.fetchval("SELECT sequence_gap FROM recon_statements WHERE to_date = $1", skipped)
    assert gap.startswith("expected 63, got 64")
    page = await (await client.get("/reconciliation/statements", headers=finance.headers())).text()
    assert "expected 63, got 64" in page


async def test_an_account_that_is_not_the_citys_is_refused(client, staff_login, city_account):
    finance = await staff_login("finance")
    resp = await upload(client, finance, rendered("camt053", account="9999888877776666"))
    problem = await resp.json()
    assert resp.status == 422 and problem["field"] == "account" and "****6666" in problem["detail"]
    assert "9999888877776666" not in problem["detail"]
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_above_the_statement_limit_is_413_with_nothing_stored(
    make_app, aiohttp_client, staff_login, city_account
):
    client = await aiohttp_client(make_app(statement_max_bytes=1_000))
    finance = await staff_login("finance")
    data = rendered("camt053")
    assert len(data) > 1_000
    raw = await upload(client, finance, data)
    assert raw.status == 413 and (await raw.json())["field"] == "file"
    form = FormData()
    form.add_field("file", data, filename="day.xml", content_type="application/xml")
    multipart = await client.post(URL, data=form, headers=finance.headers(unsafe=True))
    assert multipart.status == 413
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_statements_larger_than_the_ordinary_body_limit_are_taken(client, staff_login, city_account):
    """CITYPAY_MAX_BODY_BYTES (64 KiB) bounds JSON bodies; a statement has its own, larger limit."""
    finance = await staff_login("finance")
    many = [
        sim.Entry(
            f"FT{i:08d}", 1_000 + i, at(DAY, 10), "CITYPAY thanh toan " + "x" * 100, None, "A", "970418", "1"
        )
        for i in range(400)
    ]
    data = rendered("camt053", lines=many)
    assert len(data) > 64 * 1024
    resp = await upload(client, finance, data)
    assert resp.status == 201 and (await resp.json())["new_lines"] == 400


async def test_other_roles_may_not_import(client, staff_login, city_account):
    other = await staff_login("attendant")
    resp = await upload(client, other, rendered("camt053"))
    assert resp.status == 403
    page = await client.get("/reconciliation/statements", headers=other.headers())
    assert page.status == 403
    anonymous = await client.post(URL, data=rendered("camt053"), headers={"Content-Type": "application/xml"})
    assert anonymous.status == 401
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<Id>&xxe;</Id></Stmt></BkToCstmrStmt></Document>"""


@pytest.mark.parametrize(
    "data, content_type",
    [
        (XXE, "application/xml"),
        (b"", "application/xml"),
        (b"\x00\x01garbage", "application/octet-stream"),
        (b"not,a,statement\n1,2,3\n", "text/csv"),
    ],
)
async def test_unreadable_files_are_422_with_nothing_stored(
    client, staff_login, city_account, data, content_type
):
    finance = await staff_login("finance")
    resp = await upload(client, finance, data, content_type=content_type)
    problem = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json", problem
    assert "root:" not in problem.get("detail", "")  # nothing of /etc/passwd
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_other_content_types_are_415(client, staff_login, city_account):
    finance = await staff_login("finance")
    resp = await upload(client, finance, b'{"a": 1}', content_type="application/json")
    assert resp.status == 415
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_twenty_identical_uploads_at_once_make_one_import(client, staff_login, city_account):
    finance = await staff_login("finance")
    data = rendered("camt053")
    answers = await asyncio.gather(*(upload(client, finance, data) for _ in range(20)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [409] * 19
    assert await stored(client.app[POOL]) == (1, 1, 2, 1)


def run_cli(db_url, keys, tmp_path, *args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) — read as bytes, so the bar's carriage returns stay visible."""
    env = {
        "DATABASE_URL": db_url,
        "CITYPAY_VAR_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        **keys_as_env(keys),
    }
    done = subprocess.run(
        [sys.executable, "main.py", "import-statement", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_import_from_the_command_line_with_a_progress_bar(db_url, keys, tmp_path, city_account):
    path = tmp_path / "day.sta"
    path.write_bytes(rendered("mt940"))
    status, out, err = await asyncio.to_thread(run_cli, db_url, keys, tmp_path, str(path))
    assert status == 0, err
    assert "\r[" in err and "] 100 %" in err and "[##############################] 100 %" in err
    assert "2 new line(s)" in out
    status, out, err = await asyncio.to_thread(run_cli, db_url, keys, tmp_path, str(path))
    assert status == 1 and "imported before" in err
    unbalanced = tmp_path / "bad.xml"
    unbalanced.write_bytes(rendered("camt053", day=DAY + timedelta(days=1), closing_off_by=7))
    status, out, err = await asyncio.to_thread(run_cli, db_url, keys, tmp_path, str(unbalanced))
    assert status == 1 and "difference of 7 đồng" in err
    status, out, err = await asyncio.to_thread(run_cli, db_url, keys, tmp_path, str(tmp_path / "nope.xml"))
    assert status == 1 and "cannot read" in err
    conn = await connect(db_url)
    try:
        row = await conn.fetchrow("SELECT source, imported_by FROM recon_files")
        lines = await conn.fetchval("SELECT count(*) FROM recon_lines")
    finally:
        await conn.close()
    assert row["source"] == "cli" and row["imported_by"].startswith("cli:") and lines == 2


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"no parts at all", "multipart/form-data; boundary=XyZ"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            "multipart/form-data; boundary=XyZ",
        ),
        (b"--XyZ--\r\n", "multipart/form-data; boundary=XyZ"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--XyZ--\r\n',
            "multipart/form-data; boundary=XyZ",
        ),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="mapping"\r\n\r\nNOT A NAME!\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            b"a,b,c\r\n--XyZ--\r\n",
            "multipart/form-data; boundary=XyZ",
        ),
        (b"abc", "multipart/form-data"),
    ],
)
async def test_broken_multipart_uploads_are_refused_not_500(
    client, staff_login, city_account, body, content_type
):
    finance = await staff_login("finance")
    resp = await upload(client, finance, body, content_type=content_type)
    assert 400 <= resp.status < 500 and resp.content_type == "application/problem+json", await resp.text()
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


async def test_a_csv_export_uploaded_with_its_mapping_and_account_as_form_fields(
    client, staff_login, city_account
):
    finance = await staff_login("finance")
    form = FormData()
    form.add_field("mapping", "banksim")
    form.add_field("account", ACCOUNT)
    form.add_field("file", rendered("csv"), filename="export.csv", content_type="text/csv")
    resp = await client.post(URL, data=form, headers=finance.headers(unsafe=True))
    body = await resp.json()
    assert resp.status == 201, body
    assert body["format"] == "csv:banksim" and body["new_lines"] == 2 and body["filename"] == "export.csv"
