"""Day close per collection account, for finance: by API (`POST /api/v1/reconciliation/days/close`, or the
day named in the path: `…/days/{bin}/{account}/{date}/close`, as SPEC.md fixes it) and on
the `/reconciliation/days` page. Both go through reconciliation.days.close_account_day, which refuses a day
whose statement is missing, whose exceptions are open, or whose balances differ (naming the difference)."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from core.api import Routes, staff, validation_problem
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState
from core.i18n import request_language
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.timebounds import BoundedDate
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)
from reconciliation.days import AccountDay, AccountDayRefused, account_days, close_account_day
from reconciliation.exception_routes import AccountNumber, Bin

routes = Routes(tags=("reconciliation",))
CLOSERS = staff("finance", "admin")
READERS = staff("finance", "admin", "approver", scopes=("reconciliation:read",))


class CloseAccountDayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bin: Bin
    account_number: AccountNumber
    business_date: BoundedDate


class AccountDayOut(ResponseModel):
    bin: str
    account_number: str
    business_date: date
    statement_closing: int
    ledger_closing: int
    carried: int
    closed_by: str
    closed_at: Timestamp
    ledger_day_closed: bool


class AccountDayRow(ResponseModel):
    bin: str
    account_number: str
    business_date: date
    statement_closing: int
    ledger_closing: int
    carried: int
    closed_by: str
    closed_at: Timestamp


class AccountDaysOut(ResponseModel):
    days: list[AccountDayRow]


def _out(day: AccountDay) -> AccountDayOut:
    return AccountDayOut(**{k: getattr(day, k) for k in AccountDayOut.model_fields})


async def _close(request: web.Request, body: CloseAccountDayIn) -> AccountDay:
    async with request.app[POOL].acquire() as conn:
        return await close_account_day(
            conn,
            body.bin,
            body.account_number,
            body.business_date,
            actor=principal_of(request).actor,
            now=request.app[CLOCK].now(),
        )


@routes.get(
    "/api/v1/reconciliation/days",
    access=READERS,
    summary="Closed days of the collection accounts",
    response=AccountDaysOut,
)
async def account_days_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await account_days(conn)
    return json_response(AccountDaysOut(days=[AccountDayRow(**dict(r)) for r in rows]))


@routes.post(
    "/api/v1/reconciliation/days/close",
    access=CLOSERS,
    summary="Close a collection account's day (and the ledger's when it is the last account to close it)",
    body=CloseAccountDayIn,
    response=AccountDayOut,
    status=201,
    responses={409: "Already closed, exceptions open, or the balances differ", 422: "No statement"},
)
async def close_account_day_api(request: web.Request, body: CloseAccountDayIn) -> web.Response:
    return json_response(_out(await _close(request, body)), status=201)


_DAY_IN_PATH = {"bin": "bin", "account": "account_number", "date": "business_date"}  # path name: field


@routes.post(
    "/api/v1/reconciliation/days/{bin}/{account}/{date}/close",
    access=CLOSERS,
    summary="Close a collection account's day, named in the path (the same as …/days/close with a body)",
    response=AccountDayOut,
    status=201,
    responses={409: "Already closed, exceptions open, or the balances differ", 422: "No statement"},
)
async def close_account_day_by_path(request: web.Request) -> web.Response:
    try:
        body = CloseAccountDayIn.model_validate(
            {field: request.match_info[name] for name, field in _DAY_IN_PATH.items()}
        )
    except ValidationError as exc:
        raise validation_problem(exc) from None
    return json_response(_out(await _close(request, body)), status=201)


async def _days_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await account_days(conn)
    return render_html(
        request,
        "reconciliation/days.html",
        status=status,
        form=form,
        days=rows,
        saved=request.query.get("saved") == "1" and not form.failed,
    )


@routes.get(
    "/reconciliation/days",
    access=READERS,
    summary="Account day close page",
    in_openapi=False,
    produces="text/html",
)
async def account_days_page(request: web.Request) -> web.Response:
    return await _days_page(request)


@routes.form_post(
    "/reconciliation/days/close",
    access=CLOSERS,
    summary="Close a collection account's day (form)",
    form=CloseAccountDayIn,
    page=_days_page,
)
async def close_account_day_form(request: web.Request, form: CloseAccountDayIn) -> web.Response:
    try:
        await _close(request, form)
    except AccountDayRefused as refused:
        # The refusal's sentence, with its figures, as the form's summary (not beside one field).
        lang = request_language(request)
        state = FormState(
            action=request.path,
            typed=form.model_dump(mode="json"),
            summary=refused.sentence(lang),
        )
        return await _days_page(request, form=state, status=refused.status)
    raise web.HTTPSeeOther("/reconciliation/days?saved=1")
