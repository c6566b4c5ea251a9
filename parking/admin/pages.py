"""The parking administration pages, one concern each — /admin/parking/lots, /tariffs, /passes and
/attendants (/admin/parking leads to the lots) — and their forms: lots, capacities, attendants, zones, tariff
versions and monthly passes. Each form is read into the JSON API's own request model (core.forms) and written
through the same services; a refusal paints the page the form lives on again, with the message beside its
field, and a success returns to that page."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState, NoFields
from core.i18n import request_language
from core.money import LOCAL_TZ, format_local_date, format_number
from core.pages import render_html
from core.staff import active_usernames
from parking import admin_messages, messages  # noqa: F401 (the pages' texts)
from parking.admin.attendants import AttendantIn, assign_attendant, unassign_attendant
from parking.admin.fields import LOT_IN_PATH, USER_IN_PATH, DecimalComma, Price, VehicleClass
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
from parking.tariffs import ClassTariff, describe_tariff
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


_BLOCK = re.compile(r"(\d{1,5})\s*[:=]\s*(\d{1,3}(?:[. ]\d{3})+|\d+)")


def _typed_blocks(text: str) -> list[list[int]]:
    """ "1: 25.000; 3: 35.000" (from hour: price per hour, in đồng grouped as people write them) — or the JSON
    the API takes, [[1, 25000], [3, 35000]]. Anything else is refused."""
    if text.strip().startswith("["):
        return [list(block) for block in json.loads(text)]
    blocks = []
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        found = _BLOCK.fullmatch(part.strip())
        if found is None:
            raise ValueError(part)
        blocks.append([int(found[1]), int(re.sub(r"[. ]", "", found[2]))])
    return blocks


class TariffForm(TariffIn):
    """Turn prices left empty are 0 (a car's hourly tariff has none); the hourly blocks are typed as
    "1: 25.000; 3: 35.000" (or as the API's JSON, [[1, 25000], [3, 35000]])."""

    day_turn_price: Price = 0
    night_turn_price: Price = 0
    overnight_multiplier: Annotated[Decimal | None, DecimalComma] = Field(
        default=None, max_digits=6, decimal_places=2, le=100
    )  # "1,5" as a Vietnamese keyboard writes it

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
            return [block for text in texts for block in _typed_blocks(text)]
        except (ValueError, TypeError):
            raise PydanticCustomError(
                "padmin_blocks_format", "write the blocks as 1: 25.000; 3: 35.000"
            ) from None


# The pages --------------------------------------------------------------------------------------------------

SECTIONS = ("lots", "tariffs", "passes", "attendants")
Painter = Callable[..., Awaitable[web.Response]]


def _render(request: web.Request, section: str, form: FormState, status: int, **ctx: Any) -> web.Response:
    lang = request_language(request)
    return render_html(
        request,
        f"parking/admin_{section}.html",
        status=status,
        form=form,
        section=section,
        sections=SECTIONS,
        saved=request.query.get("saved") == "1" and not form.failed,
        classes=VEHICLE_CLASSES,
        fmt_date=format_local_date,
        fmt_count=lambda n: format_number(n, 0, lang),  # 1.200 chỗ
        fmt_coord=lambda x: str(x).replace(".", ",") if lang == "vi" else str(x),  # 21,0285 as typed here
        **ctx,
    )


async def _lots_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        lots = await admin_lots(conn)
        zones = await tariff_zones(conn)
        accounts = await active_collection_account_codes(conn)
    return _render(
        request,
        "lots",
        form,
        status,
        lots=lots,
        zones=zones,
        zone_names=_zone_names(request, zones),
        accounts=accounts,
    )


def _zone_names(request: web.Request, zones: list[dict]) -> dict[str, str]:
    name = "name_en" if request_language(request) == "en" else "name_vi"
    return {z["code"]: z[name] for z in zones}


def _sentence(version: dict, lang: str) -> str:
    prices = ClassTariff(
        day_turn_price=version["day_turn_price"],
        night_turn_price=version["night_turn_price"],
        hourly_blocks=tuple((b[0], b[1]) for b in version["hourly_blocks"]),
        overnight_multiplier=version["overnight_multiplier"],
        monthly_pass_price=version["monthly_pass_price"],
    )
    return describe_tariff(version["vehicle_class"], prices, lang)


async def _tariffs_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    now = request.app[CLOCK].now()
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        zones = await tariff_zones(conn)
        versions = await tariff_versions(conn, now=now)
    for v in versions:
        v["sentence"] = _sentence(v, lang)
    by_zone = {
        z["code"]: [v for v in versions if v["zone"] == z["code"] and v["state"] != "superseded"]
        for z in zones
    }
    return _render(
        request,
        "tariffs",
        form,
        status,
        zones=zones,
        zone_names=_zone_names(request, zones),
        tariffs=versions,
        current=by_zone,
        local_now=now.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M"),
    )


async def _passes_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        lots = await admin_lots(conn)
        passes = await monthly_passes(conn, limit=50)
    return _render(
        request,
        "passes",
        form,
        status,
        lots=lots,
        lot_names={x["id"]: x["name"] for x in lots},
        passes=passes,
    )


async def _attendants_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        lots = await admin_lots(conn)
        names = await active_usernames(conn, role="attendant")
    works_at = {u: [lot for lot in lots if u in lot["attendants"]] for u in names}
    return _render(request, "attendants", form, status, lots=lots, attendant_names=names, works_at=works_at)


PAINTERS: dict[str, Painter] = {
    "lots": _lots_page,
    "tariffs": _tariffs_page,
    "passes": _passes_page,
    "attendants": _attendants_page,
}


@routes.get(
    PAGE, access=ADMIN, summary="Parking admin: to the lots page", in_openapi=False, produces="text/html"
)
async def parking_admin_page(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PAGE}/lots")


def _page_route(section: str) -> None:
    painter = PAINTERS[section]

    async def page(request: web.Request) -> web.Response:
        return await painter(request)

    page.__name__ = f"parking_admin_{section}_page"
    routes.get(
        f"{PAGE}/{section}",
        access=ADMIN,
        summary=f"Parking admin page: {section}",
        in_openapi=False,
        produces="text/html",
    )(page)


for _section in SECTIONS:
    _page_route(_section)


def _form(path: str, summary: str, model: type[BaseModel] | None, section: str):
    return routes.form_post(path, access=ADMIN, summary=summary, form=model, page=PAINTERS[section])


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _saved(section: str, anchor: str = "") -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PAGE}/{section}?saved=1{anchor}")


# The forms --------------------------------------------------------------------------------------------------


@_form(f"{PAGE}/lots", "Create a lot (form)", LotForm, "lots")
async def create_lot_form(request: web.Request, form: LotForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_lot(conn, form, actor=_actor(request))
    raise _saved("lots")


@_form(f"{PAGE}/lots/{_LOT}", "Update a lot (form)", LotEditForm, "lots")
async def update_lot_form(request: web.Request, form: LotEditForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await update_lot(conn, request.match_info["lot_id"], form, actor=_actor(request))
    raise _saved("lots", f"#lot-{request.match_info['lot_id']}")


@_form(f"{PAGE}/lots/{_LOT}/capacities", "Set a capacity (form)", CapacityForm, "lots")
async def set_capacity_form(request: web.Request, form: CapacityForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await set_capacity(
            conn, request.match_info["lot_id"], form.vehicle_class, form.capacity, actor=_actor(request)
        )
    raise _saved("lots", f"#lot-{request.match_info['lot_id']}")


@_form(f"{PAGE}/lots/{_LOT}/attendants", "Assign an attendant (form)", AttendantIn, "attendants")
async def assign_attendant_form(request: web.Request, form: AttendantIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await assign_attendant(conn, request.match_info["lot_id"], form.username, actor=_actor(request))
    raise _saved("attendants", f"#attendants-{request.match_info['lot_id']}")


@_form(
    f"{PAGE}/lots/{_LOT}/attendants/{_USER}/remove", "Unassign an attendant (form)", NoFields, "attendants"
)
async def unassign_attendant_form(request: web.Request, form: NoFields) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await unassign_attendant(
            conn, request.match_info["lot_id"], request.match_info["username"], actor=_actor(request)
        )
    raise _saved("attendants", f"#attendants-{request.match_info['lot_id']}")


@_form(f"{PAGE}/zones", "Create a tariff zone (form)", ZoneIn, "tariffs")
async def create_zone_form(request: web.Request, form: ZoneIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_zone(conn, form, actor=_actor(request))
    raise _saved("tariffs")


@_form(f"{PAGE}/tariffs", "Add a tariff version (form)", TariffForm, "tariffs")
async def add_tariff_form(request: web.Request, form: TariffForm) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await add_tariff_version(conn, form, actor=_actor(request), now=request.app[CLOCK].now())
    raise _saved("tariffs")


@_form(f"{PAGE}/passes", "Sell a monthly pass (form)", PassIn, "passes")
async def create_pass_form(request: web.Request, form: PassIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_monthly_pass(conn, form, actor=_actor(request))
    raise _saved("passes")
