"""Reconciliation's demo data: the simulated bank's city account already holds money before its first
transfer, so the ledger's bank account gets the same opening balance — otherwise no demo day could close
(bank and ledger must agree). Payments' own demo data stays without it: its tests count from zero."""

from __future__ import annotations

from datetime import date

import asyncpg

from core.demo_bank_key import DEMO_BANK_BIN, DEMO_CITY_ACCOUNT, DEMO_CITY_OPENING_BALANCE
from core.keys import AppKeys
from core.settings import Settings
from payments import record_opening_balance


async def load_reconciliation_demo(conn: asyncpg.Connection, settings: Settings, keys: AppKeys) -> None:
    await record_opening_balance(
        conn,
        bin_=DEMO_BANK_BIN,
        account_number=DEMO_CITY_ACCOUNT,
        amount=DEMO_CITY_OPENING_BALANCE,
        as_of=date(2024, 1, 1),
        actor="demo",
    )
