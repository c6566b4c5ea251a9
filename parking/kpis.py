"""Parking KPIs, the figures the city is judged on: turns, cashless share, cash exceptions, revenue, stay and
turns that left without paying — per lot, ward or day and per vehicle class, in one set-based query.

Definitions (business days in Asia/Ho_Chi_Minh; a turn belongs to the day its vehicle was checked out):

* turn — a session checked out in the range (`exit_requested_at` set), i.e. status `closed` or
  `awaiting_payment`. Voided sessions are not turns; vehicles still inside are not turns yet.
* closed turn — a turn closed as `paid`, `pass`, `cash` or `free`.
* cashless share — (paid + pass) / (paid + pass + cash). `free` turns (the tariff quoted 0 ₫) took no payment
  of either kind, so they count neither for nor against the share; turns not (yet) paid are not closed and
  are reported on their own as `unpaid_turns` / `pending_turns`. No paying turn → no share (null).
* cash exceptions — turns closed as `cash` (the attendant took cash and gave a reason).
* revenue — fee of paid + cash turns; `cashless_revenue` paid only, `cash_revenue` cash only.
* unpaid turn — checked out, still `awaiting_payment`, and its payment request expired or was cancelled, or is
  still pending although the parking payment expiry has passed since check-out: the vehicle left unpaid.
  `unpaid_amount` is the fee those turns were quoted. `pending_turns` are the rest of `awaiting_payment`
  (the driver may still be paying).
* average stay — minutes from entry to check-out, over all turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import asyncpg

from core.money import LOCAL_TZ
from parking.plates import VEHICLE_CLASSES

GROUPS = ("lot", "ward", "day")
CASHLESS_TARGET = Decimal("0.90")  # the city's target: more than 90 % of parking turns cashless
MAX_RANGE_DAYS = 366

# The columns of a KPI row, in the order the CSV and the page show them.
COUNT_FIELDS = (
    "turns",
    "closed_turns",
    "paid_turns",
    "pass_turns",
    "cash_turns",
    "free_turns",
    "unpaid_turns",
    "pending_turns",
)
MONEY_FIELDS = ("revenue", "cashless_revenue", "cash_revenue", "unpaid_amount")

_KPI_SQL = """
WITH turns AS (
    SELECT CASE $1::text WHEN 'lot' THEN s.lot_id
                         WHEN 'ward' THEN l.ward
                         ELSE to_char(s.exit_requested_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD')
           END AS gkey,
           s.vehicle_class, s.status, s.close_reason, s.fee_amount,
           extract(epoch FROM s.exit_requested_at - s.entered_at) / 60 AS stay_minutes,
           (s.status = 'awaiting_payment'
            AND (pr.status IN ('expired', 'cancelled')
                 OR (pr.status = 'pending' AND s.exit_requested_at + $6::interval <= $7))) AS unpaid
      FROM parking_sessions s
      JOIN parking_lots l ON l.id = s.lot_id
      LEFT JOIN payments_parking_requests pr ON pr.id = s.payment_request_id
     WHERE s.status IN ('closed', 'awaiting_payment')
       AND s.exit_requested_at >= $2 AND s.exit_requested_at < $3
       AND ($4::text IS NULL OR s.vehicle_class = $4)
       AND ($5::text IS NULL OR l.ward = $5)
),
-- Every lot (ward, day) in scope gets a row, turns or not: a lot that records nothing is itself a finding.
keys AS (
    SELECT l.id AS gkey, l.name AS label
      FROM parking_lots l
     WHERE $1 = 'lot' AND ($5::text IS NULL OR l.ward = $5)
       AND ((l.active AND ($4::text IS NULL OR EXISTS (
                SELECT 1 FROM lot_capacities c
                 WHERE c.lot_id = l.id AND c.vehicle_class = $4 AND c.capacity > 0)))
            OR l.id IN (SELECT gkey FROM turns))
    UNION ALL
    SELECT DISTINCT l.ward, l.ward
      FROM parking_lots l
     WHERE $1 = 'ward' AND ($5::text IS NULL OR l.ward = $5)
       AND (l.active OR l.ward IN (SELECT gkey FROM turns))
    UNION ALL
    SELECT to_char(d, 'YYYY-MM-DD'), to_char(d, 'DD/MM/YYYY')
      FROM generate_series($8::date, $9::date, interval '1 day') d
     WHERE $1 = 'day'
)
SELECT k.gkey, k.label, t.vehicle_class,
       GROUPING(k.gkey) = 1 AS is_total, GROUPING(t.vehicle_class) = 1 AS all_classes,
       count(t.status) AS turns,
       count(*) FILTER (WHERE t.status = 'closed') AS closed_turns,
       count(*) FILTER (WHERE t.close_reason = 'paid') AS paid_turns,
       count(*) FILTER (WHERE t.close_reason = 'pass') AS pass_turns,
       count(*) FILTER (WHERE t.close_reason = 'cash') AS cash_turns,
       count(*) FILTER (WHERE t.close_reason = 'free') AS free_turns,
       count(*) FILTER (WHERE t.unpaid) AS unpaid_turns,
       count(*) FILTER (WHERE t.status = 'awaiting_payment' AND NOT t.unpaid) AS pending_turns,
       coalesce(sum(t.fee_amount) FILTER (WHERE t.close_reason IN ('paid', 'cash')), 0)::bigint AS revenue,
       coalesce(sum(t.fee_amount) FILTER (WHERE t.close_reason = 'paid'), 0)::bigint AS cashless_revenue,
       coalesce(sum(t.fee_amount) FILTER (WHERE t.close_reason = 'cash'), 0)::bigint AS cash_revenue,
       coalesce(sum(t.fee_amount) FILTER (WHERE t.unpaid), 0)::bigint AS unpaid_amount,
       round(avg(t.stay_minutes)::numeric, 1) AS avg_stay_minutes
  FROM keys k
  LEFT JOIN turns t ON t.gkey = k.gkey
 GROUP BY GROUPING SETS ((k.gkey, k.label, t.vehicle_class), (k.gkey, k.label), (t.vehicle_class), ())
-- a key without turns joins one NULL class; it belongs only in the all-classes rows
HAVING GROUPING(t.vehicle_class) = 1 OR t.vehicle_class IS NOT NULL
 ORDER BY GROUPING(k.gkey), CASE WHEN $1 = 'day' THEN k.gkey ELSE k.label END, k.gkey,
          GROUPING(t.vehicle_class) DESC,
          array_position($10::text[], t.vehicle_class)
"""


class KpiRangeError(ValueError):
    """The date range is empty, reversed or too long."""


@dataclass(frozen=True)
class KpiFilter:
    date_from: date
    date_to: date
    group: str = "lot"
    vehicle_class: str | None = None
    ward: str | None = None

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"group is one of {', '.join(GROUPS)}")
        if self.vehicle_class is not None and self.vehicle_class not in VEHICLE_CLASSES:
            raise ValueError(f"unknown vehicle class {self.vehicle_class!r}")
        if self.date_to < self.date_from:
            raise KpiRangeError("`to` is before `from`")
        if (self.date_to - self.date_from).days + 1 > MAX_RANGE_DAYS:
            raise KpiRangeError(f"at most {MAX_RANGE_DAYS} days at a time")


def cashless_share(paid: int, passes: int, cash: int) -> Decimal | None:
    """(paid + pass) / (paid + pass + cash), to four places; None when no turn paid anything."""
    paying = paid + passes + cash
    if paying == 0:
        return None
    return (Decimal(paid + passes) / Decimal(paying)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def format_share(share: Decimal | float | None) -> str:
    """0.949 → '94,9 %' (Vietnamese decimal comma); None → '—'."""
    if share is None:
        return "—"
    percent = (Decimal(str(share)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{percent}".replace(".", ",") + " %"


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


async def parking_kpis(
    conn: asyncpg.Connection, kpi: KpiFilter, *, now: datetime, payment_expiry: timedelta
) -> list[dict]:
    """KPI rows: per group key and class, per key over all classes (`vehicle_class` None), then the totals
    (`key` None) per class and over everything — the very last row."""
    rows = await conn.fetch(
        _KPI_SQL,
        kpi.group,
        _local_midnight(kpi.date_from),
        _local_midnight(kpi.date_to + timedelta(days=1)),
        kpi.vehicle_class,
        kpi.ward,
        payment_expiry,
        now,
        kpi.date_from,
        kpi.date_to,
        list(VEHICLE_CLASSES),
    )
    out = []
    for r in rows:
        share = cashless_share(r["paid_turns"], r["pass_turns"], r["cash_turns"])
        stay = r["avg_stay_minutes"]
        out.append(
            {
                "key": None if r["is_total"] else r["gkey"],
                "label": None if r["is_total"] else r["label"],
                "vehicle_class": None if r["all_classes"] else r["vehicle_class"],
                **{f: r[f] for f in COUNT_FIELDS},
                "cashless_share": float(share) if share is not None else None,
                **{f: r[f] for f in MONEY_FIELDS},
                "avg_stay_minutes": float(stay) if stay is not None else None,
            }
        )
    return out


def total_row(rows: list[dict]) -> dict:
    """The row over every key and class (always present: GROUPING SETS includes ())."""
    return next(r for r in rows if r["key"] is None and r["vehicle_class"] is None)
