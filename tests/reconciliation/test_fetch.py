"""The daily statement fetch against a real simulated bank over HTTP: the bank's camt.053 for the city's
collection account is downloaded through the citypay-bank-v1 scheme and imported (source `fetch`); a second
run finds it in; before CITYPAY_STATEMENT_FETCH_AT nothing is fetched; a bank that does not answer makes the
recurring outbox item retry; a scheme without downloads is skipped."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from core.db import connect, create_pool
from core.demo_bank_key import ensure_demo_bank_key
from core.money import LOCAL_TZ
from core.outbox import Item, OutboxWorker
from payments import NotSupported, StatementSource, scheme_named
from payments.demo import load_payments_demo
from reconciliation.fetch import FETCH_STATEMENTS, bank_address, fetch_kind, fetch_statements, schedule_fetch
from tests.banksim.conftest import banksim_db, pay, vietqr  # noqa: F401  (banksim_db is a fixture)

BIN, ACCOUNT = "970436", "0011001234567"


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


@pytest.fixture
async def bank(banksim_db, db_url, settings, keys, aiohttp_server, aiohttp_client):  # noqa: F811
    """The city's demo data (collection account and the simulator's bank profile) and a running simulator."""
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
    finally:
        await conn.close()
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    config = BankSimConfig(signing_key=key, signing_key_id=key_id, worker=False)
    server = await aiohttp_server(create_banksim_app(database_url=banksim_db, config=config))
    sim = await aiohttp_client(server)
    return sim, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def pool(service_db_url):
    pool = await create_pool(service_db_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


async def counts(pool) -> tuple[int, int]:
    return (
        await pool.fetchval("SELECT count(*) FROM recon_statements"),
        await pool.fetchval("SELECT count(*) FROM recon_lines"),
    )


async def test_todays_statement_is_fetched_from_the_simulated_bank_and_imported(bank, pool, keys, settings):
    sim, url = bank
    paid = await pay(sim, vietqr(150_000, "CPFETCHTEST01"))
    settings = replace(settings, banksim_url=url)

    report = await fetch_statements(pool, keys, settings, today())
    assert report.imported == ["970436 ****4567"] and report.new_lines == {"970436 ****4567": 1}
    assert report.failed == []
    line = await pool.fetchrow("SELECT * FROM recon_lines")
    assert line["bank_ref"] == paid["bank_txn_id"] and line["amount"] == 150_000
    assert line["direction"] == "credit" and line["bin"] == BIN and line["account_number"] == ACCOUNT
    assert "CPFETCHTEST01" in line["narrative"]
    file = await pool.fetchrow("SELECT source, imported_by, filename FROM recon_files")
    assert file["source"] == "fetch" and file["imported_by"] == "system:statement-fetch"
    assert file["filename"] == f"vcb-sim-{ACCOUNT}-{today():%Y%m%d}.xml"
    audited = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'recon.statement_imported'")
    assert audited == 1

    again = await fetch_statements(pool, keys, settings, today())
    assert again.imported == [] and again.already_in == ["970436 ****4567"]
    assert await counts(pool) == (1, 1)


async def test_the_recurring_item_waits_for_the_fetch_time_then_takes_yesterday(bank, pool, keys, settings):
    _, url = bank
    settings = replace(settings, banksim_url=url, statement_fetch_at="06:00")
    day = today()
    early = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ) + timedelta(hours=5)
    item = Item(1, FETCH_STATEMENTS, {}, FETCH_STATEMENTS, 1, early, early)

    waiting = await fetch_kind(pool, keys, settings, clock=lambda: early).handler(item)
    assert waiting.result == "again" and waiting.again_s == 3600
    assert await counts(pool) == (0, 0)

    # Through the outbox, as the serving process runs it: after 06:00 yesterday's statement comes in, and
    # the item is due again at tomorrow's fetch time.
    later = early + timedelta(hours=2)
    worker = OutboxWorker(pool, {FETCH_STATEMENTS: fetch_kind(pool, keys, settings, clock=lambda: later)})
    async with pool.acquire() as conn:
        await schedule_fetch(conn)
        await schedule_fetch(conn)  # every process ensures it at start: still one item
    assert await worker.run_due() == 1
    statement = await pool.fetchrow("SELECT from_date, to_date, line_count FROM recon_statements")
    assert statement["from_date"] == statement["to_date"] == day - timedelta(days=1)
    row = await pool.fetchrow(
        "SELECT state, attempts, last_error, next_attempt_at - now() AS wait FROM outbox WHERE kind = $1",
        FETCH_STATEMENTS,
    )
    assert row["state"] == "pending" and row["last_error"] is None
    assert timedelta(hours=22) < row["wait"] <= timedelta(hours=23, seconds=1)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = $1", FETCH_STATEMENTS) == 1


async def test_a_bank_that_does_not_answer_is_retried_with_nothing_stored(
    bank, pool, keys, settings, unused_tcp_port
):
    settings = replace(settings, banksim_url=f"http://127.0.0.1:{unused_tcp_port}")
    report = await fetch_statements(pool, keys, settings, today())
    assert (
        report.imported == [] and len(report.failed) == 1 and report.failed[0].startswith("970436 ****4567")
    )
    noon = datetime.combine(today(), datetime.min.time(), tzinfo=LOCAL_TZ) + timedelta(hours=12)
    item = Item(1, FETCH_STATEMENTS, {}, FETCH_STATEMENTS, 1, noon, noon)
    outcome = await fetch_kind(pool, keys, settings, clock=lambda: noon).handler(item)
    assert outcome.result == "retry" and "970436 ****4567" in (outcome.error or "")
    assert await counts(pool) == (0, 0)


async def test_without_a_bank_address_or_a_download_nothing_is_fetched(bank, pool, keys, settings):
    report = await fetch_statements(pool, keys, replace(settings, banksim_url=None), today())
    assert report.not_offered == ["970436 ****4567"] and await counts(pool) == (0, 0)
    gateway = StatementSource(BIN, ACCOUNT, "vnpay-x", "vnpay")
    assert bank_address(replace(settings, banksim_url="http://127.0.0.1:1"), gateway) is None
    with pytest.raises(NotSupported):
        await scheme_named("vnpay").download_statement(
            None, ACCOUNT, today(), base_url="http://127.0.0.1:1", max_bytes=1000
        )


async def test_finance_fetches_a_past_day_now_by_api_and_on_the_page(
    bank, make_app, aiohttp_client, staff_login, pool
):
    _, url = bank
    # The app's own daily fetch waits for 23:59; whichever runs first, the day comes in once.
    client = await aiohttp_client(make_app(banksim_url=url, statement_fetch_at="23:59"))
    finance = await staff_login("finance")
    yesterday = (today() - timedelta(days=1)).isoformat()
    api = "/api/v1/reconciliation/statements/fetch"

    not_over = await client.post(
        api, json={"business_date": today().isoformat()}, headers=finance.headers(unsafe=True)
    )
    assert not_over.status == 422 and (await not_over.json())["field"] == "business_date"
    assert await counts(pool) == (0, 0)
    attendant = await staff_login("attendant")
    denied = await client.post(api, json={"business_date": yesterday}, headers=attendant.headers(unsafe=True))
    assert denied.status == 403

    done = await client.post(api, json={"business_date": yesterday}, headers=finance.headers(unsafe=True))
    body = await done.json()
    assert done.status == 200 and body["failed"] == [] and body["not_offered"] == []
    assert [x.split(":")[0] for x in body["imported"] + body["already_in"]] == ["970436 ****4567"]
    assert (await counts(pool))[0] == 1

    refused = await client.post(
        "/reconciliation/statements/fetch",
        data={"csrf_token": finance.csrf, "business_date": today().strftime("%d/%m/%Y")},
        headers=finance.headers(),
    )
    html = await refused.text()
    assert refused.status == 422 and 'id="err-business_date"' in html and "chưa kết thúc" in html
    page = await client.post(
        "/reconciliation/statements/fetch",
        data={"csrf_token": finance.csrf, "business_date": yesterday},
        headers=finance.headers(),
    )
    html = await page.text()
    assert page.status == 200 and 'id="fetch-report"' in html and "Đã có: 970436 ****4567" in html
    assert (await counts(pool))[0] == 1
