"""HTTP face of the ledger for finance and admin: the trial balance for a period (JSON and page) and the
drill-down from one account to the journal entries that moved it."""

from __future__ import annotations

from datetime import date
from typing import Self
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import current_principal
from core.errors import NotFound
from core.i18n import request_language
from core.pages import render_html
from core.responses import ResponseModel, dump, json_response
from core.timebounds import BoundedDate
from ledger import messages as _messages  # noqa: F401  (registers the ledger's texts)
from ledger.accounts import ACCOUNT_PATH, name_of
from ledger.balances import account_entries, period_balances

routes = Routes(tags=("ledger",))
LEDGER_READERS = staff("finance", "admin", scopes=("ledger:read",))
LEDGER_PAGES = staff("finance", "admin")
_ACCOUNT = "{account:[a-z][A-Za-z0-9_.:-]{1,199}}"
ENTRIES_SHOWN = 500

# Where a reference in an entry's refs leads. Only pages that exist: a parking session has no page of its own
# yet, so the drill-down shows its id as text.
REF_LINKS = {"reference": "/pay/{}"}


class PeriodQuery(BaseModel):
    """`as_of` alone (everything up to that day, as before), or a period `from`..`to` (both inclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)
    as_of: BoundedDate | None = Field(
        default=None, description="Business date (YYYY-MM-DD); default: everything"
    )
    start: BoundedDate | None = Field(
        default=None, alias="from", description="First business day of the period; default: the beginning"
    )
    end: BoundedDate | None = Field(default=None, alias="to", description="Last business day of the period")

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if self.as_of is not None and self.end is not None:
            raise ValueError("give as_of or to, not both")
        if self.start is not None and self.last is not None and self.start > self.last:
            raise ValueError("from must not be after to")
        return self

    @property
    def last(self) -> date | None:
        return self.end if self.end is not None else self.as_of

    def query_string(self) -> str:
        """`?from=…&to=…` for links that keep the period (empty when there is none)."""
        pairs = [(k, v.isoformat()) for k, v in (("from", self.start), ("to", self.last)) if v is not None]
        return "?" + urlencode(pairs) if pairs else ""


class TrialBalanceRow(ResponseModel):
    account: str
    name: str
    type: str
    debit: int  # the closing balance on the debit side
    credit: int  # the closing balance on the credit side
    opening: int
    debits: int
    credits: int
    closing: int


class TrialBalance(ResponseModel):
    as_of: date | None
    start: date | None = Field(serialization_alias="from")
    end: date | None = Field(serialization_alias="to")
    accounts: list[TrialBalanceRow]
    total_debit: int
    total_credit: int
    balanced: bool


async def _trial_balance(request: web.Request, query: PeriodQuery) -> TrialBalance:
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        period = await period_balances(conn, start=query.start, end=query.last)
    accounts = [
        TrialBalanceRow(
            account=r.account,
            name=name_of(r.account, lang),
            type=r.type,
            debit=max(r.closing, 0),
            credit=max(-r.closing, 0),
            opening=r.opening,
            debits=r.debits,
            credits=r.credits,
            closing=r.closing,
        )
        for r in period.rows
    ]
    debit = sum(a.debit for a in accounts)
    credit = sum(a.credit for a in accounts)
    return TrialBalance(
        as_of=query.last,
        start=period.start,
        end=query.last,
        accounts=accounts,
        total_debit=debit,
        total_credit=credit,
        balanced=debit == credit,
    )


@routes.get(
    "/api/v1/ledger/trial-balance",
    access=LEDGER_READERS,
    summary="Trial balance as of a date, or for a period from..to",
    query=PeriodQuery,
    response=TrialBalance,
)
async def trial_balance_api(request: web.Request, query: PeriodQuery) -> web.Response:
    return json_response(await _trial_balance(request, query))


@routes.get(
    "/ledger/trial-balance",
    access=LEDGER_PAGES,
    summary="Trial balance page",
    query=PeriodQuery,
    in_openapi=False,
    produces="text/html",
)
async def trial_balance_page(request: web.Request, query: PeriodQuery) -> web.Response:
    await current_principal(request)
    body = dump(await _trial_balance(request, query))
    pairs = [(k, body[k]) for k in ("from", "to") if body[k]]
    return render_html(
        request, "ledger/trial_balance.html", tb=body, period="?" + urlencode(pairs) if pairs else ""
    )


class AccountEntryOut(ResponseModel):
    entry_id: int
    business_date: date
    kind: str
    memo: str | None
    refs: dict[str, str]
    amount: int
    counter_accounts: list[str]


class AccountEntries(ResponseModel):
    account: str
    name: str
    start: date | None = Field(serialization_alias="from")
    end: date | None = Field(serialization_alias="to")
    entries: list[AccountEntryOut]
    truncated: bool


async def _account_entries(request: web.Request, query: PeriodQuery) -> AccountEntries:
    path = request.match_info["account"]
    if not ACCOUNT_PATH.match(path):
        raise NotFound("no such account", field="account")
    async with request.app[POOL].acquire() as conn:
        rows = await account_entries(conn, path, start=query.start, end=query.last, limit=ENTRIES_SHOWN + 1)
    lang = request_language(request)
    return AccountEntries(
        account=path,
        name=name_of(path, lang),
        start=query.start,
        end=query.last,
        entries=[
            AccountEntryOut(
                entry_id=e.entry_id,
                business_date=e.business_date,
                kind=e.kind,
                memo=e.memo,
                refs=e.refs,
                amount=e.amount,
                counter_accounts=list(e.counter_accounts),
            )
            for e in rows[:ENTRIES_SHOWN]
        ],
        truncated=len(rows) > ENTRIES_SHOWN,
    )


@routes.get(
    f"/api/v1/ledger/accounts/{_ACCOUNT}/entries",
    access=LEDGER_READERS,
    summary="Journal entries that moved one account, as of a date or in a period",
    query=PeriodQuery,
    response=AccountEntries,
)
async def account_entries_api(request: web.Request, query: PeriodQuery) -> web.Response:
    return json_response(await _account_entries(request, query))


@routes.get(
    f"/ledger/accounts/{_ACCOUNT}",
    access=LEDGER_PAGES,
    summary="One account's journal entries in a period",
    query=PeriodQuery,
    in_openapi=False,
    produces="text/html",
)
async def account_entries_page(request: web.Request, query: PeriodQuery) -> web.Response:
    await current_principal(request)
    body = dump(await _account_entries(request, query))
    lang = request_language(request)
    for entry in body["entries"]:
        entry["counter"] = [(path, name_of(path, lang)) for path in entry["counter_accounts"]]
        entry["links"] = [
            (name, value, REF_LINKS[name].format(quote(value, safe="")) if name in REF_LINKS else None)
            for name, value in sorted(entry["refs"].items())
            if name in ("reference", "session", "payment_request")
        ]
    return render_html(request, "ledger/account.html", acct=body, period=query.query_string())
