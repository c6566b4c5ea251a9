"""CSV import over HTTP: good rows in, bad rows reported by line, field and message and handed back as a CSV
to fix; the same file again changes nothing ("unchanged", not errors); the fixed rows go in; limits (413,
415, 422) store nothing."""

from __future__ import annotations

import csv
import io
import re

import pytest
from aiohttp import FormData

from core.appkeys import POOL

IMPORT = "/api/v1/disbursements/beneficiaries/import"
HEADER = "national_id,full_name,birth_date,programme,monthly_amount,bank_bin,account_number\n"
GOOD = [
    "001055001234,Nguyễn Văn An,1955-03-02,pension,3500000,970436,0011000456789",
    "079160004321,Trần Thị Bích Ngọc,09/01/1960,pension,,970436,0011000567890",
]
BAD = [
    "003055009999,Lê Văn Bé,1955-01-01,pension,3500000,970436,0011000111111",  # 003: no province
    "001060001111,Phạm Thị Hoa,1960-01-01,pension,3tr5,970436,0011000222222",  # amount
    '001060002222,=HYPERLINK("http://x"),1960-01-01,pension,100000,970436,0011000333333',  # name
    "001060003333,Đỗ Văn Cường,1960-13-01,pension,100000,970436,0011000444444",  # date
    "001060004444,Vũ Thị Dung,1960-01-01,lottery,100000,970436,0011000555555",  # programme
]


def csv_body(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


async def upload(client, login, data, content_type: str = "text/csv"):
    return await client.post(
        IMPORT, data=data, headers={**login.headers(unsafe=True), "Content-Type": content_type}
    )


async def counts(pool) -> tuple[int, int, int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM disb_beneficiaries"),
        await pool.fetchval("SELECT count(*) FROM disb_enrolments"),
        await pool.fetchval("SELECT count(*) FROM disb_accounts"),
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'disbursements.%'"),
    )


async def test_good_rows_in_bad_rows_reported_and_returned_as_csv(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    resp = await upload(client, finance, csv_body(GOOD[0], BAD[0], BAD[1], GOOD[1], BAD[2], BAD[3], BAD[4]))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    out = await resp.json()
    assert (out["rows"], out["created"], out["unchanged"], out["failed"]) == (7, 2, 0, 5)
    by_line = {(e["line"], e["field"]) for e in out["errors"]}
    assert by_line == {
        (3, "national_id"),
        (4, "monthly_amount"),
        (6, "full_name"),
        (7, "birth_date"),
        (8, "programmes"),
    }
    assert all(e["message"] for e in out["errors"])
    assert await counts(pool) == (2, 2, 2, 2)
    amounts = await pool.fetch("SELECT monthly_amount FROM disb_enrolments ORDER BY monthly_amount")
    assert [r[0] for r in amounts] == [3_500_000, 3_500_000]  # the second row took the pension default

    failed = out["failed_csv"]
    assert failed.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(failed.lstrip("\ufeff"))))
    assert rows[0] == [
        "national_id",
        "full_name",
        "birth_date",
        "programme",
        "monthly_amount",
        "bank_bin",
        "account_number",
        "line",
        "error",
    ]
    assert [r[-2] for r in rows[1:]] == ["3", "4", "6", "7", "8"]
    assert rows[1][0] == "003055009999" and "national_id" in rows[1][-1]
    assert rows[3][1].startswith("'=")  # a formula in a cell is shown as text, never run
    assert all(r[-1] for r in rows[1:])


async def test_the_same_file_again_changes_nothing_and_fixed_rows_go_in(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    data = csv_body(GOOD[0], BAD[0], GOOD[1])
    first = await (await upload(client, finance, data)).json()
    assert (first["created"], first["failed"]) == (2, 1)
    before = await counts(pool)
    again = await (await upload(client, finance, data)).json()
    assert (again["created"], again["unchanged"], again["failed"]) == (0, 2, 1)
    assert await counts(pool) == before  # no row, no audit entry
    fixed = await (
        await upload(client, finance, csv_body(BAD[0].replace("003055009999", "001055009999")))
    ).json()
    assert (fixed["created"], fixed["failed"], fixed["failed_csv"]) == (1, 0, None)
    # the same person in another programme: enrolled; with another amount in the same one: an error
    more = await (
        await upload(
            client,
            finance,
            csv_body(
                "001055001234,Nguyễn Văn An,1955-03-02,social_assistance,,970436,0011000456789",
                "001055001234,Nguyễn Văn An,1955-03-02,pension,9999999,970436,0011000456789",
            ),
        )
    ).json()
    assert (more["enrolled"], more["failed"]) == (1, 1)
    assert more["errors"][0]["line"] == 3 and more["errors"][0]["field"] == "monthly_amount"


async def test_semicolons_vietnamese_headers_bom_and_grouped_amounts(client, staff_login):
    finance = await staff_login("finance")
    text = (
        "\ufeffso_cccd;ho_ten;ngay_sinh;chuong_trinh;so_tien;ma_ngan_hang;so_tai_khoan\r\n"
        "001055001234;Nguyễn Văn An;02/03/1955;pension;3.500.000;970436;0011 0004 56789\r\n"
        "\r\n"
        '"079160004321";"Trần Thị Bích Ngọc";1960-01-09;unemployment;"3,000,000";970436;0011000567890\r\n'
    )
    out = await (await upload(client, finance, text.encode())).json()
    assert (out["created"], out["failed"]) == (2, 0), out["errors"]
    amounts = await client.app[POOL].fetch("SELECT monthly_amount FROM disb_enrolments ORDER BY programme")
    assert [r[0] for r in amounts] == [3_500_000, 3_000_000]


async def test_multipart_upload_from_the_page(client, staff_login):
    finance = await staff_login("finance")
    form = FormData()
    form.add_field("file", csv_body(GOOD[0]), filename="ds.csv", content_type="text/csv")
    resp = await client.post(IMPORT, data=form, headers=finance.headers(unsafe=True))
    assert resp.status == 200
    assert (await resp.json())["created"] == 1


async def test_refusals_store_nothing(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    before = await counts(pool)
    too_big = csv_body(*GOOD) + b"#" * (5 * 1024 * 1024)
    resp = await upload(client, finance, io.BytesIO(too_big))
    assert resp.status == 413 and resp.content_type == "application/problem+json"

    # without a Content-Length (chunked): the reader stops at the limit
    async def chunks():
        yield csv_body(*GOOD)
        for _ in range(90):
            yield b"#" * (64 * 1024)

    chunked = await client.post(
        IMPORT, data=chunks(), headers={**finance.headers(unsafe=True), "Content-Type": "text/csv"}
    )
    assert chunked.status == 413
    assert (await upload(client, finance, csv_body(*GOOD), "application/json")).status == 415
    assert (await upload(client, finance, b"name,amount\nAn,5\n")).status == 422  # no expected header
    assert (await upload(client, finance, csv_body(*GOOD).decode().encode("utf-16"))).status == 422
    assert (await upload(client, finance, b"")).status == 422
    assert (await upload(client, finance, HEADER.encode() + b'"unterminated,\n')).status in (200, 422)
    approver = await staff_login("approver")
    assert (await upload(client, approver, csv_body(*GOOD))).status == 403
    assert (
        await client.post(IMPORT, data=csv_body(*GOOD), headers={"Content-Type": "text/csv"})
    ).status == 401
    assert await counts(pool) == before


async def test_a_row_with_more_cells_than_the_header_is_refused(client, staff_login):
    finance = await staff_login("finance")
    out = await (await upload(client, finance, csv_body(GOOD[0] + ",extra"))).json()
    assert out["failed"] == 1 and out["errors"][0]["field"] == "row"


async def test_nothing_personal_in_the_log_output(client, staff_login, capsys):
    from core.logging import configure_logging

    configure_logging("json")
    finance = await staff_login("finance")
    await upload(client, finance, csv_body(*GOOD, *BAD))
    await upload(client, finance, csv_body(*GOOD))
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert re.search(r'"path": ?"/api/v1/disbursements/beneficiaries/import"', text)  # the request was logged
    for secret in (
        "001055001234",
        "079160004321",
        "0011000456789",
        "0011000567890",
        "Nguyễn",
        "Trần",
        "Ngọc",
    ):
        assert secret not in text


async def test_rows_paying_an_unknown_bank_or_an_account_taken_are_reported_not_imported(client, staff_login):
    finance = await staff_login("finance")
    pool = client.app[POOL]
    resp = await upload(
        client,
        finance,
        csv_body(
            GOOD[0],
            "001060005555,Lý Thị Mai,1960-01-01,pension,100000,999999,0011000666666",  # no such bank
            "001055001235,Nguyễn Văn An,1955-03-02,pension,3500000,970436,0011000456789",  # GOOD[0]'s account
        ),
    )
    out = await resp.json()
    assert resp.status == 200 and (out["created"], out["failed"]) == (1, 2), out
    assert {(e["line"], e["field"]) for e in out["errors"]} == {(3, "bank_bin"), (4, "account_number")}
    assert all(e["message"] for e in out["errors"])
    assert await counts(pool) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("national_id,full_name\n001055001234,An\n".encode("utf-16"), "không phải văn bản UTF-8"),
        (b"national_id,full_name\n001055001234,An\n", "thiếu cột birth_date, programme"),
        (b"", "Tệp trống"),
        (HEADER.encode() + b'001055001234,"An,1955-03-02,pension,1,970436,1\n', "không đọc được như CSV"),
    ],
    ids=["utf-16", "columns", "empty", "open-quote"],
)
async def test_a_file_refused_whole_says_why_in_the_page_language(client, staff_login, data, said):
    """The import page shows the answer's `message`: it was the bare title "Dữ liệu không hợp lệ"."""
    finance = await staff_login("finance")
    resp = await upload(client, finance, data)
    assert resp.status in (400, 422)
    problem = await resp.json()
    assert said in problem["message"], problem
    assert await counts(client.app[POOL]) == (0, 0, 0, 0)
