"""Issue 8, point 16: demo data only in demo mode, never beside real data, and the simulated bank says so.

`python main.py up` runs for real in a subprocess against a fresh database (migrating as the owner role and
serving as the service role, the documented real-server set-up), answers over HTTP, and must load nothing
without CITYPAY_DEMO=1; with it, a database holding data demo mode did not create is refused.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from core.auth import create_staff_user
from core.db import connect
from core.demo import DEMO_STAFF, DemoRefused, load_demo_data
from core.demo_bank_key import DEMO_BANK_CODE
from core.keys import keys_as_env
from main import DEMOS
from payments.requests import NewRequest, issue_payment_request

ROOT = Path(__file__).resolve().parents[2]
DEMO_USERNAMES = [u for u, _, _ in DEMO_STAFF]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(keys, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CITYPAY_DEMO", "CITYPAY_MIGRATE_URL")}
    return {
        **env,
        **keys_as_env(keys),
        "CITYPAY_VAR_DIR": str(tmp_path),
        "CITYPAY_LOG_LEVEL": "warning",
        "CITYPAY_AUDIT_CHECKPOINT_MINUTES": "0",
        **extra,
    }


async def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _demo_rows(db_url: str) -> dict[str, int]:
    conn = await connect(db_url)
    try:
        return {
            "demo_staff": await conn.fetchval(
                "SELECT count(*) FROM staff_users WHERE username = ANY($1::text[])", DEMO_USERNAMES
            ),
            "sim_bank": await conn.fetchval(
                "SELECT count(*) FROM bank_profiles WHERE code = $1", DEMO_BANK_CODE
            ),
            "tokens": await conn.fetchval("SELECT count(*) FROM api_tokens"),
            "marker": await conn.fetchval("SELECT count(*) FROM demo_installation"),
        }
    finally:
        await conn.close()


async def test_up_without_demo_loads_nothing_and_says_how_to_make_an_admin(
    empty_db_url, service_role, keys, tmp_path
):
    from core.embedded import with_user

    port = _free_port()
    env = _env(
        keys,
        tmp_path,
        DATABASE_URL=with_user(empty_db_url, service_role),  # the service: row rights only
        CITYPAY_MIGRATE_URL=empty_db_url,  # the owner runs the migrations
        CITYPAY_PORT=str(port),
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 (starting a server returns at once)
        [sys.executable, "main.py", "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):  # up to 60 s: migrations on a fresh database, then serve
                if proc.poll() is not None:
                    break
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            else:
                pytest.fail("`up` did not start serving within 60 s")
            assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=30)
    assert "python main.py create-user" in out.decode() and "--role admin" in out.decode()
    assert await _demo_rows(empty_db_url) == {"demo_staff": 0, "sim_bank": 0, "tokens": 0, "marker": 0}
    assert not (tmp_path / "demo-logins.json").exists() and not (tmp_path / "banksim").exists()


async def test_demo_mode_refuses_a_database_with_real_data(db_url, keys, tmp_path):
    conn = await connect(db_url)
    try:
        await create_staff_user(
            conn, username="lan", display_name="Lan", role="admin", password="p" * 12, actor="cli:ops"
        )
    finally:
        await conn.close()
    env = _env(keys, tmp_path, DATABASE_URL=db_url, CITYPAY_DEMO="1", CITYPAY_PORT=str(_free_port()))
    for command in (["up"], ["demo"]):
        proc = await _run(command, env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "refusing to load demo data" in proc.stderr and "staff_users" in proc.stderr
    assert await _demo_rows(db_url) == {"demo_staff": 0, "sim_bank": 0, "tokens": 0, "marker": 0}
    assert not (tmp_path / "banksim").exists()  # no simulated bank key was even generated


async def test_demo_mode_refuses_payments_without_its_marker(db_url, keys, settings):
    conn = await connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO collection_accounts (code, bin, account_number, holder_name) "
            "VALUES ('real', '970415', '1234567890', 'KHO BAC')"
        )
    finally:
        await conn.close()
    with pytest.raises(DemoRefused, match="collection_accounts"):
        await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    assert (await _demo_rows(db_url))["sim_bank"] == 0


async def test_demo_data_goes_into_an_empty_database_once_and_again(db_url, keys, settings, capsys):
    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)  # its own data: fine
    rows = await _demo_rows(db_url)
    assert rows["demo_staff"] == len(DEMO_STAFF) and rows["sim_bank"] == 1 and rows["marker"] == 1


async def test_the_simulated_bank_says_so_on_staff_and_public_pages(
    db_url, keys, settings, make_app, aiohttp_client, staff_login, capsys
):
    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    conn = await connect(db_url)
    try:
        name = await conn.fetchval("SELECT name FROM bank_profiles WHERE code = $1", DEMO_BANK_CODE)
        pr = await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="GPLX-DOI"),
            created_by="test",
            amount_cap=500_000_000,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()
    assert name.startswith("Ngân hàng mô phỏng (SIMULATED)")

    client = await aiohttp_client(make_app(banksim_url="http://127.0.0.1:1"))
    admin = await staff_login("admin")
    banks = await client.get("/admin/banks", headers=admin.headers())
    assert banks.status == 200 and "Ngân hàng mô phỏng (SIMULATED)" in await banks.text()
    pay = await client.get(f"/pay/{pr['reference']}")
    html = await pay.text()
    assert pay.status == 200 and 'id="pay-with-simulator"' in html
    button = html.split('id="pay-with-simulator"', 1)[1].split("</a>", 1)[0]
    assert "SIMULATED" in button and "mô phỏng" in button


async def test_a_demo_database_from_before_the_marker_is_adopted_but_not_one_with_real_staff(
    db_url, keys, settings, capsys
):
    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    conn = await connect(db_url)
    try:
        await conn.execute("DELETE FROM demo_installation")  # as made by `make run` before the marker existed
    finally:
        await conn.close()
    await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    assert (await _demo_rows(db_url))["marker"] == 1

    conn = await connect(db_url)
    try:
        await conn.execute("DELETE FROM demo_installation")
        await create_staff_user(
            conn, username="lan", display_name="Lan", role="finance", password="p" * 12, actor="cli:ops"
        )
    finally:
        await conn.close()
    with pytest.raises(DemoRefused, match="staff_users"):
        await load_demo_data(db_url, settings=settings, keys=keys, demos=DEMOS)
    assert (await _demo_rows(db_url))["marker"] == 0
