"""Monthly passes: sold for one plate, class and lot over a span of days (never overlapping another pass of
the same plate at the lot); a holder's check-out costs nothing (parking.sessions)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from core.audit import record_audit
from core.errors import Conflict, ValidationFailed, map_constraint
from core.money import Dong
from core.text import Identifier
from core.timebounds import BoundedDate
from parking.admin.fields import LOT_ID, MAX_PRICE, VehicleClass
from parking.plates import InvalidPlate, format_plate, normalise_plate, parse_plate
from parking.sessions import PlateClassMismatch, refuse_class_disagreement

MAX_PASS_DAYS = 366

map_constraint(
    "monthly_passes_lot_id_fkey", ValidationFailed, "lot_id", "no such lot", message="padmin.err.no_lot"
)


class PassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot_id: str = Field(pattern=LOT_ID)
    plate: Identifier = Field(min_length=1, max_length=20)
    vehicle_class: VehicleClass
    valid_from: BoundedDate
    valid_until: BoundedDate
    price: Annotated[Dong, Field(ge=0, le=MAX_PRICE)]


def _written(plate: str, vehicle_class: str) -> str:
    try:
        return format_plate(plate, vehicle_class)
    except InvalidPlate:  # a pass written straight into the table; show what is stored
        return plate


def _pass(r: asyncpg.Record) -> dict:
    return {
        "id": r["id"],
        "lot_id": r["lot_id"],
        "plate": r["plate"],
        "plate_written": _written(r["plate"], r["vehicle_class"]),
        "vehicle_class": r["vehicle_class"],
        "valid_from": r["valid_from"],
        "valid_until": r["valid_until"],
        "price": r["price"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
    }


async def monthly_passes(
    conn: asyncpg.Connection,
    *,
    lot_id: str | None = None,
    plate: str | None = None,
    pass_id: int | None = None,
    limit: int = 100,
) -> list[dict]:
    rows = await conn.fetch(
        """SELECT * FROM monthly_passes
            WHERE ($1::text IS NULL OR lot_id = $1) AND ($2::text IS NULL OR plate = $2)
              AND ($4::bigint IS NULL OR id = $4)
            ORDER BY valid_until DESC, id DESC LIMIT $3""",
        lot_id,
        normalise_plate(plate) if plate else None,
        limit,
        pass_id,
    )
    return [_pass(r) for r in rows]


def _plate_for_class(body: PassIn):
    # A car's pass must not be sold at a motorbike's price: the written form decides, as at check-in (where
    # the attendant may confirm the class; a pass is sold for the plate as written, so here it is a 422).
    try:
        refuse_class_disagreement(body.plate, body.vehicle_class)
    except PlateClassMismatch as exc:
        raise ValidationFailed(
            f"{body.plate!r} is written as another class's plate; sell the pass for that class",
            field="plate",
            message="padmin.err.pass_class",
            readings=exc.extra["readings"],
        ) from None
    try:
        return parse_plate(body.plate, body.vehicle_class)
    except InvalidPlate as exc:
        raise ValidationFailed(
            f"not a valid {body.vehicle_class} plate: {exc.reason}", field="plate", message="padmin.err.plate"
        ) from None


async def create_monthly_pass(conn: asyncpg.Connection, body: PassIn, *, actor: str) -> int:
    plate = _plate_for_class(body)
    if body.valid_until < body.valid_from:
        raise ValidationFailed(
            "valid_until is before valid_from", field="valid_until", message="padmin.err.pass_order"
        )
    if (body.valid_until - body.valid_from).days + 1 > MAX_PASS_DAYS:
        raise ValidationFailed(
            f"a pass covers at most {MAX_PASS_DAYS} days",
            field="valid_until",
            message="padmin.err.pass_too_long",
        )
    async with conn.transaction():
        if not await conn.fetchval("SELECT 1 FROM parking_lots WHERE id = $1", body.lot_id):
            raise ValidationFailed("no such lot", field="lot_id", message="padmin.err.no_lot")
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
                f"{plate.written} already has pass {overlap} here in these days",
                field="valid_from",
                message="padmin.err.pass_overlap",
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
