"""Parking administration (admin role): lots, capacities per class, attendants, tariff zones, tariff versions
and monthly passes — a JSON API and one admin page. Every write is one transaction with its audit row (before
and after); tariff versions are never edited, a newer version supersedes from its `effective_from`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL
from core.audit import record_audit
from core.auth import principal_of
from core.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
    map_constraint,
)
from core.i18n import register_messages
from core.money import LOCAL_TZ
from core.pages import render_html, run_form_action
from core.staff import active_usernames, staff_by_username, usernames_by_id
from core.text import FreeText, Identifier
from parking.plates import VEHICLE_CLASSES, InvalidPlate, format_plate, normalise_plate, parse_plate
from parking.sessions import PlateClassMismatch, refuse_class_disagreement
from parking.tariffs import ClassTariff
from payments import active_collection_account_codes, collection_account_in_use

routes = Routes(tags=("parking-admin",))
ADMIN = staff("admin")
VehicleClass = Literal["bicycle", "motorbike", "car", "large_car"]
_LOT = "{lot_id:[a-z0-9][a-z0-9-]{1,60}}"
_USER = "{username:[a-z0-9][a-z0-9._-]{1,62}}"
API = "/api/v1/admin/parking"
MAX_PRICE = 100_000_000  # đồng; far above any parking price, and keeps every amount inside bigint
MAX_CAPACITY = 100_000
PAST_TOLERANCE = timedelta(minutes=5)  # "from now" typed on a slow form is still now
MAX_PASS_DAYS = 366

map_constraint("parking_lots_pkey", Conflict, "id", "a lot with this id exists")
map_constraint("parking_lots_zone_code_fkey", ValidationFailed, "zone", "no such tariff zone")
map_constraint(
    "parking_lots_collection_account_code_fkey",
    ValidationFailed,
    "collection_account_code",
    "no such collection account",
)
map_constraint("parking_zones_pkey", Conflict, "code", "a zone with this code exists")
map_constraint("tariffs_zone_code_fkey", ValidationFailed, "zone", "no such tariff zone")
map_constraint(
    "tariffs_zone_code_vehicle_class_effective_from_key",
    Conflict,
    "effective_from",
    "this zone and class already have a version from this moment",
)
map_constraint("lot_attendants_pkey", Conflict, "username", "already an attendant of this lot")
map_constraint("monthly_passes_lot_id_fkey", ValidationFailed, "lot_id", "no such lot")


# Models -----------------------------------------------------------------------------------------------------


def _naive_time(value: time | None) -> time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError("a wall-clock time in Hà Nội, without an offset")
    return value


def _reasonable_moment(value: datetime) -> datetime:
    # Bounds keep far-off years from overflowing on the way to UTC.
    if not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2100, 1, 1, tzinfo=UTC):
        raise ValueError("between 2000 and 2100")
    return value


def _reasonable_day(value: date) -> date:
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        raise ValueError("between 2000 and 2100")
    return value


LocalTime = Annotated[time | None, AfterValidator(_naive_time)]
Moment = Annotated[AwareDatetime, AfterValidator(_reasonable_moment)]
Day = Annotated[date, AfterValidator(_reasonable_day)]
Price = Annotated[int, Field(le=MAX_PRICE, description="Whole đồng, ≥ 0")]


class LotFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FreeText = Field(min_length=1, max_length=200)
    address: FreeText = Field(min_length=1, max_length=300)
    ward: FreeText = Field(min_length=1, max_length=100, description="e.g. Phường Hoàn Kiếm")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    zone: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$", description="Tariff zone code")
    opens_at: LocalTime = Field(default=None, description="HH:MM Hà Nội time; both null: day and night")
    closes_at: LocalTime = None
    collection_account_code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,40}$")
    active: bool = True


class LotIn(LotFields):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(ge=0, le=MAX_CAPACITY, description="0: the lot takes no vehicles of this class")


class AttendantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    name_vi: FreeText = Field(min_length=1, max_length=200)
    name_en: FreeText = Field(min_length=1, max_length=200)


class TariffIn(BaseModel):
    """One version for one zone and class. Prices are checked by `parking.tariffs.ClassTariff` itself."""

    model_config = ConfigDict(extra="forbid")
    zone: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    vehicle_class: VehicleClass
    effective_from: Moment = Field(description="In force from this moment (not in the past)")
    day_turn_price: Price
    night_turn_price: Price
    hourly_blocks: list[tuple[Annotated[int, Field(le=10_000)], Price]] = Field(
        default_factory=list,
        max_length=48,
        description="[[from_hour, price_per_hour], …] from hour 1, rising; for cars",
    )
    overnight_multiplier: Decimal | None = Field(
        default=None, max_digits=6, decimal_places=2, le=100, description="≥ 1; turn-based tariffs only"
    )
    monthly_pass_price: Price | None = None


class PassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    plate: Identifier = Field(min_length=1, max_length=20)
    vehicle_class: VehicleClass
    valid_from: Day
    valid_until: Day
    price: Annotated[int, Field(ge=0, le=MAX_PRICE)]


class SpaceOut(BaseModel):
    capacity: int
    inside: int


class AdminLotOut(BaseModel):
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


class AdminLotList(BaseModel):
    items: list[AdminLotOut]


class ZoneOut(BaseModel):
    code: str
    name_vi: str
    name_en: str


class ZoneList(BaseModel):
    items: list[ZoneOut]


class TariffOut(BaseModel):
    id: int
    zone: str
    vehicle_class: str
    effective_from: datetime
    superseded_at: datetime | None = Field(description="effective_from of the next version, if any")
    state: Literal["scheduled", "in_force", "superseded"]
    day_turn_price: int
    night_turn_price: int
    hourly_blocks: list[tuple[int, int]]
    overnight_multiplier: str | None
    monthly_pass_price: int | None
    created_by: str
    created_at: datetime


class TariffList(BaseModel):
    items: list[TariffOut]


class TariffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    vehicle_class: VehicleClass | None = None


class PassOut(BaseModel):
    id: int
    lot_id: str
    plate: str
    plate_written: str
    vehicle_class: str
    valid_from: date
    valid_until: date
    price: int
    created_by: str
    created_at: datetime


class PassList(BaseModel):
    items: list[PassOut]


class PassQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")
    plate: Identifier | None = Field(default=None, min_length=1, max_length=20)
    limit: int = Field(default=100, ge=1, le=1000)


# Reading ----------------------------------------------------------------------------------------------------


def _hhmm(value: time | None) -> str | None:
    return f"{value:%H:%M}" if value is not None else None


async def admin_lots(conn: asyncpg.Connection, lot_id: str | None = None) -> list[dict]:
    rows = await conn.fetch(
        """SELECT l.*,
                  coalesce((SELECT jsonb_object_agg(c.vehicle_class, jsonb_build_object(
                                'capacity', c.capacity,
                                'inside', (SELECT count(*) FROM parking_sessions s
                                            WHERE s.lot_id = c.lot_id AND s.vehicle_class = c.vehicle_class
                                              AND s.status IN ('inside', 'awaiting_payment'))))
                              FROM lot_capacities c WHERE c.lot_id = l.id), '{}'::jsonb) AS capacities,
                  coalesce((SELECT array_agg(a.staff_user_id)
                              FROM lot_attendants a WHERE a.lot_id = l.id), '{}') AS attendant_ids
             FROM parking_lots l
            WHERE $1::text IS NULL OR l.id = $1
            ORDER BY l.ward, l.name""",
        lot_id,
    )
    # usernames belong to core's staff accounts: one lookup for every lot, in username order
    usernames = await usernames_by_id(conn, [i for r in rows for i in r["attendant_ids"]])
    return [_lot_json(r, [name for i, name in usernames.items() if i in r["attendant_ids"]]) for r in rows]


def _lot_json(r: asyncpg.Record, attendants: list[str]) -> dict:
    return {
        "id": r["id"],
        "name": r["name"],
        "address": r["address"],
        "ward": r["ward"],
        "lat": r["lat"],
        "lon": r["lon"],
        "zone": r["zone_code"],
        "opens_at": _hhmm(r["opens_at"]),
        "closes_at": _hhmm(r["closes_at"]),
        "collection_account_code": r["collection_account_code"],
        "active": r["active"],
        "capacities": r["capacities"],
        "attendants": attendants,
    }


def _lot_record(r: asyncpg.Record) -> dict:
    """What the audit log keeps of a lot row."""
    return {
        "name": r["name"],
        "address": r["address"],
        "ward": r["ward"],
        "lat": r["lat"],
        "lon": r["lon"],
        "zone": r["zone_code"],
        "opens_at": _hhmm(r["opens_at"]),
        "closes_at": _hhmm(r["closes_at"]),
        "collection_account_code": r["collection_account_code"],
        "active": r["active"],
    }


async def one_lot(conn: asyncpg.Connection, lot_id: str) -> dict:
    found = await admin_lots(conn, lot_id)
    if not found:
        raise NotFound("no such lot", field="lot_id")
    return found[0]


def _state(row: asyncpg.Record, now: datetime) -> str:
    if row["effective_from"] > now:
        return "scheduled"
    if row["superseded_at"] is not None and row["superseded_at"] <= now:
        return "superseded"
    return "in_force"


def _tariff_json(r: asyncpg.Record, now: datetime) -> dict:
    return {
        "id": r["id"],
        "zone": r["zone_code"],
        "vehicle_class": r["vehicle_class"],
        "effective_from": r["effective_from"].isoformat(),
        "superseded_at": r["superseded_at"].isoformat() if r["superseded_at"] else None,
        "state": _state(r, now),
        "day_turn_price": r["day_turn_price"],
        "night_turn_price": r["night_turn_price"],
        "hourly_blocks": [list(b) for b in r["hourly_blocks"]],
        "overnight_multiplier": str(r["overnight_multiplier"]) if r["overnight_multiplier"] else None,
        "monthly_pass_price": r["monthly_pass_price"],
        "created_by": r["created_by"],
        "created_at": r["created_at"].isoformat(),
    }


async def tariff_versions(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    zone: str | None = None,
    vehicle_class: str | None = None,
    tariff_id: int | None = None,
) -> list[dict]:
    rows = await conn.fetch(
        """SELECT * FROM (
               SELECT t.*, lead(t.effective_from) OVER (PARTITION BY t.zone_code, t.vehicle_class
                                                        ORDER BY t.effective_from) AS superseded_at
                 FROM tariffs t
                WHERE ($1::text IS NULL OR t.zone_code = $1)) v
            WHERE ($2::text IS NULL OR v.vehicle_class = $2) AND ($3::bigint IS NULL OR v.id = $3)
            ORDER BY v.zone_code, array_position($4::text[], v.vehicle_class), v.effective_from DESC""",
        zone,
        vehicle_class,
        tariff_id,
        list(VEHICLE_CLASSES),
    )
    return [_tariff_json(r, now) for r in rows]


def _written(plate: str, vehicle_class: str) -> str:
    try:
        return format_plate(plate, vehicle_class)
    except InvalidPlate:  # a pass written straight into the table; show what is stored
        return plate


def _pass_json(r: asyncpg.Record) -> dict:
    return {
        "id": r["id"],
        "lot_id": r["lot_id"],
        "plate": r["plate"],
        "plate_written": _written(r["plate"], r["vehicle_class"]),
        "vehicle_class": r["vehicle_class"],
        "valid_from": r["valid_from"].isoformat(),
        "valid_until": r["valid_until"].isoformat(),
        "price": r["price"],
        "created_by": r["created_by"],
        "created_at": r["created_at"].isoformat(),
    }


async def monthly_passes(
    conn: asyncpg.Connection, *, lot_id: str | None = None, plate: str | None = None, limit: int = 100
) -> list[dict]:
    rows = await conn.fetch(
        """SELECT * FROM monthly_passes
            WHERE ($1::text IS NULL OR lot_id = $1) AND ($2::text IS NULL OR plate = $2)
            ORDER BY valid_until DESC, id DESC LIMIT $3""",
        lot_id,
        normalise_plate(plate) if plate else None,
        limit,
    )
    return [_pass_json(r) for r in rows]


# Writing (each one transaction, audited) ----------------------------------------------------------------


def _check_hours(fields: LotFields) -> None:
    if (fields.opens_at is None) != (fields.closes_at is None):
        raise ValidationFailed(
            "give both opening and closing time, or neither (day and night)", field="opens_at"
        )
    if fields.opens_at is not None and fields.opens_at == fields.closes_at:
        raise ValidationFailed(
            "opening and closing time are equal; leave both empty for 24/7", field="closes_at"
        )


async def _check_collection_account(conn: asyncpg.Connection, code: str) -> None:
    if not await collection_account_in_use(conn, code):
        raise ValidationFailed("no such collection account in use", field="collection_account_code")


async def create_lot(conn: asyncpg.Connection, body: LotIn, *, actor: str) -> None:
    _check_hours(body)
    async with conn.transaction():
        await _check_collection_account(conn, body.collection_account_code)
        row = await conn.fetchrow(
            """INSERT INTO parking_lots (id, name, address, ward, lat, lon, zone_code, opens_at, closes_at,
                   collection_account_code, active)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *""",
            body.id,
            body.name.strip(),
            body.address.strip(),
            body.ward.strip(),
            body.lat,
            body.lon,
            body.zone,
            body.opens_at,
            body.closes_at,
            body.collection_account_code,
            body.active,
        )
        await record_audit(
            conn, actor=actor, action="parking.lot.create", subject=f"lot:{body.id}", after=_lot_record(row)
        )


async def update_lot(conn: asyncpg.Connection, lot_id: str, body: LotFields, *, actor: str) -> None:
    _check_hours(body)
    async with conn.transaction():
        before = await conn.fetchrow("SELECT * FROM parking_lots WHERE id = $1 FOR UPDATE", lot_id)
        if before is None:
            raise NotFound("no such lot", field="lot_id")
        if body.collection_account_code != before["collection_account_code"]:
            await _check_collection_account(conn, body.collection_account_code)
        after = await conn.fetchrow(
            """UPDATE parking_lots SET name = $2, address = $3, ward = $4, lat = $5, lon = $6, zone_code = $7,
                   opens_at = $8, closes_at = $9, collection_account_code = $10, active = $11
             WHERE id = $1 RETURNING *""",
            lot_id,
            body.name.strip(),
            body.address.strip(),
            body.ward.strip(),
            body.lat,
            body.lon,
            body.zone,
            body.opens_at,
            body.closes_at,
            body.collection_account_code,
            body.active,
        )
        old, new = _lot_record(before), _lot_record(after)
        if old != new:  # saving an unchanged form writes nothing
            await record_audit(
                conn, actor=actor, action="parking.lot.update", subject=f"lot:{lot_id}", before=old, after=new
            )


async def set_capacity(
    conn: asyncpg.Connection, lot_id: str, vehicle_class: str, capacity: int, *, actor: str
) -> None:
    if vehicle_class not in VEHICLE_CLASSES:
        raise NotFound(f"no vehicle class {vehicle_class!r}", field="vehicle_class")
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1 FOR UPDATE", lot_id):
            raise NotFound("no such lot", field="lot_id")
        # The same row check-in locks, so a capacity change and a check-in are ordered.
        before = await conn.fetchval(
            "SELECT capacity FROM lot_capacities WHERE lot_id = $1 AND vehicle_class = $2 FOR UPDATE",
            lot_id,
            vehicle_class,
        )
        if before == capacity:
            return
        await conn.execute(
            """INSERT INTO lot_capacities (lot_id, vehicle_class, capacity) VALUES ($1, $2, $3)
               ON CONFLICT (lot_id, vehicle_class) DO UPDATE SET capacity = EXCLUDED.capacity""",
            lot_id,
            vehicle_class,
            capacity,
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.capacity.set",
            subject=f"lot:{lot_id}",
            before={"vehicle_class": vehicle_class, "capacity": before},
            after={"vehicle_class": vehicle_class, "capacity": capacity},
        )


async def assign_attendant(conn: asyncpg.Connection, lot_id: str, username: str, *, actor: str) -> None:
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1", lot_id):
            raise NotFound("no such lot", field="lot_id")
        user = await staff_by_username(conn, username.strip().lower())
        if user is None or not user.active:
            raise ValidationFailed("no active staff account with this username", field="username")
        if user.role != "attendant":
            raise ValidationFailed(f"{username} is {user.role}, not an attendant", field="username")
        await conn.execute(
            "INSERT INTO lot_attendants (lot_id, staff_user_id) VALUES ($1, $2)", lot_id, user.id
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.attendant.assign",
            subject=f"lot:{lot_id}",
            after={"username": username},
        )


async def unassign_attendant(conn: asyncpg.Connection, lot_id: str, username: str, *, actor: str) -> None:
    async with conn.transaction():
        user = await staff_by_username(conn, username)
        done = user is not None and await conn.fetchval(
            "DELETE FROM lot_attendants WHERE lot_id = $1 AND staff_user_id = $2 RETURNING true",
            lot_id,
            user.id,
        )
        if not done:
            raise NotFound("this staff member is not an attendant of this lot", field="username")
        await record_audit(
            conn,
            actor=actor,
            action="parking.attendant.unassign",
            subject=f"lot:{lot_id}",
            before={"username": username},
        )


async def create_zone(conn: asyncpg.Connection, body: ZoneIn, *, actor: str) -> None:
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO parking_zones (code, name_vi, name_en) VALUES ($1, $2, $3)",
            body.code,
            body.name_vi.strip(),
            body.name_en.strip(),
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.zone.create",
            subject=f"zone:{body.code}",
            after=body.model_dump(),
        )


def _tariff_field(message: str) -> str:
    for name in ("day_turn_price", "night_turn_price", "monthly_pass_price", "overnight_multiplier"):
        if name in message:
            return name
    if "hourly block" in message:
        return "hourly_blocks"
    return "overnight_multiplier" if "overnight" in message else "body"


def class_tariff_of(body: TariffIn) -> ClassTariff:
    """The domain's own check of a tariff version; its refusal becomes a 422 naming the field."""
    try:
        return ClassTariff(
            day_turn_price=body.day_turn_price,
            night_turn_price=body.night_turn_price,
            hourly_blocks=tuple(body.hourly_blocks),
            overnight_multiplier=body.overnight_multiplier,
            monthly_pass_price=body.monthly_pass_price,
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=_tariff_field(str(exc))) from None


async def add_tariff_version(conn: asyncpg.Connection, body: TariffIn, *, actor: str, now: datetime) -> int:
    prices = class_tariff_of(body)
    if body.effective_from < now - PAST_TOLERANCE:
        # Versions are history: one starting in the past would rewrite which prices were in force.
        raise ValidationFailed("a new version starts now or later", field="effective_from")
    async with conn.transaction():
        tariff_id = await conn.fetchval(
            """INSERT INTO tariffs (zone_code, vehicle_class, effective_from, day_turn_price,
                   night_turn_price, hourly_blocks, overnight_multiplier, monthly_pass_price, created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            body.zone,
            body.vehicle_class,
            body.effective_from,
            prices.day_turn_price,
            prices.night_turn_price,
            [list(b) for b in prices.hourly_blocks],
            prices.overnight_multiplier,
            prices.monthly_pass_price,
            actor,
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.tariff.add_version",
            subject=f"tariff:{tariff_id}",
            after={
                "zone": body.zone,
                "vehicle_class": body.vehicle_class,
                "effective_from": body.effective_from.astimezone(UTC).isoformat(),
                "day_turn_price": prices.day_turn_price,
                "night_turn_price": prices.night_turn_price,
                "hourly_blocks": [list(b) for b in prices.hourly_blocks],
                "overnight_multiplier": str(prices.overnight_multiplier)
                if prices.overnight_multiplier is not None
                else None,
                "monthly_pass_price": prices.monthly_pass_price,
            },
        )
    return tariff_id


async def create_monthly_pass(conn: asyncpg.Connection, body: PassIn, *, actor: str) -> int:
    # A car's pass must not be sold at a motorbike's price: the written form decides, as at check-in (where
    # the attendant may confirm the class; a pass is sold for the plate as written, so here it is a 422).
    try:
        refuse_class_disagreement(body.plate, body.vehicle_class)
    except PlateClassMismatch as exc:
        raise ValidationFailed(
            f"{body.plate!r} is written as another class's plate; sell the pass for that class",
            field="plate",
            readings=exc.extra["readings"],
        ) from None
    try:
        plate = parse_plate(body.plate, body.vehicle_class)
    except InvalidPlate as exc:
        raise ValidationFailed(
            f"not a valid {body.vehicle_class} plate: {exc.reason}", field="plate"
        ) from None
    if body.valid_until < body.valid_from:
        raise ValidationFailed("valid_until is before valid_from", field="valid_until")
    if (body.valid_until - body.valid_from).days + 1 > MAX_PASS_DAYS:
        raise ValidationFailed(f"a pass covers at most {MAX_PASS_DAYS} days", field="valid_until")
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1", body.lot_id):
            raise ValidationFailed("no such lot", field="lot_id")
        # Two admins selling the same pass at once: the lock orders them, the second sees the overlap.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"pass:{body.lot_id}:{plate.compact}"
        )
        overlap = await conn.fetchval(
            """SELECT id FROM monthly_passes WHERE lot_id = $1 AND plate = $2
                  AND valid_from <= $4 AND valid_until >= $3 LIMIT 1""",
            body.lot_id,
            plate.compact,
            body.valid_from,
            body.valid_until,
        )
        if overlap is not None:
            raise Conflict(
                f"{plate.written} already has pass {overlap} here in these days", field="valid_from"
            )
        pass_id = await conn.fetchval(
            """INSERT INTO monthly_passes
                   (lot_id, plate, vehicle_class, valid_from, valid_until, price, created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            body.lot_id,
            plate.compact,
            body.vehicle_class,
            body.valid_from,
            body.valid_until,
            body.price,
            actor,
        )
        await record_audit(
            conn,
            actor=actor,
            action="parking.pass.create",
            subject=f"pass:{pass_id}",
            after={
                "lot": body.lot_id,
                "plate": plate.written,
                "vehicle_class": body.vehicle_class,
                "valid_from": body.valid_from.isoformat(),
                "valid_until": body.valid_until.isoformat(),
                "price": body.price,
            },
        )
    return pass_id


# JSON API ---------------------------------------------------------------------------------------------------


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


@routes.get(f"{API}/lots", access=ADMIN, summary="Lots with capacities and attendants", response=AdminLotList)
async def list_lots_admin(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response({"items": await admin_lots(conn)})


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
        return web.json_response(await one_lot(conn, body.id), status=201)


@routes.get(f"{API}/lots/{_LOT}", access=ADMIN, summary="One lot", response=AdminLotOut)
async def get_lot_admin(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response(await one_lot(conn, request.match_info["lot_id"]))


@routes.put(f"{API}/lots/{_LOT}", access=ADMIN, summary="Update a lot", body=LotFields, response=AdminLotOut)
async def update_lot_api(request: web.Request, body: LotFields) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await update_lot(conn, lot_id, body, actor=_actor(request))
        return web.json_response(await one_lot(conn, lot_id))


@routes.put(
    f"{API}/lots/{_LOT}/capacities/{{vehicle_class:[a-z0-9_]{{1,20}}}}",
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
        return web.json_response(await one_lot(conn, lot_id))


@routes.post(
    f"{API}/lots/{_LOT}/attendants",
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
        return web.json_response(await one_lot(conn, lot_id), status=201)


@routes.delete(
    f"{API}/lots/{_LOT}/attendants/{_USER}",
    access=ADMIN,
    summary="Unassign an attendant from a lot",
    response=AdminLotOut,
)
async def unassign_attendant_api(request: web.Request) -> web.Response:
    lot_id = request.match_info["lot_id"]
    async with request.app[POOL].acquire() as conn:
        await unassign_attendant(conn, lot_id, request.match_info["username"], actor=_actor(request))
        return web.json_response(await one_lot(conn, lot_id))


async def _zones(conn: asyncpg.Connection) -> list[dict]:
    return [
        dict(r) for r in await conn.fetch("SELECT code, name_vi, name_en FROM parking_zones ORDER BY code")
    ]


@routes.get(f"{API}/zones", access=ADMIN, summary="Tariff zones", response=ZoneList)
async def list_zones(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response({"items": await _zones(conn)})


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
    return web.json_response(body.model_dump(), status=201)


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
    return web.json_response({"items": items})


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
    return web.json_response(item, status=201)


@routes.get(f"{API}/passes", access=ADMIN, summary="Monthly passes", query=PassQuery, response=PassList)
async def list_passes(request: web.Request, query: PassQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        items = await monthly_passes(conn, lot_id=query.lot_id, plate=query.plate, limit=query.limit)
    return web.json_response({"items": items})


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
        row = await conn.fetchrow("SELECT * FROM monthly_passes WHERE id = $1", pass_id)
    return web.json_response(_pass_json(row), status=201)


# Admin page -------------------------------------------------------------------------------------------------

register_messages(
    {
        "link.parking_admin": ("Bãi xe, biểu phí, vé tháng", "Lots, tariffs, passes"),
        "padmin.title": ("Quản lý bãi xe", "Parking administration"),
        "padmin.saved": ("Đã lưu.", "Saved."),
        "padmin.lots": ("Bãi xe", "Lots"),
        "padmin.lot_id": ("Mã bãi", "Lot id"),
        "padmin.name": ("Tên", "Name"),
        "padmin.address": ("Địa chỉ", "Address"),
        "padmin.ward": ("Phường", "Ward"),
        "padmin.lat": ("Vĩ độ", "Latitude"),
        "padmin.lon": ("Kinh độ", "Longitude"),
        "padmin.zone": ("Khu vực giá", "Tariff zone"),
        "padmin.opens_at": ("Mở cửa (để trống: cả ngày đêm)", "Opens (empty: day and night)"),
        "padmin.closes_at": ("Đóng cửa", "Closes"),
        "padmin.hours": ("Giờ mở cửa", "Opening hours"),
        "padmin.all_day": ("Cả ngày đêm", "Day and night"),
        "padmin.collection_account": ("Tài khoản thu", "Collection account"),
        "padmin.active": ("Đang hoạt động", "Active"),
        "padmin.inactive": ("Ngừng hoạt động", "Inactive"),
        "padmin.capacities": ("Sức chứa (đang gửi)", "Capacity (inside)"),
        "padmin.capacity": ("Sức chứa", "Capacity"),
        "padmin.set_capacity": ("Đặt sức chứa", "Set capacity"),
        "padmin.attendants": ("Nhân viên trông xe", "Attendants"),
        "padmin.assign": ("Phân công", "Assign"),
        "padmin.unassign": ("Bỏ phân công", "Unassign"),
        "padmin.username": ("Tên đăng nhập", "Username"),
        "padmin.edit": ("Sửa thông tin bãi", "Edit lot"),
        "padmin.manage": ("Sức chứa, nhân viên, thông tin bãi", "Capacity, attendants, lot details"),
        "padmin.blocks_short": ("Giá theo giờ", "Hourly"),
        "padmin.create_lot": ("Thêm bãi xe", "Add a lot"),
        "padmin.save": ("Lưu", "Save"),
        "padmin.zones": ("Khu vực giá", "Tariff zones"),
        "padmin.create_zone": ("Thêm khu vực giá", "Add a tariff zone"),
        "padmin.code": ("Mã", "Code"),
        "padmin.name_vi": ("Tên tiếng Việt", "Vietnamese name"),
        "padmin.name_en": ("Tên tiếng Anh", "English name"),
        "padmin.tariffs": ("Biểu phí (các phiên bản)", "Tariffs (versions)"),
        "padmin.tariff_note": (
            "Phiên bản không sửa được; phiên bản mới thay thế từ thời điểm hiệu lực của nó.",
            "Versions are never edited; a new version takes over from its effective time.",
        ),
        "padmin.class": ("Loại xe", "Vehicle class"),
        "padmin.effective_from": ("Hiệu lực từ (giờ Hà Nội)", "Effective from (Hà Nội time)"),
        "padmin.day_turn": ("Giá lượt ngày", "Day turn"),
        "padmin.night_turn": ("Giá lượt đêm", "Night turn"),
        "padmin.blocks": ("Giá theo giờ [[từ giờ, giá/giờ], …]", "Hourly blocks [[from hour, price/h], …]"),
        "padmin.overnight": ("Hệ số qua đêm", "Overnight multiplier"),
        "padmin.monthly": ("Giá vé tháng", "Monthly pass"),
        "padmin.state": ("Trạng thái", "State"),
        "padmin.state.in_force": ("đang áp dụng", "in force"),
        "padmin.state.scheduled": ("sắp áp dụng", "scheduled"),
        "padmin.state.superseded": ("đã thay thế", "superseded"),
        "padmin.add_tariff": ("Thêm phiên bản biểu phí", "Add a tariff version"),
        "padmin.passes": ("Vé tháng", "Monthly passes"),
        "padmin.plate": ("Biển số", "Plate"),
        "padmin.valid_from": ("Từ ngày", "From"),
        "padmin.valid_until": ("Đến ngày", "Until"),
        "padmin.price": ("Giá (đồng)", "Price (đồng)"),
        "padmin.create_pass": ("Bán vé tháng", "Sell a pass"),
        "padmin.none": ("Chưa có.", "None yet."),
    }
)


async def _admin_page(
    request: web.Request, *, error: str | None = None, saved: bool = False, status: int = 200
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        lots = await admin_lots(conn)
        zones = await _zones(conn)
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
        localtime=lambda iso: datetime.fromisoformat(iso).astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M"),
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
