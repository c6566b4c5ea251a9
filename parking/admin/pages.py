"""The /admin/parking page and its forms: lots, capacities, attendants, zones, tariff versions and monthly
passes. Each form is read into the JSON API's own request model (core.forms) and written through the same
services; a refusal paints the page again with the message beside its field."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState, NoFields
from core.money import LOCAL_TZ
from core.pages import render_html
from core.staff import active_usernames
from parking import messages  # noqa: F401 (the page's texts)
from parking.admin.attendants import AttendantIn, assign_attendant, unassign_attendant
from parking.admin.fields import LOT_IN_PATH, USER_IN_PATH, Price, VehicleClass
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
PAGE = "/admin/parking"
_LOT, _USER = LOT_IN_PATH, USER_IN_PATH


# What the forms add to the API's models ---------------------------------------------------------------------


class LotForm(LotIn):
    """A new lot; an unticked "active" box sends nothing, which here means inactive."""

    active: bool = False


class LotEditForm(LotFields):
    active: bool = False


class CapacityForm(CapacityIn):
    """The class is chosen in the form (in the API it is part of the path)."""

    vehicle_class: VehicleClass


class TariffForm(TariffIn):
    """Turn prices left empty are 0 (a car's hourly tariff has none); the hourly blocks are typed as JSON,
    [[1, 25000], [3, 35000]]."""

    day_turn_price: Price = 0
    night_turn_price: Price = 0

    @field_validator("hourly_blocks", mode="before")
    @classmethod
    def _blocks_as_typed(cls, value: Any, info: ValidationInfo) -> Any:
        if not (info.context and info.context.get("form")):
            return value
        # a list field takes every value of its key (core.forms): here one text input, or none
        texts = value if isinstance(value, list) else [value]
        if not all(isinstance(text, str) for text in texts):
            return value
        try:
            return [block for text in texts for block in json.loads(text)]
        except (ValueError, TypeError):
            raise PydanticCustomError(
                "parking_hourly_blocks_format", "write the blocks as [[1, 25000], [3, 35000]]"
            ) from None


# The page ---------------------------------------------------------------------------------------------------


async def _admin_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
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
        form=form,
        saved=request.query.get("saved") == "1" and not form.failed,
        lots=lots,
        zones=zones,
        tariffs=tariffs,
        passes=passes,
        accounts=accounts,
        attendant_names=attendants,
        classes=VEHICLE_CLASSES,
        local_now=now.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
    )


@routes.get(PAGE, access=ADMIN, summary="Parking admin page", in_openapi=False, produces="text/html")
async def parking_admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request)


def _form(path: str, summary: str, model: type[BaseModel] | None = None):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=_admin_page)


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _saved() -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PAGE}?saved=1")


# The forms --------------------------------------------------------------------------------------------------


@_form(f"{PAGE}/lots", "Create a lot (form)", LotForm)
async def create_lot_form(request: web.Request, form: LotForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_lot(conn, form, actor=_actor(request))
    raise _saved()


@_form(f"{PAGE}/lots/{_LOT}", "Update a lot (form)", LotEditForm)
async def update_lot_form(request: web.Request, form: LotEditForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await update_lot(conn, request.match_info["lot_id"], form, actor=_actor(request))
    raise _saved()


@_form(f"{PAGE}/lots/{_LOT}/capacities", "Set a capacity (form)", CapacityForm)
async def set_capacity_form(request: web.Request, form: CapacityForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await set_capacity(
            conn, request.match_info["lot_id"], form.vehicle_class, form.capacity, actor=_actor(request)
        )
    raise _saved()


@_form(f"{PAGE}/lots/{_LOT}/attendants", "Assign an attendant (form)", AttendantIn)
async def assign_attendant_form(request: web.Request, form: AttendantIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await assign_attendant(conn, request.match_info["lot_id"], form.username, actor=_actor(request))
    raise _saved()


@_form(f"{PAGE}/lots/{_LOT}/attendants/{_USER}/remove", "Unassign an attendant (form)", NoFields)
async def unassign_attendant_form(request: web.Request, form: NoFields) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await unassign_attendant(
            conn, request.match_info["lot_id"], request.match_info["username"], actor=_actor(request)
        )
    raise _saved()


@_form(f"{PAGE}/zones", "Create a tariff zone (form)", ZoneIn)
async def create_zone_form(request: web.Request, form: ZoneIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_zone(conn, form, actor=_actor(request))
    raise _saved()


@_form(f"{PAGE}/tariffs", "Add a tariff version (form)", TariffForm)
async def add_tariff_form(request: web.Request, form: TariffForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await add_tariff_version(conn, form, actor=_actor(request), now=request.app[CLOCK].now())
    raise _saved()


@_form(f"{PAGE}/passes", "Sell a monthly pass (form)", PassIn)
async def create_pass_form(request: web.Request, form: PassIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_monthly_pass(conn, form, actor=_actor(request))
    raise _saved()
