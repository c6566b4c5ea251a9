"""The admin page of the banking apps shown on the pay page (/admin/bank-apps): list, add, edit, disable or
enable, remove (after a confirmation). Forms through core.forms; the changes and their audit rows are in
payments/bank_apps.py."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from core.api import Routes, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState, NoFields
from core.pages import render_html
from payments import bank_apps
from payments import bank_apps_messages as _texts  # noqa: F401  (registers the page's texts)
from payments.bank_apps import BankAppChange, BankAppIn

routes = Routes(tags=("bank-apps",))
ADMIN = staff("admin")
PAGE = "/admin/bank-apps"
APP_PATH = "{app_id:[a-z0-9][a-z0-9-]{0,31}}"


class BankAppEditForm(BankAppChange):
    """The edit form: name, bank and order (enabling and disabling have their own buttons)."""


async def _page(request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200) -> web.Response:
    pool = request.app[POOL]
    apps = await bank_apps.list_apps(pool)
    banks = await pool.fetch("SELECT bin, short_name FROM banks WHERE active ORDER BY short_name, bin")
    return render_html(
        request,
        "payments/admin_bank_apps.html",
        status=status,
        apps=apps,
        banks=banks,
        form=form,
        saved=request.query.get("saved") == "1" and not form.failed,
    )


@routes.get(PAGE, access=ADMIN, summary="Banking apps page", in_openapi=False, produces="text/html")
async def bank_apps_page(request: web.Request) -> web.Response:
    return await _page(request)


def _form_route(path: str, summary: str, model: type[BaseModel] | None = None):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=_page)


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _saved() -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PAGE}?saved=1")


@_form_route(PAGE, "Add a banking app (form)", BankAppIn)
async def bank_app_create_form(request: web.Request, form: BankAppIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await bank_apps.create_app(conn, form, actor=_actor(request))
    raise _saved()


@_form_route(f"{PAGE}/{APP_PATH}", "Change a banking app (form)", BankAppEditForm)
async def bank_app_edit_form(request: web.Request, form: BankAppEditForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await bank_apps.update_app(conn, request.match_info["app_id"], form, actor=_actor(request))
    raise _saved()


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await bank_apps.update_app(
            conn, request.match_info["app_id"], BankAppChange(enabled=enabled), actor=_actor(request)
        )
    raise _saved()


@_form_route(f"{PAGE}/{APP_PATH}/disable", "Disable a banking app (form)")
async def bank_app_disable_form(request: web.Request, form: NoFields) -> web.Response:
    return await _set_enabled(request, False)


@_form_route(f"{PAGE}/{APP_PATH}/enable", "Enable a banking app (form)")
async def bank_app_enable_form(request: web.Request, form: NoFields) -> web.Response:
    return await _set_enabled(request, True)


@_form_route(f"{PAGE}/{APP_PATH}/remove", "Remove a banking app (form)")
async def bank_app_remove_form(request: web.Request, form: NoFields) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await bank_apps.remove_app(conn, request.match_info["app_id"], actor=_actor(request))
    raise _saved()
