"""Lots: search near a point with live free spaces, and the lot data the pages and API show."""

from __future__ import annotations

import asyncpg

# Great-circle distance in metres (haversine); plenty precise within a city, and needs no extension.
_DISTANCE_SQL = """6371000 * 2 * asin(sqrt(
    power(sin(radians(l.lat - $1) / 2), 2)
    + cos(radians($1)) * cos(radians(l.lat)) * power(sin(radians(l.lon - $2) / 2), 2)))"""


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
    near = lat is not None and lon is not None
    rows = await conn.fetch(
        f"""WITH free AS (
                SELECT c.lot_id, c.vehicle_class, c.capacity, c.capacity - count(s.id) AS free
                  FROM lot_capacities c
                  LEFT JOIN parking_sessions s ON s.lot_id = c.lot_id AND s.vehicle_class = c.vehicle_class
                       AND s.status IN ('inside', 'awaiting_payment')
                 GROUP BY c.lot_id, c.vehicle_class, c.capacity)
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
    out = []
    for r in rows:
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "address": r["address"],
                "ward": r["ward"],
                "lat": r["lat"],
                "lon": r["lon"],
                "zone": r["zone_code"],
                "opening_hours": (
                    f"{r['opens_at']:%H:%M}–{r['closes_at']:%H:%M}" if r["opens_at"] else "24/7"
                ),
                "distance_m": round(r["distance_m"]) if r["distance_m"] is not None else None,
                "spaces": r["spaces"],
            }
        )
    return out


async def wards(conn: asyncpg.Connection) -> list[str]:
    return [
        r["ward"] for r in await conn.fetch("SELECT DISTINCT ward FROM parking_lots WHERE active ORDER BY 1")
    ]
