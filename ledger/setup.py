"""The ledger's contribution to the app: the trial balance, the account drill-down and day close (pages and
API)."""

from __future__ import annotations

import asyncpg

from core.capability import Capability, Demo, RealData, StaffLink
from core.demo import has_rows
from ledger import day_routes, routes


async def _probe(conn: asyncpg.Connection) -> RealData:
    # Entries alone do not say who made them; the packages that post them judge that.
    return RealData(tables_with_rows=await has_rows(conn, ("journal_entries",)), looks_like_demo=True)


CAPABILITY = Capability(
    name="ledger",
    routes=(routes.routes, day_routes.routes),
    staff_links=(
        StaffLink("link.trial_balance", "/ledger/trial-balance", frozenset({"finance", "admin"})),
        StaffLink("ledger.days.link", "/ledger/days", frozenset({"finance", "admin"})),
    ),
    demo=Demo(probe=_probe),  # no demo data of its own: the demo's payments post to it
)
