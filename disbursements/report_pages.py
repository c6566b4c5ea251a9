"""The disbursement report per programme and period as a page (Vietnamese first), a CSV download (UTF-8 with
a BOM, every text cell formula-safe) and a JSON API (`GET /api/v1/disbursements/reports`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.api import Routes, staff
from core.appkeys import POOL
from core.csv_download import csv_download
from core.i18n import has_message, request_language, translate
from core.money import LOCAL_TZ
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from disbursements import report_messages as _messages  # noqa: F401  (registers the texts)
from disbursements.reports import PERIOD_PATTERN, PROGRAMMES, Bucket, DisbursementReport, disbursement_report

routes = Routes(tags=("disbursements",))
# Who reads disbursement figures: finance prepares, approvers approve, admins run the service; machine readers
# with the disbursements:read scope get the JSON.
PAGE_READERS = staff("finance", "admin", "approver")
READERS = staff("finance", "admin", "approver", scopes=("disbursements:read",))

Programme = Literal["pension", "social_insurance", "unemployment", "social_assistance"]


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: Programme = Field(description="pension | social_insurance | unemployment | social_assistance")
    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM", examples=["2026-01"])


class ReportPageQuery(BaseModel):
    """The page's form: either may be left empty (this month's pension report)."""

    model_config = ConfigDict(extra="forbid")
    programme: Programme = "pension"
    period: str = Field(default_factory=lambda: current_period(), pattern=PERIOD_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data


def current_period() -> str:
    return datetime.now(LOCAL_TZ).strftime("%Y-%m")


# Numbers and labels in the reader's language ----------------------------------------


def format_count(n: int, lang: str) -> str:
    """1234 → '1.234' (Vietnamese) or '1,234' (English)."""
    grouped = f"{n:,}"
    return grouped.replace(",", ".") if lang == "vi" else grouped


def format_pct(pct: float | None, lang: str) -> str:
    if pct is None:
        return "—"
    text = f"{pct:.1f}"
    return (text.replace(".", ",") if lang == "vi" else text) + " %"


def code_meaning(code: str, lang: str) -> str:
    key = f"disb.rpt.code.{code}"
    return translate(key, lang) if has_message(key) else translate("disb.rpt.code.unknown", lang, code=code)


def hold_meaning(reason: str, lang: str) -> str:
    # The roster's hold reasons (disbursements/messages.py), then those execution adds at send time.
    for key in (f"disb.hold.{reason}", f"disb.rpt.hold.{reason}"):
        if has_message(key):
            return translate(key, lang)
    return reason


def gap_label(key: str, lang: str) -> str:
    """A coverage gap's reason: 'failed:AC04' → 'Refused by the bank: Closed account'."""
    head, _, detail = key.partition(":")
    if head == "failed":
        return f"{translate('disb.rpt.failed', lang)}: {code_meaning(detail, lang)} ({detail})"
    if head == "held":
        return f"{translate('disb.rpt.held', lang)}: {hold_meaning(detail, lang)}"
    return translate(f"disb.rpt.{head}", lang)


# JSON ----------------------------------------


class BucketOut(ResponseModel):
    key: str
    count: int
    amount: int


class ReasonOut(BucketOut):
    meaning_vi: str
    meaning_en: str


class BatchLineOut(ResponseModel):
    id: int
    state: str
    control_count: int
    control_sum: int
    held_count: int
    created_at: Timestamp


class CoverageOut(ResponseModel):
    enrolled: int
    paid: int
    pct: float | None = Field(description="paid / enrolled in per cent, rounded down to 0.1; null if none")
    gap: list[ReasonOut]


class ReportOut(ResponseModel):
    programme: str
    period: str
    batches: list[BatchLineOut]
    paid: BucketOut
    failed: list[ReasonOut]
    held: list[ReasonOut]
    returned: BucketOut
    sent_unknown: BucketOut
    in_progress: BucketOut
    coverage: CoverageOut


def _bucket(b: Bucket) -> BucketOut:
    return BucketOut(key=b.key, count=b.count, amount=b.amount)


def _reason(b: Bucket, meaning) -> ReasonOut:
    return ReasonOut(
        key=b.key,
        count=b.count,
        amount=b.amount,
        meaning_vi=meaning(b.key, "vi"),
        meaning_en=meaning(b.key, "en"),
    )


def report_out(r: DisbursementReport) -> ReportOut:
    return ReportOut(
        programme=r.programme,
        period=r.period,
        batches=[
            BatchLineOut(
                id=b.id,
                state=b.state,
                control_count=b.control_count,
                control_sum=b.control_sum,
                held_count=b.held_count,
                created_at=b.created_at,
            )
            for b in r.batches
        ],
        paid=_bucket(r.paid),
        failed=[_reason(b, code_meaning) for b in r.failed],
        held=[_reason(b, hold_meaning) for b in r.held],
        returned=_bucket(r.returned),
        sent_unknown=_bucket(r.sent_unknown),
        in_progress=_bucket(r.in_progress),
        coverage=CoverageOut(
            enrolled=r.enrolled,
            paid=r.covered,
            pct=r.coverage_pct,
            gap=[_reason(b, gap_label) for b in r.gap],
        ),
    )


async def _report(request: web.Request, programme: str, period: str) -> DisbursementReport:
    async with request.app[POOL].acquire() as conn:
        return await disbursement_report(conn, programme, period)


@routes.get(
    "/api/v1/disbursements/reports",
    access=READERS,
    summary="Disbursement report of one programme and period: paid, refused by reason code, held by reason, "
    "returned, unknown, and coverage of the enrolled beneficiaries with the gap's reasons",
    query=ReportQuery,
    response=ReportOut,
)
async def report_api(request: web.Request, query: ReportQuery) -> web.Response:
    return json_response(report_out(await _report(request, query.programme, query.period)))


# CSV ----------------------------------------


def report_rows(r: DisbursementReport, lang: str) -> list[list[Any]]:
    """section, code, what, count, amount — one row per figure, the coverage last."""
    t = lambda key, **kw: translate(key, lang, **kw)  # noqa: E731
    rows: list[list[Any]] = [["paid", "paid", t("disb.rpt.paid"), r.paid.count, r.paid.amount]]
    rows += [["failed", b.key, code_meaning(b.key, lang), b.count, b.amount] for b in r.failed]
    rows += [["held", b.key, hold_meaning(b.key, lang), b.count, b.amount] for b in r.held]
    for b in (r.returned, r.sent_unknown, r.in_progress):
        rows.append([b.key, b.key, t(f"disb.rpt.{b.key}"), b.count, b.amount])
    rows.append(["coverage", "enrolled", t("disb.rpt.coverage"), r.enrolled, ""])
    rows.append(["coverage", "paid", format_pct(r.coverage_pct, lang), r.covered, ""])
    rows += [["gap", b.key, gap_label(b.key, lang), b.count, b.amount] for b in r.gap]
    return rows


@routes.get(
    "/disbursements/reports.csv",
    access=PAGE_READERS,
    summary="Disbursement report of one programme and period (CSV)",
    query=ReportQuery,
    in_openapi=False,
    produces="text/csv",
)
async def report_csv(request: web.Request, query: ReportQuery) -> web.Response:
    lang = request_language(request)
    report = await _report(request, query.programme, query.period)
    header = [translate(f"disb.rpt.col.{c}", lang) for c in ("section", "key", "what", "count", "amount")]
    return csv_download(f"chi-tra-{query.programme}-{query.period}.csv", header, report_rows(report, lang))


# Page ----------------------------------------


@routes.get(
    "/disbursements/reports",
    access=PAGE_READERS,
    summary="Disbursement report of one programme and period (page)",
    query=ReportPageQuery,
    in_openapi=False,
    produces="text/html",
)
async def report_page(request: web.Request, query: ReportPageQuery) -> web.Response:
    lang = request_language(request)
    report = await _report(request, query.programme, query.period)
    return render_html(
        request,
        "disbursements/report.html",
        report=report,
        programmes=PROGRAMMES,
        num=lambda n: format_count(n, lang),
        pct=format_pct(report.coverage_pct, lang),
        code_meaning=lambda c: code_meaning(c, lang),
        hold_meaning=lambda c: hold_meaning(c, lang),
        gap_label=lambda k: gap_label(k, lang),
        programme_name=report.name_en if lang == "en" else report.name_vi,
    )
