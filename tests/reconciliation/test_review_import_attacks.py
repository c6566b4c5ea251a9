"""Attacks on the statement endpoints nobody sent yet: a body in pieces and exactly at the limit, fetch dates
in year 1 / 9999, invisible Unicode in the form fields, a 10^13 đồng CSV amount, and 20 concurrent match
runs of one account. Each answer is a clear 4xx problem (or the import exactly as sent), never a 500, and a
refusal stores nothing."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import FormData

from banksim import statements as sim
from core.appkeys import POOL
from tests.reconciliation.conftest import BANK_ACCOUNT, BANK_BIN, Line, add_statement, new_request, yesterday
from tests.reconciliation.test_import_http import (  # noqa: F401  (fixture)
    ACCOUNT,
    DAY,
    URL,
    at,
    city_account,
    rendered,
    stored,
    upload,
)

WITH_CITY_ACCOUNT = pytest.mark.usefixtures("city_account")
FETCH = "/api/v1/reconciliation/statements/fetch"
MATCH = "/api/v1/reconciliation/match"


@WITH_CITY_ACCOUNT
async def test_a_body_sent_in_pieces_is_read_whole(client, staff_login):
    finance = await staff_login("finance")
    data = rendered("camt053")

    async def pieces():
        for i in range(0, len(data), 700):
            yield data[i : i + 700]

    headers = {**finance.headers(unsafe=True), "Content-Type": "application/xml"}
    resp = await client.post(URL, data=pieces(), headers=headers)
    assert resp.status == 201, await resp.text()
    assert await stored(client.app[POOL]) == (1, 1, 2, 1)


@WITH_CITY_ACCOUNT
async def test_exactly_at_the_limit_is_taken_one_byte_above_is_413(make_app, aiohttp_client, staff_login):
    data = rendered("camt053")
    client = await aiohttp_client(make_app(statement_max_bytes=len(data)))
    finance = await staff_login("finance")
    headers = {**finance.headers(unsafe=True), "Content-Type": "application/xml"}

    async def pieces(body: bytes):
        half = len(body) // 2
        yield body[:half]
        yield body[half:]

    over = await client.post(URL, data=pieces(data + b" "), headers=headers)  # chunked: no Content-Length
    assert over.status == 413 and over.content_type == "application/problem+json"
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)
    at_limit = await client.post(URL, data=pieces(data), headers=headers)
    assert at_limit.status == 201, await at_limit.text()


@WITH_CITY_ACCOUNT
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "", "2026-02-30"])
async def test_fetch_dates_out_of_range_are_422(client, staff_login, day):
    finance = await staff_login("finance")
    resp = await client.post(FETCH, json={"business_date": day}, headers=finance.headers(unsafe=True))
    assert resp.status == 422 and resp.content_type == "application/problem+json", await resp.text()
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


@WITH_CITY_ACCOUNT
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_the_fetch_form_with_an_extreme_date_shows_the_page_with_the_message(client, staff_login, day):
    finance = await staff_login("finance")
    resp = await client.post(
        "/reconciliation/statements/fetch",
        data={"business_date": day, "csrf": finance.csrf},
        headers=finance.headers(unsafe=True),
    )
    assert resp.status in (400, 422) and resp.content_type == "text/html", resp.status
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


@WITH_CITY_ACCOUNT
@pytest.mark.parametrize("field", ["mapping", "account"])
@pytest.mark.parametrize("invisible", ["\u200b", "\u202e", "\ufeff"])
async def test_invisible_unicode_in_mapping_or_account_is_422(client, staff_login, field, invisible):
    finance = await staff_login("finance")
    values = {"mapping": "banksim", "account": ACCOUNT}
    values[field] = values[field][:3] + invisible + values[field][3:]
    form = FormData()
    for name, value in values.items():
        form.add_field(name, value)
    form.add_field("file", rendered("csv"), filename="export.csv", content_type="text/csv")
    resp = await client.post(URL, data=form, headers=finance.headers(unsafe=True))
    problem = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json", problem
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)
    from urllib.parse import quote

    query = f"?{field}={quote(values[field])}"
    raw = await upload(client, finance, rendered("csv"), content_type="text/csv", query=query)
    assert raw.status == 422 and raw.content_type == "application/problem+json"
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)


@WITH_CITY_ACCOUNT
async def test_a_csv_with_a_ten_trillion_dong_amount_is_stored_exactly(client, staff_login):
    finance = await staff_login("finance")
    huge = 10**13
    lines = [sim.Entry("FTHUGE01", huge, at(DAY, 8), "CITYPAY HUGE", None, "A", "970418", "1")]
    resp = await upload(
        client,
        finance,
        rendered("csv", lines=lines),
        content_type="text/csv",
        query=f"?mapping=banksim&account={ACCOUNT}",
    )
    body = await resp.json()
    assert resp.status == 201 and body["new_lines"] == 1, body  # stored exactly: amounts are bigint
    amounts = [r["amount"] for r in await client.app[POOL].fetch("SELECT amount FROM recon_lines")]
    assert amounts == [huge]


async def test_twenty_match_runs_at_once_settle_once_and_add_no_duplicate(
    client, staff_login, keys, catalogue
):
    pool = client.app[POOL]
    day = yesterday()
    async with pool.acquire() as conn:
        pr = await new_request(conn, keys)
        await add_statement(
            conn, keys, day, [Line("H-1", 200_000, pr["reference"]), Line("X-1", 7_000, "NOBODY")]
        )
    finance = await staff_login("finance")
    body = {"bin": BANK_BIN, "account_number": BANK_ACCOUNT, "from": day.isoformat()}
    answers = await asyncio.gather(
        *(client.post(MATCH, json=body, headers=finance.headers(unsafe=True)) for _ in range(20))
    )
    outs = [await a.json() for a in answers]
    assert [a.status for a in answers] == [200] * 20, outs
    assert sum(o["settled"] for o in outs) == 1
    assert await pool.fetchval("SELECT count(*) FROM recon_matches") == 1
    dupes = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM recon_exceptions GROUP BY line_id, kind HAVING count(*) > 1) d"
    )
    assert dupes == 0
    assert await pool.fetchval("SELECT count(*) FROM recon_exceptions") >= 1


@WITH_CITY_ACCOUNT
@pytest.mark.parametrize("name", ["day\u202elmx.exe", "day\u200b.xml", "\ufeffday.xml"])
async def test_a_filename_with_invisible_unicode_in_the_query_is_422(client, staff_login, name):
    """The name is shown on the statements page: a right-to-left override would show another name."""
    from urllib.parse import quote

    finance = await staff_login("finance")
    resp = await upload(client, finance, rendered("camt053"), query=f"?filename={quote(name)}")
    problem = await resp.json()
    assert resp.status == 422 and problem["field"] == "filename", problem
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)
