"""Payments fixtures: demo catalogue loaded into the test database, and a helper to make bank credits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from core.db import connect
from core.demo_bank_key import ensure_demo_bank_key
from payments.banks.event import BankCredit
from payments.demo import DEMO_COLLECTION, load_payments_demo

BANK_BIN, BANK_ACCOUNT = DEMO_COLLECTION[1], DEMO_COLLECTION[2]
BANK_PATH = f"asset:bank:{BANK_BIN}:{BANK_ACCOUNT}"
_txn = itertools.count(1)


@pytest.fixture
async def catalogue(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
    finally:
        await conn.close()


@pytest.fixture
def bank_key(settings):
    """The simulated bank's signing key (id, private key), as registered by the demo loader."""
    return ensure_demo_bank_key(settings.var_dir)


def credit(
    narrative: str,
    amount: int,
    *,
    txn: str | None = None,
    bank: str = "vcb-sim",
    booked_at: datetime | None = None,
) -> BankCredit:
    return BankCredit(
        bank_code=bank,
        bank_txn_id=txn or f"FT{next(_txn):08d}",
        credited_bin=BANK_BIN,
        credited_account=BANK_ACCOUNT,
        amount=amount,
        currency="VND",
        booked_at=booked_at or datetime.now(UTC),
        narrative=narrative,
        payer_name="NGUYEN VAN A",
        payer_account_masked="****1234",
    )
