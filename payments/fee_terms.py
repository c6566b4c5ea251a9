"""A fee's terms as last read, per process: what lets a payment request be written without a transaction of
its own (payments/creation_groups.py).

The cache is a hint, never the truth. The statement that inserts the request checks in the same snapshot
that the fee still has exactly these terms, still pays into this account, and still has no subsidy
programme; when anything differs it inserts nothing and the creation takes the full path (which reads the
terms afresh). So an edited fee, a retired account or a new programme cost a slower creation, never a wrong
one — no invalidation is needed, and entries live a few seconds only so that a fee that gained or lost a
programme comes back to the grouped path soon.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiohttp import web


@dataclass(frozen=True)
class FeeTerms:
    """A fee with no subsidy programme that could apply: its amount, purpose and collection account."""

    amount: int
    name_vi: str
    name_en: str
    revenue_account: str
    bin: str
    account_number: str
    holder_name: str
    bank_name: str


def active_fee_sql(code: str, at: str) -> str:
    """The condition that fee `f` (joined to its collection account `c`) with code `code` may be charged
    at `at` (SQL expressions, e.g. "$1"): one place for the full path, this cache and the grouped
    insert."""
    return (
        f"f.code = {code} AND f.active_from <= {at} AND (f.active_until IS NULL OR f.active_until > {at})"
        " AND c.active"
    )


def programme_may_apply_sql(code: str, channel: str, at: str) -> str:
    """The condition that programme `sp` covers a request of fee `code` on `channel` at `at`, its budget
    aside (the full path also checks the budget; a programme sends a creation there)."""
    return (
        f"sp.fee_code = {code} AND (sp.channel IS NULL OR sp.channel = {channel})"
        f" AND {at} >= sp.valid_from AND {at} < sp.valid_until"
    )


_READ_TERMS = f"""
SELECT f.amount, f.name_vi, f.name_en, f.revenue_account, c.bin, c.account_number, c.holder_name,
       b.short_name AS bank_name,
       EXISTS (SELECT 1 FROM subsidy_programmes sp WHERE {programme_may_apply_sql("$1", "$2", "$3")})
           AS subsidised
  FROM fee_catalogue f JOIN collection_accounts c ON c.id = f.collection_account_id
                       JOIN banks b ON b.bin = c.bin
 WHERE {active_fee_sql("$1", "$3")}
 LIMIT 1"""


class FeeTermsCache:
    TTL_S = 10.0
    MAX_ENTRIES = 1_000  # fee codes × channels; a full cache starts again

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str | None], tuple[float, FeeTerms | None]] = {}

    async def terms(
        self, db: asyncpg.Connection | asyncpg.Pool, fee_code: str, channel: str | None, now: datetime
    ) -> FeeTerms | None:
        """The fee's terms, or None when a creation must take the full path (no such active fee, or a
        subsidy programme that could apply). `db`: a pool is asked for a connection only on a miss."""
        key = (fee_code, channel)
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        row = await db.fetchrow(_READ_TERMS, fee_code, channel, now)
        terms = None
        if row is not None and not row["subsidised"]:
            terms = FeeTerms(**{k: v for k, v in row.items() if k != "subsidised"})
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.TTL_S, terms)
        return terms

    def forget(self, fee_code: str, channel: str | None) -> None:
        """The terms did not hold at an insert: read them again next time."""
        self._entries.pop((fee_code, channel), None)


FEE_TERMS = web.AppKey("fee_terms", FeeTermsCache)


async def fee_terms_cache(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one cache per app (tests run several apps, each on its own database, in one process)."""
    app[FEE_TERMS] = FeeTermsCache()
    yield
