"""Disbursements fixtures (shared by beneficiaries/verification and batches): the demo city account registered
as a collection account (the programmes' funding account), and beneficiaries written through the service as
the API would."""

from __future__ import annotations

import asyncpg
import pytest

from core.demo_bank_key import DEMO_BANK_BIN, DEMO_CITY_ACCOUNT

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
