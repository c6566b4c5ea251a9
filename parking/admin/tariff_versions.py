"""Tariff zones and tariff versions per zone and vehicle class. Versions are never edited: a newer one
supersedes from its `effective_from`, which may not lie in the past. Prices are checked by the domain's own
`parking.tariffs.ClassTariff`; each write is one transaction with its audit row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from core.audit import record_audit
from core.errors import Conflict, ValidationFailed, map_constraint
from core.text import FreeText
from core.timebounds import BoundedDatetime
from parking.admin.fields import ZONE_CODE, Price, VehicleClass, ZoneCode
from parking.plates import VEHICLE_CLASSES
from parking.tariffs import ClassTariff

PAST_TOLERANCE = timedelta(minutes=5)  # "from now" typed on a slow form is still now

map_constraint(
    "parking_zones_pkey", Conflict, "code", "a zone with this code exists", message="padmin.err.zone_taken"
)
map_constraint(
    "tariffs_zone_code_fkey", ValidationFailed, "zone", "no such tariff zone", message="padmin.err.no_zone"
)
map_constraint(
    "tariffs_zone_code_vehicle_class_effective_from_key",
    Conflict,
    "effective_from",
    "this zone and class already have a version from this moment",
    message="padmin.err.tariff_same_moment",
)


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: ZoneCode
    name_vi: FreeText = Field(min_length=1, max_length=200)
    name_en: FreeText = Field(min_length=1, max_length=200)


class TariffIn(BaseModel):
    """One version for one zone and class. Prices are checked by `parking.tariffs.ClassTariff` itself."""

    model_config = ConfigDict(extra="forbid")
    zone: str = Field(pattern=ZONE_CODE)
    vehicle_class: VehicleClass
    effective_from: BoundedDatetime = Field(description="In force from this moment (not in the past)")
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


# Reading ----------------------------------------------------------------------------------------------------


async def tariff_zones(conn: asyncpg.Connection) -> list[dict]:
    return [
        dict(r) for r in await conn.fetch("SELECT code, name_vi, name_en FROM parking_zones ORDER BY code")
    ]


def _state(row: asyncpg.Record, now: datetime) -> str:
    if row["effective_from"] > now:
        return "scheduled"
    if row["superseded_at"] is not None and row["superseded_at"] <= now:
        return "superseded"
    return "in_force"


def _version(r: asyncpg.Record, now: datetime) -> dict:
    return {
        "id": r["id"],
        "zone": r["zone_code"],
        "vehicle_class": r["vehicle_class"],
        "effective_from": r["effective_from"],
        "superseded_at": r["superseded_at"],
        "state": _state(r, now),
        "day_turn_price": r["day_turn_price"],
        "night_turn_price": r["night_turn_price"],
        "hourly_blocks": [list(b) for b in r["hourly_blocks"]],
        "overnight_multiplier": str(r["overnight_multiplier"]) if r["overnight_multiplier"] else None,
        "monthly_pass_price": r["monthly_pass_price"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
    }


async def tariff_versions(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    zone: str | None = None,
    vehicle_class: str | None = None,
    tariff_id: int | None = None,
) -> list[dict]:
    """Versions per zone and class, newest first, each with the moment the next one superseded it and its
    state at `now`."""
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
    return [_version(r, now) for r in rows]


# Writing (each one transaction, audited) ----------------------------------------------------------------


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


def _tariff_refusal(message: str) -> tuple[str, str]:
    """The field a ClassTariff refusal is about, and the message key a page shows for it."""
    for name in ("day_turn_price", "night_turn_price", "monthly_pass_price"):
        if name in message:
            return name, "padmin.err.price"
    if "hourly block" in message:
        return "hourly_blocks", "padmin.err.blocks"
    if "overnight" in message:
        return "overnight_multiplier", "padmin.err.overnight"
    return "body", "padmin.err.tariff"


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
        field, message = _tariff_refusal(str(exc))
        raise ValidationFailed(str(exc), field=field, message=message) from None


async def add_tariff_version(conn: asyncpg.Connection, body: TariffIn, *, actor: str, now: datetime) -> int:
    prices = class_tariff_of(body)
    if body.effective_from < now - PAST_TOLERANCE:
        # Versions are history: one starting in the past would rewrite which prices were in force.
        raise ValidationFailed(
            "a new version starts now or later", field="effective_from", message="padmin.err.tariff_past"
        )
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
