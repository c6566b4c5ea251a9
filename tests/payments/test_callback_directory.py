"""The bank profiles, keys and collection accounts a callback is checked against come from a per-process cache
(payments/callback_directory.py). A change — through the API, by hand in SQL, or in another server process —
reaches every process at its COMMIT (the NOTIFY triggers of migration 0026): a retired key is refused at once,
and a process that cannot hear changes reads the tables for every callback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import payments.callback_directory
from core.appkeys import POOL
from core.demo_bank_key import DEMO_BANK_CODE
from payments.callback_directory import CALLBACK_DIRECTORY
from tests.listeners import cut_listener, run_in_another_process
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN
from tests.payments.test_callbacks import URL, new_request, signed, v1_body

pytestmark = pytest.mark.usefixtures("catalogue")
ROOT = Path(__file__).resolve().parents[2]


async def listening_app(make_app, aiohttp_client):
    client = await aiohttp_client(make_app(background=False))
    cache = client.app[CALLBACK_DIRECTORY]
    await asyncio.wait_for(cache.ready.wait(), 10)
    return client, cache


async def callback(client, db_url, keys, bank_key, txn: str) -> int:
    pr = await new_request(db_url, keys)
    body = v1_body(pr["reference"], txn=txn)
    return (await client.post(URL, data=body, headers=signed(bank_key, body))).status


async def status_within(client, db_url, keys, bank_key, status: int, timeout_s: float) -> float:
    """Seconds until a callback answers `status` (fails after `timeout_s`); each try is a new transaction."""
    started = time.monotonic()
    n = 0
    while True:
        n += 1
        got = await callback(client, db_url, keys, bank_key, f"FT-WAIT-{status}-{n}")
        if got == status:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"still {got} after {timeout_s} s"
        await asyncio.sleep(0.02)


async def test_many_callbacks_read_the_tables_once(make_app, aiohttp_client, db_url, keys, bank_key):
    client, cache = await listening_app(make_app, aiohttp_client)
    reads = cache.reads
    statuses = [await callback(client, db_url, keys, bank_key, f"FT-DIR-{i}") for i in range(5)]
    statuses += await asyncio.gather(
        *(callback(client, db_url, keys, bank_key, f"FT-DIR-AT-ONCE-{i}") for i in range(10))
    )
    assert statuses == [200] * 15
    assert cache.reads - reads == 1  # one read served all fifteen (the ten at once shared it)
    assert cache.cached() is not None and cache.cached().holds(BANK_BIN, BANK_ACCOUNT)


async def test_a_key_retired_by_hand_in_sql_is_refused_at_the_next_callback(
    make_app, aiohttp_client, db_url, keys, bank_key, conn, monkeypatch
):
    monkeypatch.setattr(payments.callback_directory, "DIRECTORY_CACHE_S", 600.0)  # only the trigger ends it
    client, cache = await listening_app(make_app, aiohttp_client)
    assert await callback(client, db_url, keys, bank_key, "FT-SQL-1") == 200
    assert cache.cached() is not None
    heard = cache.notifications
    await conn.execute(
        "UPDATE bank_keys SET retired_at = now() WHERE bank_code = $1 AND key_id = $2",
        DEMO_BANK_CODE,
        bank_key[0],
    )
    assert await status_within(client, db_url, keys, bank_key, 401, timeout_s=5) < 1.0
    assert cache.notifications > heard  # the trigger's notification, not the cache's age, ended the copy
    pool = client.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM callback_inbox WHERE bank_txn_id LIKE 'FT-WAIT-%'") == 0


RETIRE = """
import asyncio, sys
from pathlib import Path
from core.audit import use_audit_key
from core.db import connect
from core.keys import load_keys
from payments.bank_profiles import retire_bank_key

async def main():
    use_audit_key(load_keys(embedded=False, var_dir=Path(sys.argv[2])).audit_key)
    conn = await connect(sys.argv[1])
    try:
        await retire_bank_key(conn, sys.argv[3], sys.argv[4], actor="staff:other-process")
    finally:
        await conn.close()

asyncio.run(main())
"""


async def test_a_key_retired_through_another_process_is_refused_by_this_one(
    make_app, aiohttp_client, db_url, keys, bank_key, service_db_url, tmp_path, monkeypatch
):
    monkeypatch.setattr(payments.callback_directory, "DIRECTORY_CACHE_S", 600.0)
    client, cache = await listening_app(make_app, aiohttp_client)
    assert await callback(client, db_url, keys, bank_key, "FT-TWO-0") == 200
    assert cache.cached() is not None
    run_in_another_process(RETIRE, service_db_url, str(tmp_path), DEMO_BANK_CODE, bank_key[0], keys=keys)
    assert await status_within(client, db_url, keys, bank_key, 401, timeout_s=5) < 1.0


async def test_an_account_removed_by_hand_is_no_longer_credited(
    make_app, aiohttp_client, db_url, keys, bank_key, conn, monkeypatch
):
    monkeypatch.setattr(payments.callback_directory, "DIRECTORY_CACHE_S", 600.0)
    client, cache = await listening_app(make_app, aiohttp_client)
    assert await callback(client, db_url, keys, bank_key, "FT-ACC-1") == 200
    assert cache.cached().holds(BANK_BIN, BANK_ACCOUNT)
    # Renumbered, as when the bank moves the account: the old number is no longer the city's.
    await conn.execute(
        "UPDATE collection_accounts SET account_number = account_number || '9' "
        "WHERE bin = $1 AND account_number = $2",
        BANK_BIN,
        BANK_ACCOUNT,
    )
    await status_within(client, db_url, keys, bank_key, 422, timeout_s=5)
    assert cache.cached() is None or not cache.cached().holds(BANK_BIN, BANK_ACCOUNT)


async def test_a_process_that_cannot_hear_changes_reads_the_tables_every_time(
    make_app, aiohttp_client, db_url, keys, bank_key, conn
):
    client, cache = await listening_app(make_app, aiohttp_client)
    assert await callback(client, db_url, keys, bank_key, "FT-DEAF-0") == 200
    # The listening connection is cut; until it is back the copy may not be used.
    await cut_listener(conn, cache)
    assert not cache.listening and cache.cached() is None
    # Retired with no notification anyone hears: refused at once all the same (the tables were read).
    await conn.execute(
        "UPDATE bank_keys SET retired_at = now() WHERE bank_code = $1 AND key_id = $2",
        DEMO_BANK_CODE,
        bank_key[0],
    )
    assert await callback(client, db_url, keys, bank_key, "FT-DEAF-1") == 401
