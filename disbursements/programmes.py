"""The four programmes the city pays (seeded by migrations/0015): their codes, names, accounts in the ledger,
how long an account verification stays valid, and the default monthly amount."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg

ProgrammeCode = Literal["pension", "social_insurance", "unemployment", "social_assistance"]
PROGRAMMES: tuple[str, ...] = ("pension", "social_insurance", "unemployment", "social_assistance")
# The largest monthly amount a beneficiary may be enrolled for (1 tỷ đồng; the database holds the same bound).
MAX_MONTHLY_AMOUNT = 1_000_000_000


@dataclass(frozen=True)
class Programme:
    code: str
    name_vi: str
    name_en: str
    funding_account: str
    expense_account: str
    verification_valid_days: int
    default_monthly_amount: int

    def name(self, lang: str) -> str:
        return self.name_vi if lang == "vi" else self.name_en


async def programmes(conn: asyncpg.Connection) -> dict[str, Programme]:
    rows = await conn.fetch(
        """SELECT code, name_vi, name_en, funding_account, expense_account, verification_valid_days,
                  default_monthly_amount
             FROM disb_programmes ORDER BY array_position($1::text[], code)""",
        list(PROGRAMMES),
    )
    return {r["code"]: Programme(**dict(r)) for r in rows}
