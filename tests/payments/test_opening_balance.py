"""A collection account's opening balance is booked once: a repeat returns the same entry and records nothing
more; another amount is refused (a correction goes through reconciliation with four eyes)."""

from __future__ import annotations

from datetime import date

import pytest

from core.db import connect
from core.errors import Conflict, ValidationFailed
from ledger import account_balance, accounts
from payments import record_opening_balance
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN

pytestmark = pytest.mark.usefixtures("catalogue")


async def test_an_opening_balance_is_booked_once(db_url):
    conn = await connect(db_url)
    try:
        args = {"bin_": BANK_BIN, "account_number": BANK_ACCOUNT, "as_of": date(2026, 1, 1), "actor": "test"}
        first = await record_opening_balance(conn, amount=2_000_000_000, **args)
        again = await record_opening_balance(conn, amount=2_000_000_000, **args)
        assert again.id == first.id and not again.created
        with pytest.raises(Conflict):
            await record_opening_balance(conn, amount=1_000, **args)
        with pytest.raises(ValidationFailed):
            await record_opening_balance(conn, amount=0, **args)
        bank = accounts.bank_account(BANK_BIN, BANK_ACCOUNT)
        assert await account_balance(conn, bank) == 2_000_000_000
        assert await account_balance(conn, accounts.OPENING_BALANCES) == -2_000_000_000
        audits = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'payments.opening_balance'"
        )
        assert audits == 1
    finally:
        await conn.close()
