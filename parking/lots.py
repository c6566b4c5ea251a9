"""Lots: search near a point with live free spaces, and the lot data the pages and API show.

`search_lots` answers the public JSON API (its fields are the API's); `search_lot_cards` answers the public
search page, adding what a person deciding where to park needs: open or closed now (Hà Nội time) and the
price for their vehicle class in force now. A ward a caller names must be one of the lots' wards (compared
without case, spaces or the word "Phường"): an unknown ward is a 422, never silently "every ward"."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, time

import asyncpg

from core.errors import ValidationFailed
from core.money import LOCAL_TZ
from parking import lot_search_messages  # noqa: F401 (the sentences of the search and its refusals)

# Great-circle distance in metres (haversine); plenty precise within a city, and needs no extension.
_DISTANCE_SQL = """6371000 * 2 * asin(sqrt(
    power(sin(radians(l.lat - $1) / 2), 2)
    + cos(radians($1)) * cos(radians(l.lat)) * power(sin(radians(l.lon - $2) / 2), 2)))"""


def _ward_key(text: str) -> str:
    folded = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    for prefix in ("phường ", "p. ", "p."):
        if folded.startswith(prefix):
            return folded[len(prefix) :].strip()
    return folded


async def wards(conn: asyncpg.Connection) -> list[str]:
    return [
        r["ward"] for r in await conn.fetch("SELECT DISTINCT ward FROM parking_lots WHERE active ORDER BY 1")
    ]


async def resolve_ward(conn: asyncpg.Connection, text: str) -> str:
    """The ward as the lots spell it, for what a person or a caller wrote ("phường hoàn  kiếm", "Hoàn
    Kiếm"); a ward no active lot is in is refused with a sentence (422, field ward)."""
    wanted = _ward_key(text)
    for ward in await wards(conn):
        if _ward_key(ward) == wanted:
            return ward
    raise ValidationFailed(
        "ward: no active lot is in this ward", field="ward", message="lotsearch.unknown_ward"
    )


async def _search(
    conn: asyncpg.Connection,
    *,
    lat: float | None,
    lon: float | None,
    radius_m: int | None,
    vehicle_class: str | None,
    available: bool,
    ward: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    near = lat is not None and lon is not None
    if ward is not None:
        ward = await resolve_ward(conn, ward)
    return await conn.fetch(
        f"""WITH free AS (  -- each capacity row keeps its count of vehicles inside (migration 0029)
                SELECT c.lot_id, c.vehicle_class, c.capacity, greatest(c.capacity - c.inside, 0) AS free
                  FROM lot_capacities c)
            SELECT l.*, d.distance_m, sp.spaces
              FROM parking_lots l
             CROSS JOIN LATERAL (SELECT CASE WHEN $7 THEN {_DISTANCE_SQL} END AS distance_m) d
              JOIN LATERAL (
                   SELECT jsonb_object_agg(
                              f.vehicle_class, jsonb_build_object('capacity', f.capacity, 'free', f.free)
                          ) AS spaces,
                          bool_or(f.vehicle_class = $4 AND (NOT $5 OR f.free > 0)) AS class_ok,
                          bool_or(f.free > 0) AS any_free
                     FROM free f WHERE f.lot_id = l.id) sp ON sp.spaces IS NOT NULL
             WHERE l.active AND ($3::text IS NULL OR l.ward = $3)
               AND ($8::float8 IS NULL OR d.distance_m <= $8)
               AND ($4::text IS NULL OR sp.class_ok)
               AND ($4::text IS NOT NULL OR NOT $5 OR sp.any_free)
             ORDER BY d.distance_m NULLS LAST, l.name
             LIMIT $6""",
        lat if near else 0.0,
        lon if near else 0.0,
        ward,
        vehicle_class,
        available,
        limit,
        near,
        float(radius_m) if near and radius_m is not None else None,
    )


def _api_fields(r: asyncpg.Record) -> dict:
    return {
        "id": r["id"],
        "name": r["name"],
        "address": r["address"],
        "ward": r["ward"],
        "lat": r["lat"],
        "lon": r["lon"],
        "zone": r["zone_code"],
        "opening_hours": (f"{r['opens_at']:%H:%M}–{r['closes_at']:%H:%M}" if r["opens_at"] else "24/7"),
        "distance_m": round(r["distance_m"]) if r["distance_m"] is not None else None,
        "spaces": r["spaces"],
    }


async def search_lots(
    conn: asyncpg.Connection,
    *,
    lat: float | None,
    lon: float | None,
    radius_m: int | None,
    vehicle_class: str | None,
    available: bool,
    ward: str | None,
    limit: int = 50,
) -> list[dict]:
    rows = await _search(
        conn,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        vehicle_class=vehicle_class,
        available=available,
        ward=ward,
        limit=limit,
    )
    return [_api_fields(r) for r in rows]


def open_at(opens: time | None, closes: time | None, at: time) -> bool:
    """Is a lot open at this wall-clock time? No hours: day and night. Hours that pass midnight
    (22:00–02:00) are open from the opening until midnight and from midnight until the closing."""
    if opens is None or closes is None or opens == closes:
        return True
    if opens < closes:
        return opens <= at < closes
    return at >= opens or at < closes


@dataclass(frozen=True)
class Price:
    """A class's tariff in force now, as a page shows it: turns (day and night) or hours (progressive)."""

    day_turn: int
    night_turn: int
    hourly_blocks: tuple[tuple[int, int], ...]
    monthly_pass: int | None


async def prices_now(conn: asyncpg.Connection, vehicle_class: str, at: datetime) -> dict[str, Price]:
    """Each zone's price for one class in force at `at` (the latest version effective at or before it)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (zone_code) zone_code, day_turn_price, night_turn_price, hourly_blocks,
                  monthly_pass_price
             FROM tariffs WHERE vehicle_class = $1 AND effective_from <= $2
            ORDER BY zone_code, effective_from DESC""",
        vehicle_class,
        at,
    )
    return {
        r["zone_code"]: Price(
            r["day_turn_price"],
            r["night_turn_price"],
            tuple((int(a), int(b)) for a, b in r["hourly_blocks"]),
            r["monthly_pass_price"],
        )
        for r in rows
    }


async def search_lot_cards(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    vehicle_class: str,
    lat: float | None = None,
    lon: float | None = None,
    radius_m: int | None = None,
    available: bool = False,
    ward: str | None = None,
    limit: int = 100,
) -> list[dict]:
    """The page's lots for one vehicle class: nearest first near a point, else the open ones first by name;
    each with `open_now`, its hours, the free spaces and the price of that class."""
    rows = await _search(
        conn,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        vehicle_class=vehicle_class,
        available=available,
        ward=ward,
        limit=limit,
    )
    prices = await prices_now(conn, vehicle_class, now)
    local = now.astimezone(LOCAL_TZ).time()
    cards = []
    for r in rows:
        card = _api_fields(r)
        card["open_now"] = open_at(r["opens_at"], r["closes_at"], local)
        card["all_day"] = r["opens_at"] is None
        card["price"] = prices.get(r["zone_code"])
        card["class_spaces"] = r["spaces"].get(vehicle_class)
        cards.append(card)
    if lat is None:
        cards.sort(key=lambda c: not c["open_now"])  # stable: by name within open and closed
    return cards
