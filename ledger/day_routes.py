"""Day close for finance: which days are closed, and closing the next one — by API, on the `/ledger/days`
page, or with `python main.py close-day YYYY-MM-DD`. All three go through `ledger.days.close_day`, which
refuses a day that has not ended in Hà Nội and a day already closed, and audits the close."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.timebounds import BoundedDate
from ledger import messages as _messages  # noqa: F401  (registers the ledger's texts)
from ledger.days import ClosedDay, close_day, last_closed_day, recent_closes

routes = Routes(tags=("ledger",))
CLOSERS = staff("finance", "admin")
READERS = staff("finance", "admin", scopes=("ledger:read",))


class CloseDayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    business_date: BoundedDate


class ClosedDayOut(ResponseModel):
    business_date: date
    closed_at: Timestamp
    closed_by: str
    accounts: int


class DaysOut(ResponseModel):
    closed_through: date | None
    recent: list[ClosedDayOut]


def _out(day: ClosedDay) -> ClosedDayOut:
    return ClosedDayOut(
        business_date=day.business_date,
        closed_at=day.closed_at,
        closed_by=day.closed_by,
        accounts=day.accounts,
    )


@routes.get("/api/v1/ledger/days", access=READERS, summary="Closed business days", response=DaysOut)
async def closed_days_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        through = await last_closed_day(conn)
        recent = await recent_closes(conn)
    return json_response(DaysOut(closed_through=through, recent=[_out(d) for d in recent]))


@routes.post(
    "/api/v1/ledger/days/close",
    access=CLOSERS,
    summary="Close a business day (and every day before it)",
    body=CloseDayIn,
    response=ClosedDayOut,
    status=201,
    responses={409: "Already closed"},
)
async def close_day_api(request: web.Request, body: CloseDayIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        closed = await close_day(
            conn, body.business_date, actor=principal_of(request).actor, now=request.app[CLOCK].now()
        )
    return json_response(_out(closed), status=201)


async def _days_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        through = await last_closed_day(conn)
        recent = await recent_closes(conn)
    return render_html(
        request,
        "ledger/days.html",
        status=status,
        form=form,
        closed_through=through,
        recent=recent,
        saved=request.query.get("saved") == "1" and not form.failed,
    )


@routes.get("/ledger/days", access=CLOSERS, summary="Day close page", in_openapi=False, produces="text/html")
async def days_page(request: web.Request) -> web.Response:
    return await _days_page(request)


@routes.form_post(
    "/ledger/days/close",
    access=CLOSERS,
    summary="Close a business day (form)",
    form=CloseDayIn,
    page=_days_page,
)
async def close_day_form(request: web.Request, form: CloseDayIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await close_day(
            conn, form.business_date, actor=principal_of(request).actor, now=request.app[CLOCK].now()
        )
    raise web.HTTPSeeOther("/ledger/days?saved=1")
