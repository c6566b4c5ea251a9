"""Finance's exceptions: the list (age, owner, state; filters) and one exception with its actions as forms
(`/reconciliation/exceptions`), the JSON API beside them, and running the matching for an account and period.
Handlers translate HTTP; reconciliation.exceptions and reconciliation.matching own the transactions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import CLOCK, KEYS, POOL, SETTINGS
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState
from core.money import LOCAL_TZ
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.text import MultilineText
from core.timebounds import BoundedDate
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)
from reconciliation.exceptions import (
    KINDS,
    ReconException,
    exception_by_id,
    exception_context,
    list_exceptions,
    resolve_exception,
)
from reconciliation.matching import account_run_lock, match_account_days

routes = Routes(tags=("reconciliation",))
FINANCE = staff("finance", "admin")
READERS = staff("finance", "admin", "approver", scopes=("reconciliation:read",))
ID_PATH = "{exception_id:[0-9]{1,18}}"

Kind = Literal[
    "in_bank_not_ledger", "in_ledger_not_bank", "amount_differs", "duplicate", "reversal", "callback_conflict"
]
Action = Literal["link", "accept_match", "expected", "carry", "refund", "adjustment", "write_off"]
Bin = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
AccountNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,34}$")]
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class ExceptionsQuery(BaseModel):
    """SPEC.md names the filters `account`, `date`, `kind`, `state`; `account_number` and `business_date`,
    the names of the answer's fields, are taken too."""

    model_config = ConfigDict(extra="forbid")
    state: Literal["open", "resolved", "carried"] | None = "open"
    kind: Kind | None = None
    bin: Bin | None = None
    account_number: AccountNumber | None = Field(
        default=None, validation_alias=AliasChoices("account", "account_number")
    )
    business_date: BoundedDate | None = Field(
        default=None, validation_alias=AliasChoices("date", "business_date")
    )


class ExceptionOut(ResponseModel):
    id: int
    kind: Kind
    bin: str
    account_number: str
    business_date: date
    line_id: int | None
    entry_id: int | None
    amount: int
    owner: str | None
    state: Literal["open", "resolved", "carried"]
    resolution: str | None
    note: str | None
    opened_at: Timestamp
    resolved_by: str | None
    resolved_at: Timestamp | None
    age_days: int
    escalated: bool


class ExceptionsOut(ResponseModel):
    exceptions: list[ExceptionOut]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    note: Annotated[MultilineText, Field(min_length=1, max_length=2000)]
    entry_id: RowId | None = None
    line_id: RowId | None = None
    match_id: RowId | None = None


class ResolutionOut(ResponseModel):
    exception: ExceptionOut
    approval_id: int | None


class MatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    bin: Bin
    account_number: AccountNumber
    start: BoundedDate = Field(alias="from")
    end: BoundedDate | None = Field(default=None, alias="to")


class MatchOut(ResponseModel):
    matched: dict[str, int]
    proposed: dict[str, int]
    settled: int
    exceptions: dict[str, int]
    resolved: int


def _out(e: ReconException) -> ExceptionOut:
    return ExceptionOut(**{k: getattr(e, k) for k in ExceptionOut.model_fields})


def _today(request: web.Request) -> date:
    return request.app[CLOCK].now().astimezone(LOCAL_TZ).date()


def _expected_days(request: web.Request) -> int:
    return request.app[SETTINGS].recon_expected_days


@routes.get(
    "/api/v1/reconciliation/exceptions",
    access=READERS,
    summary="Reconciliation exceptions (open by default), with age and whether escalated",
    query=ExceptionsQuery,
    response=ExceptionsOut,
)
async def exceptions_api(request: web.Request, query: ExceptionsQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await list_exceptions(
            conn,
            today=_today(request),
            expected_days=_expected_days(request),
            state=query.state,
            kind=query.kind,
            bin_=query.bin,
            account_number=query.account_number,
            business_date=query.business_date,
        )
    return json_response(ExceptionsOut(exceptions=[_out(e) for e in found]))


@routes.get(
    f"/api/v1/reconciliation/exceptions/{ID_PATH}",
    access=READERS,
    summary="One reconciliation exception",
    response=ExceptionOut,
    responses={404: "No such exception"},
)
async def exception_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await exception_by_id(
            conn,
            path_id(request, "exception_id"),
            today=_today(request),
            expected_days=_expected_days(request),
        )
    return json_response(_out(found))


async def _resolve(request: web.Request, body: ResolveIn):
    exception_id = path_id(request, "exception_id")
    async with request.app[POOL].acquire() as conn:
        resolution = await resolve_exception(
            conn,
            exception_id,
            action=body.action,
            note=body.note,
            actor=principal_of(request).actor,
            entry_id=body.entry_id,
            line_id=body.line_id,
            match_id=body.match_id,
        )
        found = await exception_by_id(
            conn, exception_id, today=_today(request), expected_days=_expected_days(request)
        )
    return resolution, found


@routes.post(
    f"/api/v1/reconciliation/exceptions/{ID_PATH}/resolve",
    access=FINANCE,
    summary="Resolve an exception with a note (refund, adjustment and write-off wait for an approver)",
    body=ResolveIn,
    response=ResolutionOut,
    responses={404: "No such exception", 409: "Not open, or a correction is already pending"},
)
async def resolve_api(request: web.Request, body: ResolveIn) -> web.Response:
    resolution, found = await _resolve(request, body)
    return json_response(ResolutionOut(exception=_out(found), approval_id=resolution.approval_id))


@routes.post(
    "/api/v1/reconciliation/match",
    access=FINANCE,
    summary="Match an account's statement lines for a period and classify the exceptions",
    body=MatchIn,
    response=MatchOut,
)
async def match_api(request: web.Request, body: MatchIn) -> web.Response:
    settings = request.app[SETTINGS]
    async with account_run_lock(body.bin, body.account_number), request.app[POOL].acquire() as conn:
        report = await match_account_days(
            conn,
            body.bin,
            body.account_number,
            body.start,
            body.end,
            keys=request.app[KEYS],
            window_days=settings.recon_date_window_days,
            sanity_cap=settings.inbound_sanity_cap,
        )
    return json_response(
        MatchOut(
            matched=dict(report.matched),
            proposed=dict(report.proposed),
            settled=report.settled,
            exceptions={k: v for k, v in report.exceptions.items() if v},
            resolved=report.resolved,
        )
    )


# Pages ------------------------------------------------------------------------------------------------------


@routes.get(
    "/reconciliation/exceptions",
    access=READERS,
    summary="Exceptions page",
    in_openapi=False,
    produces="text/html",
)
async def exceptions_page(request: web.Request) -> web.Response:
    state = request.query.get("state", "open")
    kind = request.query.get("kind") or None
    async with request.app[POOL].acquire() as conn:
        found = await list_exceptions(
            conn,
            today=_today(request),
            expected_days=_expected_days(request),
            state=state if state in ("open", "resolved", "carried") else None,
            kind=kind if kind in KINDS else None,
        )
    return render_html(
        request, "reconciliation/exceptions.html", exceptions=found, state=state, kind=kind, kinds=KINDS
    )


async def _exception_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await exception_by_id(
            conn,
            path_id(request, "exception_id"),
            today=_today(request),
            expected_days=_expected_days(request),
        )
        context = await exception_context(conn, found)
    return render_html(
        request,
        "reconciliation/exception.html",
        status=status,
        form=form,
        exc=found,
        saved=request.query.get("saved") == "1" and not form.failed,
        **context,
    )


@routes.get(
    f"/reconciliation/exceptions/{ID_PATH}",
    access=READERS,
    summary="Exception page",
    in_openapi=False,
    produces="text/html",
)
async def exception_page(request: web.Request) -> web.Response:
    return await _exception_page(request)


@routes.form_post(
    f"/reconciliation/exceptions/{ID_PATH}/resolve",
    access=FINANCE,
    summary="Resolve an exception (form)",
    form=ResolveIn,
    page=_exception_page,
)
async def resolve_form(request: web.Request, form: ResolveIn) -> web.Response:
    await _resolve(request, form)
    raise web.HTTPSeeOther(f"/reconciliation/exceptions/{path_id(request, 'exception_id')}?saved=1")
