"""Reconciliation reports for finance: the daily report of one collection account and the monthly cross-check
per fee code and parking lot, each as a page (with a server-drawn SVG chart: the CSP allows no inline
script), CSV, PDF and a JSON API."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from core.api import Routes
from core.appkeys import POOL
from core.csv_download import csv_download
from core.errors import ValidationFailed
from core.i18n import request_language, translate
from core.money import format_local_time, format_percent, format_vnd
from core.pages import render_html
from core.pii import mask_account
from core.responses import ResponseModel, Timestamp, json_response
from core.timebounds import EARLIEST_YEAR, LATEST_YEAR, BoundedDate
from reconciliation.pdf import table_pdf
from reconciliation.reports import DailyReport, MonthlyReport, daily_report, monthly_report
from reconciliation.workbench_pages import FINANCE, READERS, today

routes = Routes(tags=("reconciliation",))
ACCOUNT = r"^(?:[0-9]{6}:[A-Za-z0-9]{1,34}|[a-z0-9][a-z0-9_-]{1,40})$"
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


class DailyQuery(BaseModel):
    """`account`: a collection account's code or `<bin>:<number>`; `date`: a day that has begun."""

    model_config = ConfigDict(extra="forbid")
    account: str = Field(pattern=ACCOUNT, max_length=42)
    date: BoundedDate


class MonthlyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(description="YYYY-MM", examples=["2026-11"], pattern=r"^[0-9]{4}-[0-9]{2}$")

    @field_validator("month")
    @classmethod
    def _real_month(cls, value: str) -> str:
        m = _MONTH.match(value)
        if not m or not (EARLIEST_YEAR <= int(m[1]) <= LATEST_YEAR and 1 <= int(m[2]) <= 12):
            raise PydanticCustomError(
                "month_range", f"a month YYYY-MM between {EARLIEST_YEAR}-01 and {LATEST_YEAR}-12"
            )
        return value

    @property
    def first_day(self) -> date:
        return date(int(self.month[:4]), int(self.month[5:]), 1)


def _not_future(day: date, field: str) -> None:
    if day > today():
        raise ValidationFailed(f"{field}: {day.isoformat()} has not begun yet in Hà Nội", field=field)


# Daily ------------------------------------------------------------------------------------------------------


class CategoryOut(ResponseModel):
    key: str
    count: int
    amount: int


class CarriedOut(ResponseModel):
    id: int
    kind: str
    business_date: date
    amount: int
    note: str | None


class DailyReportOut(ResponseModel):
    account_code: str
    bin: str
    account: str  # masked
    date: date
    statements: int
    opening_balance: int | None
    closing_balance: int | None
    lines: int
    credits: int
    debits: int
    matched_pct: float | None
    categories: list[CategoryOut]
    carried: list[CarriedOut]
    closed: bool
    closed_by: str | None
    closed_at: Timestamp | None


def _daily_out(r: DailyReport) -> DailyReportOut:
    return DailyReportOut(
        account_code=r.code,
        bin=r.bin,
        account=mask_account(r.account_number) or "",
        date=r.day,
        statements=r.statements,
        opening_balance=r.opening_balance,
        closing_balance=r.closing_balance,
        lines=r.lines,
        credits=r.credits,
        debits=r.debits,
        matched_pct=r.matched_pct,
        categories=[CategoryOut(key=c.key, count=c.count, amount=c.amount) for c in r.categories],
        carried=[
            CarriedOut(id=c.id, kind=c.kind, business_date=c.business_date, amount=c.amount, note=c.note)
            for c in r.carried
        ],
        closed=r.closed_by is not None,
        closed_by=r.closed_by,
        closed_at=r.closed_at,
    )


async def _daily(request: web.Request, query: DailyQuery) -> DailyReport:
    _not_future(query.date, "date")
    async with request.app[POOL].acquire() as conn:
        return await daily_report(conn, query.account, query.date)


def bar_chart(bars: list[tuple[str, int]], *, width: int = 640, bar_height: int = 22) -> dict[str, Any]:
    """Geometry of a horizontal bar chart for the template's inline SVG: one bar per (label, value)."""
    label_w, gap = 230, 6
    top = max((v for _, v in bars), default=0) or 1
    room = width - label_w - 60
    return {
        "width": width,
        "height": len(bars) * (bar_height + gap) + gap,
        "label_w": label_w,
        "bars": [
            {
                "label": label,
                "value": value,
                "y": gap + i * (bar_height + gap),
                "w": round(room * value / top) if value else 0,
                "h": bar_height,
            }
            for i, (label, value) in enumerate(bars)
        ],
    }


@routes.get(
    "/reconciliation/reports/daily",
    access=FINANCE,
    summary="Daily reconciliation report of one collection account (page)",
    query=DailyQuery,
    in_openapi=False,
    produces="text/html",
)
async def daily_report_page(request: web.Request, query: DailyQuery) -> web.Response:
    report = await _daily(request, query)
    lang = request_language(request)
    chart = bar_chart([(translate(f"recon.report.cat.{c.key}", lang), c.count) for c in report.categories])
    return render_html(
        request,
        "reconciliation/report_daily.html",
        report=report,
        chart=chart,
        account=query.account,
        masked=mask_account(report.account_number),
    )


@routes.get(
    "/api/v1/reconciliation/reports/daily",
    access=READERS,
    summary="Daily reconciliation report of one collection account",
    query=DailyQuery,
    response=DailyReportOut,
)
async def daily_report_api(request: web.Request, query: DailyQuery) -> web.Response:
    return json_response(_daily_out(await _daily(request, query)))


async def _daily_table(
    request: web.Request, query: DailyQuery
) -> tuple[DailyReport, str, list[str], list[list[Any]]]:
    """The daily report with the reader's language, the table's header and one row per category (CSV, PDF)."""
    report = await _daily(request, query)
    lang = request_language(request)
    header = [translate(f"recon.report.col.{c}", lang) for c in ("category", "count", "amount")]
    rows = [[translate(f"recon.report.cat.{c.key}", lang), c.count, c.amount] for c in report.categories]
    return report, lang, header, rows


@routes.get(
    "/reconciliation/reports/daily.csv",
    access=FINANCE,
    summary="Daily reconciliation report (CSV)",
    query=DailyQuery,
    in_openapi=False,
    produces="text/csv",
)
async def daily_report_csv(request: web.Request, query: DailyQuery) -> web.Response:
    report, lang, header, rows = await _daily_table(request, query)
    rows.append([translate("recon.report.matched_pct", lang), report.matched, report.matched_pct or ""])
    rows += [
        [translate("recon.report.cat.carried", lang) + f" #{c.id}", c.kind, c.amount, c.note or ""]
        for c in report.carried
    ]
    return csv_download(f"doi-soat-ngay-{report.code}-{report.day.isoformat()}.csv", header, rows)


def _pdf_response(body: bytes, filename: str) -> web.Response:
    resp = web.Response(body=body, content_type="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@routes.get(
    "/reconciliation/reports/daily.pdf",
    access=FINANCE,
    summary="Daily reconciliation report (PDF)",
    query=DailyQuery,
    in_openapi=False,
    produces="application/pdf",
)
async def daily_report_pdf(request: web.Request, query: DailyQuery) -> web.Response:
    report, lang, header, rows = await _daily_table(request, query)
    t = lambda key, **kw: translate(key, lang, **kw)  # noqa: E731
    subtitle = [
        t(
            "recon.report.daily.subtitle",
            account=f"{report.bank_name} {mask_account(report.account_number)} ({report.code})",
            day=report.day.strftime("%d/%m/%Y"),
        ),
        t(
            "recon.report.matched_line",
            pct="—" if report.matched_pct is None else format_percent(report.matched_pct, 1, lang),
        ),
        t(
            "recon.report.closed_line",
            state=(
                t("recon.report.closed_by", actor=report.closed_by, at=format_local_time(report.closed_at))
                if report.closed_by and report.closed_at
                else t("recon.report.open")
            ),
        ),
    ]
    subtitle += [
        f"{t('recon.report.cat.carried')} #{c.id}: {c.kind} {format_vnd(c.amount)} — {c.note or ''}"
        for c in report.carried
    ]
    body = table_pdf(
        t("recon.report.daily.title"),
        subtitle,
        header,
        [[r[0], str(r[1]), format_vnd(r[2])] for r in rows],
        numeric=[False, True, True],
    )
    return _pdf_response(body, f"doi-soat-ngay-{report.code}-{report.day.isoformat()}.pdf")


# Monthly ----------------------------------------------------------------------------------------------------


class MonthlyRowOut(ResponseModel):
    revenue_account: str
    name: str
    kind: str
    key: str
    paid: int
    ledger_revenue: int
    subsidies: int
    expected_in_bank: int
    bank_credits: int
    bank_amount: int
    difference: int


class MonthlyReportOut(ResponseModel):
    month: str
    rows: list[MonthlyRowOut]
    totals: MonthlyRowOut
    unattributed_credits: int
    unattributed_amount: int


def _monthly_out(report: MonthlyReport, lang: str) -> MonthlyReportOut:
    rows = [
        MonthlyRowOut(
            revenue_account=r.revenue_account,
            name=r.name,
            kind=r.kind,
            key=r.key,
            paid=r.paid,
            ledger_revenue=r.ledger_revenue,
            subsidies=r.subsidies,
            expected_in_bank=r.expected_in_bank,
            bank_credits=r.bank_lines,
            bank_amount=r.bank_amount,
            difference=r.difference,
        )
        for r in report.rows
    ]
    numbers = ("paid", "ledger_revenue", "subsidies", "expected_in_bank", "bank_credits", "bank_amount")
    total = {n: sum(getattr(r, n) for r in rows) for n in (*numbers, "difference")}
    totals = MonthlyRowOut(
        revenue_account="", name=translate("recon.report.total", lang), kind="total", key="", **total
    )
    return MonthlyReportOut(
        month=report.month.strftime("%Y-%m"),
        rows=rows,
        totals=totals,
        unattributed_credits=report.unattributed_lines,
        unattributed_amount=report.unattributed_amount,
    )


async def _monthly(request: web.Request, query: MonthlyQuery) -> MonthlyReportOut:
    _not_future(query.first_day, "month")
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        report = await monthly_report(conn, query.first_day, lang=lang)
    return _monthly_out(report, lang)


MONTHLY_COLUMNS = (
    "name",
    "paid",
    "ledger_revenue",
    "subsidies",
    "expected_in_bank",
    "bank_credits",
    "bank_amount",
    "difference",
)
MONEY_COLUMNS = {"ledger_revenue", "subsidies", "expected_in_bank", "bank_amount", "difference"}


@routes.get(
    "/reconciliation/reports/monthly",
    access=FINANCE,
    summary="Monthly cross-check per fee code and parking lot (page)",
    query=MonthlyQuery,
    in_openapi=False,
    produces="text/html",
)
async def monthly_report_page(request: web.Request, query: MonthlyQuery) -> web.Response:
    report = await _monthly(request, query)
    chart = bar_chart([(r.name, abs(r.difference)) for r in report.rows])
    return render_html(
        request, "reconciliation/report_monthly.html", report=report, chart=chart, month=query.month
    )


@routes.get(
    "/api/v1/reconciliation/reports/monthly",
    access=READERS,
    summary="Monthly cross-check of the service's figures against the bank's, per fee code and lot",
    query=MonthlyQuery,
    response=MonthlyReportOut,
)
async def monthly_report_api(request: web.Request, query: MonthlyQuery) -> web.Response:
    return json_response(await _monthly(request, query))


async def _monthly_table(request: web.Request, query: MonthlyQuery) -> tuple[str, list[str], list[list[Any]]]:
    """The reader's language, the monthly table's header and its rows, the totals last (CSV, PDF)."""
    report = await _monthly(request, query)
    lang = request_language(request)
    header = [translate(f"recon.report.col.{c}", lang) for c in MONTHLY_COLUMNS]
    return lang, header, [[getattr(r, c) for c in MONTHLY_COLUMNS] for r in [*report.rows, report.totals]]


@routes.get(
    "/reconciliation/reports/monthly.csv",
    access=FINANCE,
    summary="Monthly cross-check (CSV)",
    query=MonthlyQuery,
    in_openapi=False,
    produces="text/csv",
)
async def monthly_report_csv(request: web.Request, query: MonthlyQuery) -> web.Response:
    _, header, table = await _monthly_table(request, query)
    return csv_download(f"doi-soat-thang-{query.month}.csv", header, table)


@routes.get(
    "/reconciliation/reports/monthly.pdf",
    access=FINANCE,
    summary="Monthly cross-check (PDF)",
    query=MonthlyQuery,
    in_openapi=False,
    produces="application/pdf",
)
async def monthly_report_pdf(request: web.Request, query: MonthlyQuery) -> web.Response:
    lang, header, table = await _monthly_table(request, query)
    rows = [
        [format_vnd(v) if c in MONEY_COLUMNS else str(v) for c, v in zip(MONTHLY_COLUMNS, row, strict=True)]
        for row in table
    ]
    body = table_pdf(
        translate("recon.report.monthly.title", lang),
        [translate("recon.report.monthly.subtitle", lang, month=f"{query.month[5:]}/{query.month[:4]}")],
        header,
        rows[:-1],
        numeric=[False, *([True] * 7)],
        footer=rows[-1],
    )
    return _pdf_response(body, f"doi-soat-thang-{query.month}.pdf")
