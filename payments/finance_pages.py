"""Finance's page of payment requests (underpaid ones held), money to refund and callbacks needing a look."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.api import Routes, staff
from core.appkeys import POOL
from core.pages import render_html
from payments import catalogue, finance_views
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments.callback_issues import callback_issues
from payments.catalogue import FEE_CODE
from payments.finance_views import REFUND_OUTCOMES, REQUEST_STATUSES

routes = Routes(tags=("catalogue",))
FINANCE = staff("finance", "admin")
PAGE_LIMIT = 200


class FinancePaymentsQuery(BaseModel):
    """The filter form: empty inputs mean "any"; dates are Hà Nội calendar days, both ends included."""

    model_config = ConfigDict(extra="ignore")
    status: Literal["pending", "paid", "expired", "cancelled"] | None = None
    fee_code: str | None = Field(default=None, pattern=FEE_CODE)
    date_from: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2999, 12, 31))
    date_to: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2999, 12, 31))
    underpaid: bool = False

    @model_validator(mode="before")
    @classmethod
    def _empty_is_any(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data


@routes.get(
    "/finance/payments",
    access=FINANCE,
    summary="Payment requests and money to refund (page)",
    query=FinancePaymentsQuery,
    in_openapi=False,
    produces="text/html",
)
async def finance_payments_page(request: web.Request, query: FinancePaymentsQuery) -> web.Response:
    start, end = finance_views.local_day_range(query.date_from, query.date_to)
    async with request.app[POOL].acquire() as conn:
        rows, total = await finance_views.payment_requests_for_review(
            conn,
            status=query.status,
            fee_code=query.fee_code,
            created_from=start,
            created_to=end,
            underpaid_only=query.underpaid,
            limit=PAGE_LIMIT,
        )
        refunds = await finance_views.money_to_refund(
            conn, booked_from=start, booked_to=end, limit=PAGE_LIMIT
        )
        fee_codes = [f["code"] for f in await catalogue.fee_list(conn)]
        callbacks = await callback_issues(conn)
    return render_html(
        request,
        "payments/finance_payments.html",
        callbacks=callbacks,
        query=query,
        requests=rows,
        total=total,
        refunds=refunds,
        refunds_total=sum(r["to_refund"] for r in refunds),
        fee_codes=fee_codes,
        statuses=REQUEST_STATUSES,
        outcomes=REFUND_OUTCOMES,
        limit=PAGE_LIMIT,
    )
