"""The parking administration's JSON API (admin role): lots with capacities and attendants, tariff zones,
tariff versions and monthly passes. Handlers translate HTTP to the services in this package; answers are
built from the declared response models."""

from __future__ import annotations

from datetime import date
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.auth import principal_of
from core.responses import ResponseModel, Timestamp, json_response
from core.text import Identifier
from parking.admin.attendants import AttendantIn, assign_attendant, unassign_attendant
from parking.admin.fields import LOT_ID, LOT_IN_PATH, USER_IN_PATH, ZONE_CODE, VehicleClass
from parking.admin.lots import (
    CapacityIn,
    LotFields,
    LotIn,
    admin_lots,
    create_lot,
    one_lot,
    set_capacity,
    update_lot,
)
from parking.admin.passes import PassIn, create_monthly_pass, monthly_passes
from parking.admin.tariff_versions import (
    TariffIn,
    ZoneIn,
    add_tariff_version,
    create_zone,
    tariff_versions,
    tariff_zones,
)

routes = Routes(tags=("parking-admin",))
ADMIN = staff("admin")
API = "/api/v1/admin/parking"
LOT, USER = LOT_IN_PATH, USER_IN_PATH


class SpaceOut(ResponseModel):
    capacity: int
    inside: int


class AdminLotOut(ResponseModel):
    id: str
    name: str
    address: str
    ward: str
    lat: float
    lon: float
    zone: str
    opens_at: str | None
    closes_at: str | None
    collection_account_code: str
    active: bool
    capacities: dict[str, SpaceOut]
    attendants: list[str]


class AdminLotList(ResponseModel):
    items: list[AdminLotOut]


class ZoneOut(ResponseModel):
    code: str
    name_vi: str
    name_en: str


class ZoneList(ResponseModel):
    items: list[ZoneOut]


class TariffOut(ResponseModel):
    id: int
    zone: str
    vehicle_class: str
    effective_from: Timestamp
    superseded_at: Timestamp | None = Field(description="effective_from of the next version, if any")
    state: Literal["scheduled", "in_force", "superseded"]
    day_turn_price: int
    night_turn_price: int
    hourly_blocks: list[tuple[int, int]]
    overnight_multiplier: str | None
    monthly_pass_price: int | None
    created_by: str
    created_at: Timestamp


class TariffList(ResponseModel):
    items: list[TariffOut]


class TariffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: str | None = Field(default=None, pattern=ZONE_CODE)
    vehicle_class: VehicleClass | None = None


class PassOut(ResponseModel):
    id: int
    lot_id: str
    plate: str
    plate_written: str
    vehicle_class: str
    valid_from: date
    valid_until: date
    price: int
    created_by: str
    created_at: Timestamp


class PassList(ResponseModel):
    items: list[PassOut]


class PassQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot_id: str | None = Field(default=None, pattern=LOT_ID)
    plate: Identifier | None = Field(default=None, min_length=1, max_length=20)
    limit: int = Field(default=100, ge=1, le=1000)


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


async def _lot_answer(conn: asyncpg.Connection, lot_id: str, *, status: int = 200) -> web.Response:
    return json_response(AdminLotOut.model_validate(await one_lot(conn, lot_id)), status=status)


# Lots, capacities, attendants -------------------------------------------------------------------------------


@routes.get(f"{API}/lots", access=ADMIN, summary="Lots with capacities and attendants", response=AdminLotList)
async def list_lots_admin(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        items = await admin_lots(conn)
    return json_response(AdminLotList(items=[AdminLotOut.model_validate(i) for i in items]))


@routes.post(
    f"{API}/lots",
    access=ADMIN,
    summary="Create a lot",
    body=LotIn,
    response=AdminLotOut,
    status=201,
    responses={409: "Lot id taken"},
)
async def create_lot_api(request: web.Request, body: LotIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_lot(conn, body, actor=_actor(request))
        return await _lot_answer(conn, body.id, status=201)


@routes.get(f"{API}/lots/{LOT}", access=ADMIN, summary="One lot", response=AdminLotOut)
async def get_lot_admin(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return await _lot_answer(conn, request.match_info["lot_id"])


@routes.put(f"{API}/lots/{LOT}", access=ADMIN, summary="Update a lot", body=LotFields, response=AdminLotOut)
async def update_lot_api(request: web.Request, body: LotFields) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await update_lot(conn, lot_id, body, actor=_actor(request))
        return await _lot_answer(conn, lot_id)


@routes.put(
    f"{API}/lots/{LOT}/capacities/{{vehicle_class:[a-z0-9_]{{1,20}}}}",
    access=ADMIN,
    summary="Set the capacity of one vehicle class",
    body=CapacityIn,
    response=AdminLotOut,
)
async def set_capacity_api(request: web.Request, body: CapacityIn) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await set_capacity(
            conn, lot_id, request.match_info["vehicle_class"], body.capacity, actor=_actor(request)
        )
        return await _lot_answer(conn, lot_id)


@routes.post(
    f"{API}/lots/{LOT}/attendants",
    access=ADMIN,
    summary="Assign an attendant to a lot",
    body=AttendantIn,
    response=AdminLotOut,
    status=201,
    responses={409: "Already assigned"},
)
async def assign_attendant_api(request: web.Request, body: AttendantIn) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await assign_attendant(conn, lot_id, body.username, actor=_actor(request))
        return await _lot_answer(conn, lot_id, status=201)


@routes.delete(
    f"{API}/lots/{LOT}/attendants/{USER}",
    access=ADMIN,
    summary="Unassign an attendant from a lot",
    response=AdminLotOut,
)
async def unassign_attendant_api(request: web.Request) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await unassign_attendant(conn, lot_id, request.match_info["username"], actor=_actor(request))
        return await _lot_answer(conn, lot_id)


# Zones and tariff versions ----------------------------------------------------------------------------------


@routes.get(f"{API}/zones", access=ADMIN, summary="Tariff zones", response=ZoneList)
async def list_zones(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        zones = await tariff_zones(conn)
    return json_response(ZoneList(items=[ZoneOut.model_validate(z) for z in zones]))


@routes.post(
    f"{API}/zones",
    access=ADMIN,
    summary="Create a tariff zone",
    body=ZoneIn,
    response=ZoneOut,
    status=201,
    responses={409: "Zone code taken"},
)
async def create_zone_api(request: web.Request, body: ZoneIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await create_zone(conn, body, actor=_actor(request))
    return json_response(ZoneOut.model_validate(body.model_dump()), status=201)


@routes.get(
    f"{API}/tariffs",
    access=ADMIN,
    summary="Tariff versions per zone and class, newest first, with the one in force",
    query=TariffQuery,
    response=TariffList,
)
async def list_tariffs(request: web.Request, query: TariffQuery) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        items = await tariff_versions(conn, now=now, zone=query.zone, vehicle_class=query.vehicle_class)
    return json_response(TariffList(items=[TariffOut.model_validate(i) for i in items]))


@routes.post(
    f"{API}/tariffs",
    access=ADMIN,
    summary="Add a tariff version (supersedes the previous one from its effective_from)",
    body=TariffIn,
    response=TariffOut,
    status=201,
    responses={409: "A version from the same moment exists"},
)
async def add_tariff_api(request: web.Request, body: TariffIn) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        tariff_id = await add_tariff_version(conn, body, actor=_actor(request), now=now)
        (item,) = await tariff_versions(conn, now=now, zone=body.zone, tariff_id=tariff_id)
    return json_response(TariffOut.model_validate(item), status=201)


# Monthly passes ---------------------------------------------------------------------------------------------


@routes.get(f"{API}/passes", access=ADMIN, summary="Monthly passes", query=PassQuery, response=PassList)
async def list_passes(request: web.Request, query: PassQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        items = await monthly_passes(conn, lot_id=query.lot_id, plate=query.plate, limit=query.limit)
    return json_response(PassList(items=[PassOut.model_validate(i) for i in items]))


@routes.post(
    f"{API}/passes",
    access=ADMIN,
    summary="Sell a monthly pass (plate validated for the class)",
    body=PassIn,
    response=PassOut,
    status=201,
    responses={409: "The plate already has a pass at this lot in these days"},
)
async def create_pass_api(request: web.Request, body: PassIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        pass_id = await create_monthly_pass(conn, body, actor=_actor(request))
        (item,) = await monthly_passes(conn, pass_id=pass_id, limit=1)
    return json_response(PassOut.model_validate(item), status=201)
