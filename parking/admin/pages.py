"""The /admin/parking page and its forms: lots, capacities, attendants, zones, tariff versions and monthly
passes, written through the same services as the JSON API (parking/admin/api.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.errors import ValidationFailed
from core.money import LOCAL_TZ
from core.pages import render_html, run_form_action
from core.staff import active_usernames
from parking import messages  # noqa: F401 (the page's texts)
from parking.admin.attendants import AttendantIn, assign_attendant, unassign_attendant
from parking.admin.lots import CapacityIn, LotFields, LotIn, admin_lots, create_lot, set_capacity, update_lot
from parking.admin.passes import PassIn, create_monthly_pass, monthly_passes
from parking.admin.tariff_versions import (
    TariffIn,
    ZoneIn,
    add_tariff_version,
    create_zone,
    tariff_versions,
    tariff_zones,
)
from parking.plates import VEHICLE_CLASSES
from payments import active_collection_account_codes

routes = Routes(tags=("parking-admin",))
ADMIN = staff("admin")
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"
_USER = "{username:[a-z0-9][a-z0-9._-]{1,62}}"


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


async def _admin_page(
    request: web.Request, *, error: str | None = None, saved: bool = False, status: int = 200
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        lots = await admin_lots(conn)
        zones = await tariff_zones(conn)
        tariffs = await tariff_versions(conn, now=now)
        passes = await monthly_passes(conn, limit=50)
        accounts = await active_collection_account_codes(conn)
        attendants = await active_usernames(conn, role="attendant")
    return render_html(
        request,
        "parking/admin_lots.html",
        status=status,
        error=error,
        saved=saved,
        lots=lots,
        zones=zones,
        tariffs=tariffs,
        passes=passes,
        accounts=accounts,
        attendant_names=attendants,
        classes=VEHICLE_CLASSES,
        local_now=now.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
    )


@routes.get(
    "/admin/parking", access=ADMIN, summary="Parking admin page", in_openapi=False, produces="text/html"
)
async def parking_admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request, saved=request.query.get("saved") == "1")


def _field(form, name: str) -> str | None:
    value = form.get(name)
    return str(value).strip() if value not in (None, "") else None


def _number(form, name: str, kind: type = int) -> Any:
    """Form text to a number; left as text when it is not one, so the model's check names the field."""
    raw = _field(form, name)
    if raw is None:
        return None
    try:
        return kind(raw.replace(",", ".") if kind is not int else raw)
    except ValueError:
        return raw


def _local_moment(raw: str | None) -> Any:
    """`<input type=datetime-local>` gives Hà Nội wall time without an offset."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def _lot_fields(form) -> dict:
    return {
        "name": _field(form, "name"),
        "address": _field(form, "address"),
        "ward": _field(form, "ward"),
        "lat": _number(form, "lat", float),
        "lon": _number(form, "lon", float),
        "zone": _field(form, "zone"),
        "opens_at": _field(form, "opens_at"),
        "closes_at": _field(form, "closes_at"),
        "collection_account_code": _field(form, "collection_account_code"),
        "active": form.get("active") in ("1", "on", "true"),
    }


async def _run_form(request: web.Request, action: Callable[[asyncpg.Connection, Any], Awaitable[None]]):
    """Run one form's write; on refusal show the page again with the reason (and the status an API gets)."""
    return await run_form_action(request, action, page=_admin_page, back="/admin/parking")


def _form_route(path: str, summary: str):
    return routes.post(path, access=ADMIN, summary=summary, in_openapi=False, form=True, produces="text/html")


@_form_route("/admin/parking/lots", "Create a lot (form)")
async def create_lot_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = LotIn.model_validate({"id": _field(form, "id"), **_lot_fields(form)})
        await create_lot(conn, body, actor=_actor(request))

    return await _run_form(request, action)


@_form_route(f"/admin/parking/lots/{_LOT}", "Update a lot (form)")
async def update_lot_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = LotFields.model_validate(_lot_fields(form))
        await update_lot(conn, request.match_info["lot_id"], body, actor=_actor(request))

    return await _run_form(request, action)


@_form_route(f"/admin/parking/lots/{_LOT}/capacities", "Set a capacity (form)")
async def set_capacity_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = CapacityIn.model_validate({"capacity": _number(form, "capacity")})
        await set_capacity(
            conn,
            request.match_info["lot_id"],
            _field(form, "vehicle_class") or "",
            body.capacity,
            actor=_actor(request),
        )

    return await _run_form(request, action)


@_form_route(f"/admin/parking/lots/{_LOT}/attendants", "Assign an attendant (form)")
async def assign_attendant_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = AttendantIn.model_validate({"username": _field(form, "username")})
        await assign_attendant(conn, request.match_info["lot_id"], body.username, actor=_actor(request))

    return await _run_form(request, action)


@_form_route(f"/admin/parking/lots/{_LOT}/attendants/{_USER}/remove", "Unassign an attendant (form)")
async def unassign_attendant_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        await unassign_attendant(
            conn, request.match_info["lot_id"], request.match_info["username"], actor=_actor(request)
        )

    return await _run_form(request, action)


@_form_route("/admin/parking/zones", "Create a tariff zone (form)")
async def create_zone_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = ZoneIn.model_validate({k: _field(form, k) for k in ("code", "name_vi", "name_en")})
        await create_zone(conn, body, actor=_actor(request))

    return await _run_form(request, action)


@_form_route("/admin/parking/tariffs", "Add a tariff version (form)")
async def add_tariff_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        raw_blocks = _field(form, "hourly_blocks")
        try:
            blocks = json.loads(raw_blocks) if raw_blocks else []
        except ValueError:
            raise ValidationFailed(
                "write the blocks as [[1, 25000], [3, 35000]]", field="hourly_blocks"
            ) from None
        body = TariffIn.model_validate(
            {
                "zone": _field(form, "zone"),
                "vehicle_class": _field(form, "vehicle_class"),
                "effective_from": _local_moment(_field(form, "effective_from")),
                "day_turn_price": _number(form, "day_turn_price") or 0,
                "night_turn_price": _number(form, "night_turn_price") or 0,
                "hourly_blocks": blocks,
                "overnight_multiplier": _field(form, "overnight_multiplier"),
                "monthly_pass_price": _number(form, "monthly_pass_price"),
            }
        )
        await add_tariff_version(conn, body, actor=_actor(request), now=request.app[CLOCK].now())

    return await _run_form(request, action)


@_form_route("/admin/parking/passes", "Sell a monthly pass (form)")
async def create_pass_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        body = PassIn.model_validate(
            {
                "lot_id": _field(form, "lot_id"),
                "plate": _field(form, "plate"),
                "vehicle_class": _field(form, "vehicle_class"),
                "valid_from": _field(form, "valid_from"),
                "valid_until": _field(form, "valid_until"),
                "price": _number(form, "price"),
            }
        )
        await create_monthly_pass(conn, body, actor=_actor(request))

    return await _run_form(request, action)
