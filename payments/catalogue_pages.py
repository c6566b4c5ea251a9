"""Admin pages of the fee catalogue (with the collection accounts) and of the subsidy programmes, and their
forms: read into the admin API's own models (payments/catalogue.py), the same service calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationInfo, model_validator

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL, SETTINGS
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState, PagePainter
from core.money import LOCAL_TZ
from core.pages import render_html
from payments import catalogue
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments.catalogue import CollectionAccountIn, FeeChange, FeeIn, SubsidyChange, SubsidyIn
from payments.catalogue_api import FEE_PATH, PROGRAMME_PATH

routes = Routes(tags=("catalogue",))
ADMIN = staff("admin")


def _cleared_when_empty(data: Any, info: ValidationInfo, *names: str) -> Any:
    """An edit form shows every field, so an input left empty clears it (null) rather than keeping it."""
    if isinstance(data, dict) and info.context and info.context.get("form"):
        return {**dict.fromkeys(names), **data}
    return data


class FeeEditForm(FeeChange):
    """A fee's edit form: an empty "active until" makes the fee open-ended, an empty "active from" keeps
    it."""

    @model_validator(mode="before")
    @classmethod
    def _open_ended(cls, data: Any, info: ValidationInfo) -> Any:
        return _cleared_when_empty(data, info, "active_until")


class SubsidyEditForm(SubsidyChange):
    """A programme's edit form: an empty channel opens it to every channel."""

    @model_validator(mode="before")
    @classmethod
    def _every_channel(cls, data: Any, info: ValidationInfo) -> Any:
        return _cleared_when_empty(data, info, "channel")


def _local_input(moment: datetime | None) -> str:
    """The value of an <input type="datetime-local"> in Hà Nội time."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _cap(request: web.Request) -> int:
    return request.app[SETTINGS].amount_cap


def _saved(request: web.Request, form: FormState) -> bool:
    return request.query.get("saved") == "1" and not form.failed


def _form_route(path: str, summary: str, model: type[BaseModel], page: PagePainter):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=page)


# Fee catalogue page -----------------------------------------------------------------------------------------


async def _fees_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fees = await catalogue.fee_list(conn)
        accounts = await catalogue.collection_account_list(conn)
    for fee in fees:
        fee["active_now"] = catalogue.fee_is_active(fee, now)
        fee["active_from_input"] = _local_input(fee["active_from"])
        fee["active_until_input"] = _local_input(fee["active_until"])
    return render_html(
        request,
        "payments/admin_fees.html",
        status=status,
        fees=fees,
        accounts=accounts,
        form=form,
        saved=_saved(request, form),
        default_legal_basis=catalogue.DEFAULT_LEGAL_BASIS,
    )


@routes.get("/admin/fees", access=ADMIN, summary="Fee catalogue page", in_openapi=False, produces="text/html")
async def fees_page(request: web.Request) -> web.Response:
    return await _fees_page(request)


@_form_route("/admin/fees", "Add a fee (form)", FeeIn, _fees_page)
async def fees_create_form(request: web.Request, form: FeeIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await catalogue.create_fee(
            conn, form, actor=_actor(request), amount_cap=_cap(request), now=request.app[CLOCK].now()
        )
    raise web.HTTPSeeOther("/admin/fees?saved=1")


@_form_route(f"/admin/fees/{FEE_PATH}", "Change a fee (form)", FeeEditForm, _fees_page)
async def fees_edit_form(request: web.Request, form: FeeEditForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await catalogue.update_fee(
            conn, request.match_info["code"], form, actor=_actor(request), amount_cap=_cap(request)
        )
    raise web.HTTPSeeOther("/admin/fees?saved=1")


@_form_route(
    "/admin/collection-accounts", "Register a collection account (form)", CollectionAccountIn, _fees_page
)
async def collection_account_create_form(request: web.Request, form: CollectionAccountIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await catalogue.create_collection_account(conn, form, actor=_actor(request))
    raise web.HTTPSeeOther("/admin/fees?saved=1")


# Subsidy programmes page ------------------------------------------------------------------------------------


async def _subsidies_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        programmes = await catalogue.subsidy_list(conn)
        fees = await catalogue.fee_list(conn)
    for p in programmes:
        p["budget_remaining"] = p["budget_cap"] - p["budget_used"]
        p["used_percent"] = round(100 * p["budget_used"] / p["budget_cap"], 1)
        p["open_now"] = p["valid_from"] <= now < p["valid_until"]
        p["valid_from_input"] = _local_input(p["valid_from"])
        p["valid_until_input"] = _local_input(p["valid_until"])
    return render_html(
        request,
        "payments/admin_subsidies.html",
        status=status,
        programmes=programmes,
        fees=fees,
        form=form,
        saved=_saved(request, form),
    )


@routes.get(
    "/admin/subsidies",
    access=ADMIN,
    summary="Subsidy programmes page",
    in_openapi=False,
    produces="text/html",
)
async def subsidies_page(request: web.Request) -> web.Response:
    return await _subsidies_page(request)


@_form_route("/admin/subsidies", "Create a subsidy programme (form)", SubsidyIn, _subsidies_page)
async def subsidies_create_form(request: web.Request, form: SubsidyIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await catalogue.create_subsidy(conn, form, actor=_actor(request), amount_cap=_cap(request))
    raise web.HTTPSeeOther("/admin/subsidies?saved=1")


@_form_route(
    f"/admin/subsidies/{PROGRAMME_PATH}",
    "Change a subsidy programme (form)",
    SubsidyEditForm,
    _subsidies_page,
)
async def subsidies_edit_form(request: web.Request, form: SubsidyEditForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await catalogue.update_subsidy(
            conn, request.match_info["code"], form, actor=_actor(request), amount_cap=_cap(request)
        )
    raise web.HTTPSeeOther("/admin/subsidies?saved=1")
