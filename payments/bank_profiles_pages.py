"""The admin page of bank profiles and keys, and its forms: read into the admin API's own models
(payments/bank_profiles.py), the same service calls as payments/bank_profiles_api.py."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from core.api import Routes, staff
from core.appkeys import KEYS, POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState, NoFields
from core.pages import render_html
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments.bank_profiles import (
    BankKeyIn,
    BankProfileIn,
    add_bank_key,
    bank_profile_list,
    create_bank_profile,
    retire_bank_key,
    set_bank_profile_active,
)
from payments.banks import SCHEMES

routes = Routes(tags=("bank-profiles",))
ADMIN = staff("admin")
_BANK = "/admin/banks/{bank_code:[a-z0-9][a-z0-9-]{1,30}}"


async def _banks_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        profiles = await bank_profile_list(conn)
        bins = await conn.fetch("SELECT bin, short_name FROM banks WHERE active ORDER BY short_name")
    return render_html(
        request,
        "payments/admin_banks.html",
        profiles=profiles,
        bins=bins,
        schemes=sorted(SCHEMES),
        form=form,
        saved=request.query.get("saved") == "1" and not form.failed,
        status=status,
    )


@routes.get(
    "/admin/banks", access=ADMIN, summary="Bank profiles page", in_openapi=False, produces="text/html"
)
async def banks_page(request: web.Request) -> web.Response:
    return await _banks_page(request)


def _form_route(path: str, summary: str, model: type[BaseModel] | None = None):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=_banks_page)


def _saved() -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/admin/banks?saved=1")


@_form_route("/admin/banks", "Register a bank (form)", BankProfileIn)
async def banks_create_form(request: web.Request, form: BankProfileIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_bank_profile(conn, form, actor=principal_of(request).actor)
    raise _saved()


@_form_route(f"{_BANK}/keys", "Add a key (form)", BankKeyIn)
async def banks_add_key_form(request: web.Request, form: BankKeyIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await add_bank_key(
            conn, request.app[KEYS], request.match_info["bank_code"], form, actor=principal_of(request).actor
        )
    raise _saved()


@_form_route(f"{_BANK}/keys/{{key_id:[A-Za-z0-9._-]{{1,64}}}}/retire", "Retire a key (form)")
async def banks_retire_key_form(request: web.Request, form: NoFields) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await retire_bank_key(
            conn,
            request.match_info["bank_code"],
            request.match_info["key_id"],
            actor=principal_of(request).actor,
        )
    raise _saved()


async def _activation(request: web.Request, active: bool) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await set_bank_profile_active(
            conn, request.match_info["bank_code"], active, actor=principal_of(request).actor
        )
    raise _saved()


@_form_route(f"{_BANK}/activate", "Activate a bank profile (form)")
async def banks_activate_form(request: web.Request, form: NoFields) -> web.Response:
    return await _activation(request, True)


@_form_route(f"{_BANK}/deactivate", "Deactivate a bank profile (form)")
async def banks_deactivate_form(request: web.Request, form: NoFields) -> web.Response:
    return await _activation(request, False)
