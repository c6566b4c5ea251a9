"""The finance workbench (pages, Vietnamese first): today's picture per collection account with a date picker,
search by payment reference, agency reference or amount, the money held as underpaid or in suspense, and one
payment's whole trail at /finance/payments/{reference}. Every list has a CSV export."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import payments
from core.api import Routes, staff
from core.appkeys import POOL
from core.csv_download import csv_download
from core.i18n import request_language, translate
from core.money import LOCAL_TZ, parse_dong
from core.pages import render_html
from core.pii import mask_account
from core.responses import ResponseModel, Timestamp, json_response
from core.text import FreeText
from core.timebounds import BoundedDate
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)
from reconciliation.workbench import AGE_BUCKETS, AccountDay, day_picture, money_held, payment_trail

routes = Routes(tags=("reconciliation",))
FINANCE = staff("finance", "admin")
READERS = staff("finance", "admin", scopes=("reconciliation:read",))
LIMIT = 200
AMOUNT_CAP = 10**15


class _Filters(BaseModel):
    """A GET form: an empty input means "not given"."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_none(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data


class DayQuery(_Filters):
    date: BoundedDate | None = None


class SearchQuery(_Filters):
    """Text is looked for in payment references and agency references; an amount (200000, 200.000 or
    200.000 ₫) in what a request was worth, owed or received."""

    q: FreeText | None = Field(default=None, max_length=100)
    amount: int | None = Field(default=None, ge=1, le=AMOUNT_CAP)

    @field_validator("amount", mode="before")
    @classmethod
    def _dong(cls, value: Any) -> Any:
        return parse_dong(value) if isinstance(value, str) else value


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


# The day's picture -----------------------------------------------------------------------------------------


class AccountDayOut(ResponseModel):
    code: str
    bin: str
    account: str  # masked
    bank_name: str
    statement_in: bool
    lines: int
    matched: int
    proposed: int
    matched_pct: float | None
    open_exceptions: dict[str, int]
    closed: bool
    closed_by: str | None
    closed_at: Timestamp | None


class PictureOut(ResponseModel):
    date: date
    accounts: list[AccountDayOut]


def _account_out(a: AccountDay) -> AccountDayOut:
    return AccountDayOut(
        code=a.code,
        bin=a.bin,
        account=mask_account(a.account_number) or "",
        bank_name=a.bank_name,
        statement_in=a.statement_in,
        lines=a.lines,
        matched=a.matched,
        proposed=a.proposed,
        matched_pct=a.matched_pct,
        open_exceptions=a.exceptions_open,
        closed=a.closed_by is not None,
        closed_by=a.closed_by,
        closed_at=a.closed_at,
    )


@routes.get(
    "/reconciliation",
    access=FINANCE,
    summary="Finance workbench: the day's picture per collection account (page)",
    query=DayQuery,
    in_openapi=False,
    produces="text/html",
)
async def workbench_page(request: web.Request, query: DayQuery) -> web.Response:
    day = query.date or today()
    async with request.app[POOL].acquire() as conn:
        picture = await day_picture(conn, day)
        held = await money_held(conn, limit=LIMIT)
    return render_html(
        request,
        "reconciliation/workbench.html",
        day=day,
        picture=picture,
        buckets=AGE_BUCKETS,
        held=held,
        mask=mask_account,
        totals={
            "lines": sum(a.lines for a in picture),
            "matched": sum(a.matched for a in picture),
            "open": sum(a.open_total for a in picture),
        },
        limit=LIMIT,
    )


@routes.get(
    "/api/v1/reconciliation/workbench",
    access=READERS,
    summary="The day's picture per collection account",
    query=DayQuery,
    response=PictureOut,
)
async def workbench_api(request: web.Request, query: DayQuery) -> web.Response:
    day = query.date or today()
    async with request.app[POOL].acquire() as conn:
        picture = await day_picture(conn, day)
    return json_response(PictureOut(date=day, accounts=[_account_out(a) for a in picture]))


@routes.get(
    "/reconciliation/picture.csv",
    access=FINANCE,
    summary="The day's picture per collection account (CSV)",
    query=DayQuery,
    in_openapi=False,
    produces="text/csv",
)
async def picture_csv(request: web.Request, query: DayQuery) -> web.Response:
    day = query.date or today()
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        picture = await day_picture(conn, day)
    header = [translate(f"recon.wb.col.{c}", lang) for c in ("account", "bank", "statement", "lines")]
    header += [translate("recon.wb.col.matched", lang), translate("recon.wb.col.matched_pct", lang)]
    header += [translate("recon.wb.col.age", lang, bucket=b) for b in AGE_BUCKETS]
    header += [translate("recon.wb.col.closed_by", lang)]
    rows = [
        [
            a.code,
            a.bank_name,
            "1" if a.statement_in else "0",
            a.lines,
            a.matched,
            "" if a.matched_pct is None else a.matched_pct,
            *[a.exceptions_open[b] for b in AGE_BUCKETS],
            a.closed_by or "",
        ]
        for a in picture
    ]
    return csv_download(f"doi-soat-{day.isoformat()}.csv", header, rows)


@routes.get(
    "/reconciliation/held.csv",
    access=FINANCE,
    summary="Money held as underpaid and in suspense (CSV)",
    in_openapi=False,
    produces="text/csv",
)
async def held_csv(request: web.Request) -> web.Response:
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        held = await money_held(conn, limit=100_000)
    header = [
        translate(f"recon.wb.col.{c}", lang)
        for c in ("where", "reference", "agency_ref", "amount", "outcome", "booked", "exceptions")
    ]
    rows: list[list[Any]] = [
        [
            translate("recon.wb.held", lang),
            h["reference"],
            h["payer_reference"] or "",
            h["amount_received"],
            "underpaid",
            h["created_at"].isoformat(),
            " ".join(str(x) for x in h["exceptions"]),
        ]
        for h in held.held
    ]
    rows += [
        [
            translate("recon.wb.suspense", lang),
            s["reference"] or "",
            "",
            s["amount"],
            s["outcome"],
            s["booked_at"].isoformat(),
            " ".join(str(x) for x in s["exceptions"]),
        ]
        for s in held.suspense
    ]
    return csv_download("tien-tam-giu.csv", header, rows)


# Search --------------------------------------------------------------------------------------------------


async def _search(request: web.Request, query: SearchQuery, limit: int) -> tuple[list[dict[str, Any]], int]:
    if query.q is None and query.amount is None:
        return [], 0
    async with request.app[POOL].acquire() as conn:
        return await payments.search_payments(conn, text=query.q, amount=query.amount, limit=limit)


@routes.get(
    "/reconciliation/search",
    access=FINANCE,
    summary="Search payments by reference, agency reference or amount (page)",
    query=SearchQuery,
    in_openapi=False,
    produces="text/html",
)
async def search_page(request: web.Request, query: SearchQuery) -> web.Response:
    rows, total = await _search(request, query, LIMIT)
    return render_html(
        request,
        "reconciliation/workbench_search.html",
        query=query,
        rows=rows,
        total=total,
        received=sum(r["amount_received"] for r in rows),
        due=sum(r["amount_due"] for r in rows),
        limit=LIMIT,
    )


@routes.get(
    "/reconciliation/search.csv",
    access=FINANCE,
    summary="Search payments (CSV)",
    query=SearchQuery,
    in_openapi=False,
    produces="text/csv",
)
async def search_csv(request: web.Request, query: SearchQuery) -> web.Response:
    lang = request_language(request)
    rows, _ = await _search(request, query, 100_000)
    header = [
        translate(f"recon.wb.col.{c}", lang)
        for c in ("reference", "agency_ref", "purpose", "amount_due", "received", "status", "created")
    ]
    return csv_download(
        "tim-thanh-toan.csv",
        header,
        (
            [
                r["reference"],
                r["payer_reference"] or "",
                r["purpose_en"] if lang == "en" else r["purpose_vi"],
                r["amount_due"],
                r["amount_received"],
                r["status"],
                r["created_at"].isoformat(),
            ]
            for r in rows
        ),
    )


# One payment ------------------------------------------------------------------------------------------------


@routes.get(
    "/finance/payments/{reference:[0-9A-Z]{1,20}}",
    access=FINANCE,
    summary="One payment for finance: request, bank lines, callbacks, journal entries, receipt (page)",
    in_openapi=False,
    produces="text/html",
)
async def payment_detail_page(request: web.Request) -> web.Response:
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        trail = await payment_trail(conn, request.match_info["reference"], lang=lang)
    return render_html(request, "reconciliation/payment_detail.html", trail=trail, mask=mask_account)


@routes.get(
    "/finance/payments/{reference:[0-9A-Z]{1,20}}/lines.csv",
    access=FINANCE,
    summary="One payment's bank lines and journal lines (CSV)",
    in_openapi=False,
    produces="text/csv",
)
async def payment_detail_csv(request: web.Request) -> web.Response:
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        trail = await payment_trail(conn, request.match_info["reference"], lang=lang)
    header = [
        translate(f"recon.wb.col.{c}", lang) for c in ("what", "id", "date", "account", "amount", "text")
    ]
    rows: list[list[Any]] = [
        [
            "bank",
            line["bank_ref"],
            line["booking_date"].isoformat(),
            mask_account(line["account_number"]),
            line["amount"] if line["direction"] == "credit" else -line["amount"],
            line["narrative"],
        ]
        for line in trail.bank_lines
    ]
    rows += [
        ["ledger", e["id"], "", ln["account"], ln["amount"], ln["name"]]
        for e in trail.entries
        for ln in e["lines"]
    ]
    return csv_download(f"{trail.request['reference']}.csv", header, rows)
