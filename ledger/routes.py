"""HTTP face of the ledger: the trial balance for finance and admin, as JSON and as a page."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import current_principal
from ledger.entries import trial_balance

routes = Routes(tags=("ledger",))
LEDGER_READERS = staff("finance", "admin", scopes=("ledger:read",))


class TrialBalanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: date | None = Field(default=None, description="Business date (YYYY-MM-DD); default: everything")


class TrialBalanceRow(BaseModel):
    account: str
    type: str
    debit: int
    credit: int


class TrialBalance(BaseModel):
    as_of: date | None
    accounts: list[TrialBalanceRow]
    total_debit: int
    total_credit: int
    balanced: bool


async def _trial_balance_body(request: web.Request, as_of: date | None) -> dict:
    async with request.app[POOL].acquire() as conn:
        rows = await trial_balance(conn, as_of=as_of)
    accounts = [{"account": r.account, "type": r.type, "debit": r.debit, "credit": r.credit} for r in rows]
    debit = sum(a["debit"] for a in accounts)
    credit = sum(a["credit"] for a in accounts)
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "accounts": accounts,
        "total_debit": debit,
        "total_credit": credit,
        "balanced": debit == credit,
    }


@routes.get(
    "/api/v1/ledger/trial-balance",
    access=LEDGER_READERS,
    summary="Trial balance as of a date",
    query=TrialBalanceQuery,
    response=TrialBalance,
)
async def trial_balance_api(request: web.Request, query: TrialBalanceQuery) -> web.Response:
    return web.json_response(await _trial_balance_body(request, query.as_of))


@routes.get(
    "/ledger/trial-balance",
    access=staff("finance", "admin"),
    summary="Trial balance page",
    query=TrialBalanceQuery,
    in_openapi=False,
    produces="text/html",
)
async def trial_balance_page(request: web.Request, query: TrialBalanceQuery) -> web.Response:
    from core.pages import render_html

    await current_principal(request)
    body = await _trial_balance_body(request, query.as_of)
    return render_html(request, "ledger/trial_balance.html", tb=body)
