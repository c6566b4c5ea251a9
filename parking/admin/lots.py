"""Lots and their capacities per vehicle class, as the administration sees them (with their attendants and
how many vehicles are inside); every write is one transaction with its audit row (before and after)."""

from __future__ import annotations

from datetime import time

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from core.audit import record_audit
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from core.staff import usernames_by_id
from core.text import FreeText
from parking.admin.fields import ZONE_CODE, Latitude, LocalTime, Longitude, LotId
from parking.plates import VEHICLE_CLASSES
from payments import collection_account_in_use

MAX_CAPACITY = 100_000

map_constraint(
    "parking_lots_pkey", Conflict, "id", "a lot with this id exists", message="padmin.err.lot_taken"
)
map_constraint(
    "parking_lots_zone_code_fkey",
    ValidationFailed,
    "zone",
    "no such tariff zone",
    message="padmin.err.no_zone",
)
map_constraint(
    "parking_lots_collection_account_code_fkey",
    ValidationFailed,
    "collection_account_code",
    "no such collection account",
    message="padmin.err.no_account",
)


class LotFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FreeText = Field(min_length=1, max_length=200)
    address: FreeText = Field(min_length=1, max_length=300)
    ward: FreeText = Field(min_length=1, max_length=100, description="e.g. Phường Hoàn Kiếm")
    lat: Latitude
    lon: Longitude
    zone: str = Field(pattern=ZONE_CODE, description="Tariff zone code")
    opens_at: LocalTime = Field(default=None, description="HH:MM Hà Nội time; both null: day and night")
    closes_at: LocalTime = None
    collection_account_code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,40}$")
    active: bool = True


class LotIn(LotFields):
    id: LotId


class CapacityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(ge=0, le=MAX_CAPACITY, description="0: the lot takes no vehicles of this class")


# Reading ----------------------------------------------------------------------------------------------------


def _hhmm(value: time | None) -> str | None:
    return f"{value:%H:%M}" if value is not None else None


async def admin_lots(conn: asyncpg.Connection, lot_id: str | None = None) -> list[dict]:
    """Every lot (or one) with its capacities, vehicles inside per class and attendants' usernames."""
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
    return [
        {
            "id": r["id"],
            **_lot_record(r),
            "capacities": r["capacities"],
            "attendants": [name for i, name in usernames.items() if i in r["attendant_ids"]],
        }
        for r in rows
    ]


def _lot_record(r: asyncpg.Record) -> dict:
    """A lot row's fields as the API shows them (and the audit log keeps them)."""
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


# Writing (each one transaction, audited) ----------------------------------------------------------------


def _check_hours(fields: LotFields) -> None:
    if (fields.opens_at is None) != (fields.closes_at is None):
        raise ValidationFailed(
            "give both opening and closing time, or neither (day and night)",
            field="opens_at",
            message="padmin.err.hours_pair",
        )
    if fields.opens_at is not None and fields.opens_at == fields.closes_at:
        raise ValidationFailed(
            "opening and closing time are equal; leave both empty for 24/7",
            field="closes_at",
            message="padmin.err.hours_equal",
        )


async def _check_collection_account(conn: asyncpg.Connection, code: str) -> None:
    if not await collection_account_in_use(conn, code):
        raise ValidationFailed(
            "no such collection account in use",
            field="collection_account_code",
            message="padmin.err.no_account",
        )


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
        # NO KEY UPDATE, as the UPDATE below takes: FOR UPDATE would also stop a check-in's foreign-key check
        # (FOR KEY SHARE) on the lot, which holds its capacity row meanwhile.
        before = await conn.fetchrow("SELECT * FROM parking_lots WHERE id = $1 FOR NO KEY UPDATE", lot_id)
        if before is None:
            raise NotFound("no such lot", field="lot_id")
        if body.collection_account_code != before["collection_account_code"]:
            await _check_collection_account(conn, body.collection_account_code)
        if before["active"] and not body.active:
            await _refuse_while_vehicles_inside(conn, lot_id)
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


async def _refuse_while_vehicles_inside(conn: asyncpg.Connection, lot_id: str) -> None:
    """An inactive lot takes no check-out either (its console and API answer 404), so closing it with
    vehicles inside would trap them: they could not leave, nor check in anywhere else. The capacity rows are
    the ones a check-in locks, and their kept count (`inside`) is the newest once they are locked."""
    inside = sum(
        r["inside"]
        for r in await conn.fetch("SELECT inside FROM lot_capacities WHERE lot_id = $1 FOR UPDATE", lot_id)
    )
    if inside:
        raise Conflict(
            f"{inside} vehicle(s) are still inside or awaiting payment; set every capacity to 0 to stop new "
            "check-ins, and deactivate the lot once they have left",
            field="active",
            message="padmin.err.lot_not_empty",
            inside=inside,
        )


async def set_capacity(
    conn: asyncpg.Connection, lot_id: str, vehicle_class: str, capacity: int, *, actor: str
) -> None:
    if vehicle_class not in VEHICLE_CLASSES:
        raise NotFound(f"no vehicle class {vehicle_class!r}", field="vehicle_class")
    async with conn.transaction():
        # NO KEY UPDATE: FOR UPDATE would stop a check-in's foreign-key check on the lot (FOR KEY SHARE) while
        # that check-in holds the capacity row locked below, and the two would deadlock.
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1 FOR NO KEY UPDATE", lot_id):
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
