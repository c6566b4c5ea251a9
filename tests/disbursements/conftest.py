"""Disbursements fixtures (shared by beneficiaries/verification and batches): the demo city account registered
as a collection account (the programmes' funding account), and beneficiaries written through the service as
the API would."""

from __future__ import annotations

import asyncpg
import pytest

from core.demo_bank_key import DEMO_BANK_BIN, DEMO_CITY_ACCOUNT
from tests.banksim.conftest import banksim_db  # noqa: F401  (a fixture)

CITY_BIN = DEMO_BANK_BIN
CITY_ACCOUNT = DEMO_CITY_ACCOUNT


async def register_city_account(conn: asyncpg.Connection) -> None:
    """The programmes' funding account (seeded by 0015) as a registered collection account, so the ledger
    accepts it (0005)."""
    await conn.execute(
        """INSERT INTO collection_accounts (code, bin, account_number, holder_name)
           VALUES ('hanoi-treasury', $1, $2, 'KHO BAC NHA NUOC HA NOI') ON CONFLICT DO NOTHING""",
        CITY_BIN,
        CITY_ACCOUNT,
    )


@pytest.fixture
async def city_account(conn: asyncpg.Connection) -> str:
    await register_city_account(conn)
    return f"{CITY_BIN}:{CITY_ACCOUNT}"


# Beneficiaries ----------------------------------------------------------------------------------------------

BENEFICIARIES = "/api/v1/disbursements/beneficiaries"


def person(**overrides) -> dict:
    """An API body for a valid beneficiary (NGUYEN VAN AN at the simulated bank, born 1955, pension)."""
    body = {
        "national_id": "001055001234",
        "full_name": "Nguyễn Văn An",
        "birth_date": "1955-03-02",
        "programmes": ["pension"],
        "bank_bin": CITY_BIN,
        "account_number": "0011000456789",
    }
    body.update(overrides)
    return body


async def enrol_via_api(client, login, **overrides) -> dict:
    resp = await client.post(BENEFICIARIES, json=person(**overrides), headers=login.headers(unsafe=True))
    assert resp.status == 201, await resp.text()
    return await resp.json()


@pytest.fixture
async def sim_bank(banksim_db, db_url, settings, keys, aiohttp_server, aiohttp_client):  # noqa: F811
    """A running simulated bank (its own fresh database) and the city's demo data that routes to it (the
    collection account and the bank profile): (simulator client, its URL, its database URL)."""
    from banksim.app import create_banksim_app
    from banksim.config import BankSimConfig
    from core.db import connect
    from core.demo_bank_key import ensure_demo_bank_key
    from payments.demo import load_payments_demo

    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
    finally:
        await conn.close()
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    config = BankSimConfig(signing_key=key, signing_key_id=key_id, worker=False)
    server = await aiohttp_server(create_banksim_app(database_url=banksim_db, config=config))
    sim = await aiohttp_client(server)
    return sim, str(server.make_url("")).rstrip("/"), banksim_db
