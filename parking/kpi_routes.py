"""Parking KPIs over HTTP for finance and admin: JSON, CSV for Excel, and a page with a table and an SVG chart
drawn by the service (no scripts, no third-party content)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from core.api import Routes, staff, validation_problem
from core.appkeys import CLOCK, POOL, SETTINGS
from core.auth import current_principal
from core.errors import ValidationFailed
from core.i18n import request_language, translate
from core.money import LOCAL_TZ, format_vnd
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.text import FreeText, spreadsheet_safe
from parking import messages  # noqa: F401 (the texts its pages show)
from parking.kpis import (
    CASHLESS_TARGET,
    COUNT_FIELDS,
    MONEY_FIELDS,
    KpiFilter,
    KpiRangeError,
    format_share,
    parking_kpis,
    total_row,
)
from parking.lots import wards

routes = Routes(tags=("parking-kpis",))
KPI_READERS = staff("finance", "admin")
VehicleClass = Literal["bicycle", "motorbike", "car", "large_car"]
_EARLIEST, _LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _bounded(value: date) -> date:
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError(f"between {_EARLIEST} and {_LATEST}")
    return value


BusinessDay = Annotated[
    date, AfterValidator(_bounded)
]  # as core.timebounds.BoundedDate, with its own message


class KpiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date_from: BusinessDay = Field(alias="from", description="First business day, YYYY-MM-DD (Hà Nội)")
    date_to: BusinessDay = Field(alias="to", description="Last business day, inclusive; at most 366 days")
    group: Literal["lot", "ward", "day"] = "lot"
    vehicle_class: VehicleClass | None = None
    ward: FreeText | None = Field(default=None, min_length=1, max_length=100, description="Only this ward")

    def kpi_filter(self) -> KpiFilter:
        try:
            return KpiFilter(self.date_from, self.date_to, self.group, self.vehicle_class, self.ward)
        except KpiRangeError as exc:
            raise ValidationFailed(str(exc), field="to") from None


class KpiRow(ResponseModel):
    key: str | None = Field(description="Lot id, ward or YYYY-MM-DD; null on the totals")
    label: str | None
    vehicle_class: str | None = Field(description="null: all classes")
    turns: int
    closed_turns: int
    paid_turns: int
    pass_turns: int
    cash_turns: int
    free_turns: int
    unpaid_turns: int
    pending_turns: int
    cashless_share: float | None = Field(description="(paid + pass) / (paid + pass + cash), 0–1")
    revenue: int
    cashless_revenue: int
    cash_revenue: int
    unpaid_amount: int
    avg_stay_minutes: float | None


class KpiReport(ResponseModel):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    group: str
    vehicle_class: str | None
    ward: str | None
    generated_at: Timestamp
    cashless_target: float
    rows: list[KpiRow]
    total: KpiRow


async def _kpi_rows(request: web.Request, kpi: KpiFilter) -> tuple[datetime, list[dict]]:
    """When the figures were taken, and their rows (see `parking_kpis`); the API, CSV and page show them."""
    now = request.app[CLOCK].now()
    expiry = timedelta(minutes=request.app[SETTINGS].expiry_parking_minutes)
    async with request.app[POOL].acquire() as conn:
        rows = await parking_kpis(conn, kpi, now=now, payment_expiry=expiry)
    return now, rows


@routes.get(
    "/api/v1/parking/kpis",
    access=KPI_READERS,
    summary="Parking KPIs: turns, cashless share, cash, revenue, stay, unpaid — per lot, ward or day",
    query=KpiQuery,
    response=KpiReport,
)
async def kpis_api(request: web.Request, query: KpiQuery) -> web.Response:
    kpi = query.kpi_filter()
    now, rows = await _kpi_rows(request, kpi)
    report = KpiReport(
        date_from=kpi.date_from,
        date_to=kpi.date_to,
        group=kpi.group,
        vehicle_class=kpi.vehicle_class,
        ward=kpi.ward,
        generated_at=now,
        cashless_target=float(CASHLESS_TARGET),
        rows=[KpiRow.model_validate(r) for r in rows],
        total=KpiRow.model_validate(total_row(rows)),
    )
    return json_response(report)


CSV_COLUMNS = (
    "key",
    "label",
    "vehicle_class",
    *COUNT_FIELDS,
    "cashless_share",
    *MONEY_FIELDS,
    "avg_stay_minutes",
)


def kpi_csv(rows: list[dict]) -> str:
    """RFC 4180 CSV with a header row, led by a UTF-8 byte-order mark so Excel reads Vietnamese names right.
    Totals carry the key `TOTAL` and classes `ALL`; shares are fractions 0–1 with a dot, money whole đồng."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        line = []
        for col in CSV_COLUMNS:
            value = r[col]
            if col == "key" and value is None:
                value = "TOTAL"
            elif col == "vehicle_class" and value is None:
                value = "ALL"
            elif col == "cashless_share" and value is not None:
                value = f"{value:.4f}"
            line.append("" if value is None else spreadsheet_safe(value))  # lot names, wards: typed text
        writer.writerow(line)
    return out.getvalue()


@routes.get(
    "/api/v1/parking/kpis.csv",
    access=KPI_READERS,
    summary="Parking KPIs as CSV (UTF-8 with BOM, header row) for Excel",
    query=KpiQuery,
    produces="text/csv",
)
async def kpis_csv(request: web.Request, query: KpiQuery) -> web.Response:
    kpi = query.kpi_filter()
    _, rows = await _kpi_rows(request, kpi)
    name = f"parking-kpis_{kpi.group}_{kpi.date_from}_{kpi.date_to}.csv"
    return web.Response(
        text=kpi_csv(rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# The page -----------------------------------------------------------------------------------------------


def format_count(n: int) -> str:
    """843892 → '843.892', grouped like money."""
    return f"{n:,}".replace(",", ".")


def format_minutes(minutes: float | None) -> str:
    return "—" if minutes is None else f"{minutes:.1f}".replace(".", ",")


CHART_WIDTH, CHART_LABEL_W, CHART_BAR_W, CHART_ROW_H = 640, 210, 360, 26


def share_chart(rows: list[dict], *, lang: str) -> dict:
    """Geometry of the horizontal bar chart (cashless share per key over all classes, target line); the
    template draws it as inline SVG, so every label goes through the template's escaping."""
    bars = []
    for i, r in enumerate(x for x in rows if x["key"] is not None and x["vehicle_class"] is None):
        share = r["cashless_share"]
        bars.append(
            {
                "label": r["label"] if len(r["label"]) <= 30 else r["label"][:29] + "…",
                "title": f"{r['label']}: {format_share(share)} · {r['turns']}",
                "y": 8 + i * CHART_ROW_H,
                "width": round(CHART_BAR_W * share, 1) if share is not None else 0,
                "text": format_share(share),
                "ok": share is not None and share >= float(CASHLESS_TARGET),
                "empty": share is None,
            }
        )
    height = 8 + len(bars) * CHART_ROW_H + 24
    target_x = CHART_LABEL_W + CHART_BAR_W * float(CASHLESS_TARGET)
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": height,
        "label_w": CHART_LABEL_W,
        "bar_w": CHART_BAR_W,
        "row_h": CHART_ROW_H,
        "target_x": round(target_x, 1),
        "target_text": translate("pkpi.target", lang, share=format_share(CASHLESS_TARGET)),
        "axis_y": height - 18,
    }


def _page_filter(request: web.Request) -> tuple[KpiFilter, str | None]:
    """The page's filters, leniently: an empty field means its default; a bad range is shown, not a 422."""
    today = request.app[CLOCK].now().astimezone(LOCAL_TZ).date()
    default = KpiFilter(today - timedelta(days=6), today)
    raw = {k: v for k, v in request.query.items() if v != ""}
    raw.setdefault("from", default.date_from.isoformat())
    raw.setdefault("to", default.date_to.isoformat())
    lang = request_language(request)  # the page shows the sentence in the reader's language, never `detail`
    try:
        return KpiQuery.model_validate(raw).kpi_filter(), None
    except ValidationError as exc:
        return default, validation_problem(exc).sentence(lang)
    except ValidationFailed as exc:
        return default, exc.sentence(lang)


@routes.get(
    "/parking/kpis",
    access=KPI_READERS,
    summary="Parking KPI page",
    in_openapi=False,
    produces="text/html",
)
async def kpis_page(request: web.Request) -> web.Response:
    await current_principal(request)
    kpi, error = _page_filter(request)
    _, rows = await _kpi_rows(request, kpi)
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        ward_list = await wards(conn)
    params = {"from": kpi.date_from.isoformat(), "to": kpi.date_to.isoformat(), "group": kpi.group}
    if kpi.vehicle_class:
        params["vehicle_class"] = kpi.vehicle_class
    if kpi.ward:
        params["ward"] = kpi.ward
    csv_url = str(request.app.router["kpis_csv"].url_for().with_query(params))
    groups = [r for r in rows if r["key"] is not None]
    totals = [r for r in rows if r["key"] is None]
    return render_html(
        request,
        "parking/kpis.html",
        kpi=kpi,
        error=error,
        groups=groups,
        totals=totals,
        total=total_row(rows),
        chart=share_chart(rows, lang=lang),
        wards=ward_list,
        csv_url=csv_url,
        share=format_share,
        money=format_vnd,
        count=format_count,
        minutes=format_minutes,
    )
