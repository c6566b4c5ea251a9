"""Parking KPIs on a small day of turns made through the real service functions (check-in, check-out, bank
settlement, cash, pass, expiry, void): the figures, their definitions, the CSV, the page and who may see them.

The day (10/03/2025, Hà Nội):

  lot hk-hang-dau (Phường Hoàn Kiếm, zone hn-noi-do: motorbike 5.000 ₫ a day turn, car 25.000 ₫/h)
    1 motorbike 08:00–09:00 paid 5.000        4 motorbike 09:00–11:00 monthly pass
    2 motorbike 08:00–10:00 paid 5.000        5 motorbike 09:00–12:00 cash 5.000
    3 car       08:00–10:00 paid 50.000       6 car       10:00–11:00 request expired: left unpaid 25.000
    + one car still inside (not a turn)
  lot tl-my-dinh (Phường Từ Liêm, zone hn-ngoai-vi: motorbike 4.000 ₫, car 20.000 ₫/h)
    7 motorbike 08:00–08:30 paid 4.000       11 car 16:00–17:00 checked out, request still pending
    8 motorbike voided (not a turn)
  next day: 9 motorbike at hk-hang-dau 08:00–09:00 paid 5.000

hk-hang-dau: 3 paid, 1 pass, 1 cash, 1 unpaid → cashless share (3 + 1) / (3 + 1 + 1) = 80 %; the unpaid turn
is not a closed turn, so it is reported beside the share, not inside it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from core.db import connect
from core.money import LOCAL_TZ
from parking.admin.passes import PassIn, create_monthly_pass
from parking.kpi_routes import CSV_COLUMNS
from parking.kpis import KpiFilter, cashless_share, format_share, parking_kpis, total_row
from parking.sessions import PlateInput, check_in, check_out, record_cash, void_session
from payments.requests import expire_overdue_requests
from payments.settlement import settle_credit
from tests.payments.conftest import credit

D = date(2025, 3, 10)
EXPIRY = timedelta(minutes=15)
ACTOR = "staff:kpi-test"
LOT_A, LOT_B = "hk-hang-dau", "tl-my-dinh"
API = "/api/v1/parking/kpis"


def at(hour: int, minute: int = 0, day: date = D) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL_TZ)


async def turn(conn, keys, lot, plate, vehicle_class, entered, exited, how):
    await check_in(
        conn, lot_id=lot, vehicle_class=vehicle_class, entry=PlateInput(plate), actor=ACTOR, now=entered
    )
    out = await check_out(
        conn,
        keys,
        lot_id=lot,
        entry=PlateInput(plate),
        actor=ACTOR,
        now=exited,
        amount_cap=500_000_000,
        payment_expiry=EXPIRY,
    )
    if how == "paid":
        request = await conn.fetchrow(
            "SELECT reference, amount_due FROM payment_requests WHERE id = $1", out.payment_request_id
        )
        paid_at = exited + timedelta(minutes=2)
        async with conn.transaction():
            await settle_credit(
                conn,
                keys,
                credit(request["reference"], request["amount_due"], booked_at=paid_at),
                now=paid_at,
            )
    elif how == "cash":
        await record_cash(
            conn,
            session_id=out.session["id"],
            lot_id=lot,
            reason="khách không có điện thoại",
            actor=ACTOR,
            now=exited + timedelta(minutes=3),
        )
    elif how == "expire":
        # check_out issues the request on the wall clock (not at `exited`), so expire it past that.
        later = datetime.now(UTC) + EXPIRY + timedelta(minutes=1)
        assert await expire_overdue_requests(conn, now=later) == 1
    return out


@pytest.fixture
async def kpi_day(db_url, keys, lots):
    conn = await connect(db_url)
    try:
        await create_monthly_pass(
            conn,
            PassIn(
                lot_id=LOT_A,
                plate="29-B1 333.33",
                vehicle_class="motorbike",
                valid_from=D - timedelta(days=1),
                valid_until=D + timedelta(days=29),
                price=150_000,
            ),
            actor=ACTOR,
        )
        await turn(conn, keys, LOT_A, "29-B1 111.11", "motorbike", at(8), at(9), "paid")
        await turn(conn, keys, LOT_A, "29-B1 222.22", "motorbike", at(8), at(10), "paid")
        await turn(conn, keys, LOT_A, "30A-111.11", "car", at(8), at(10), "paid")
        passed = await turn(conn, keys, LOT_A, "29-B1 333.33", "motorbike", at(9), at(11), "pass")
        assert passed.session["close_reason"] == "pass"
        await turn(conn, keys, LOT_A, "29-B1 444.44", "motorbike", at(9), at(12), "cash")
        await turn(conn, keys, LOT_A, "30A-222.22", "car", at(10), at(11), "expire")
        await turn(conn, keys, LOT_B, "29-B1 555.55", "motorbike", at(8), at(8, 30), "paid")
        voided = await check_in(
            conn,
            lot_id=LOT_B,
            vehicle_class="motorbike",
            entry=PlateInput("29-B1 666.66"),
            actor=ACTOR,
            now=at(9),
        )
        await void_session(conn, session_id=voided["id"], reason="nhập nhầm biển", actor=ACTOR, now=at(10))
        await check_in(
            conn, lot_id=LOT_A, vehicle_class="car", entry=PlateInput("30A-333.33"), actor=ACTOR, now=at(12)
        )
        await turn(conn, keys, LOT_B, "30A-444.44", "car", at(16), at(17), "leave pending")
        await turn(conn, keys, LOT_A, "29-B1 777.77", "motorbike", at(8, day=D + timedelta(days=1)),
                   at(9, day=D + timedelta(days=1)), "paid")  # fmt: skip
        states = await conn.fetch(
            "SELECT status, close_reason, count(*) FROM parking_sessions GROUP BY 1, 2 ORDER BY 1, 2"
        )
        assert [tuple(r) for r in states] == [
            ("awaiting_payment", None, 2),
            ("closed", "cash", 1),
            ("closed", "paid", 5),
            ("closed", "pass", 1),
            ("inside", None, 1),
            ("voided", None, 1),
        ]
    finally:
        await conn.close()


def row(rows, key, vehicle_class=None):
    (found,) = [r for r in rows if r["key"] == key and r["vehicle_class"] == vehicle_class]
    return found


def test_cashless_share_definition():
    assert cashless_share(3, 1, 1) == cashless_share(4, 0, 1) == Decimal("0.8")
    assert cashless_share(0, 0, 0) is None  # no paying turn, no share — not 0 %, not 100 %
    assert float(cashless_share(949, 0, 51)) == 0.949
    assert format_share(0.949) == "94,9 %" and format_share(1) == "100,0 %" and format_share(None) == "—"
    assert format_share(cashless_share(2, 0, 1)) == "66,7 %"


async def test_kpis_per_lot_and_class(db_url, kpi_day):
    conn = await connect(db_url)
    try:
        rows = await parking_kpis(
            conn, KpiFilter(D, D, "lot"), now=at(17, 5), payment_expiry=EXPIRY
        )  # 5 minutes after car 11 left: its driver may still be paying
    finally:
        await conn.close()
    a = row(rows, LOT_A)
    assert a["label"] == "Bãi xe Hàng Đầu"
    assert {k: a[k] for k in ("turns", "closed_turns", "paid_turns", "pass_turns", "cash_turns")} == {
        "turns": 6,
        "closed_turns": 5,
        "paid_turns": 3,
        "pass_turns": 1,
        "cash_turns": 1,
    }
    assert (a["unpaid_turns"], a["pending_turns"], a["free_turns"]) == (1, 0, 0)
    assert a["cashless_share"] == 0.8
    assert (a["revenue"], a["cashless_revenue"], a["cash_revenue"], a["unpaid_amount"]) == (
        65_000,
        60_000,
        5_000,
        25_000,
    )
    assert a["avg_stay_minutes"] == 110.0  # (60 + 120 + 120 + 120 + 180 + 60) / 6
    motorbikes, cars = row(rows, LOT_A, "motorbike"), row(rows, LOT_A, "car")
    assert (motorbikes["turns"], motorbikes["cashless_share"], motorbikes["revenue"]) == (4, 0.75, 15_000)
    assert (cars["turns"], cars["cashless_share"], cars["unpaid_turns"], cars["avg_stay_minutes"]) == (
        2,
        1.0,
        1,
        90.0,
    )
    b = row(rows, LOT_B)
    assert (b["turns"], b["paid_turns"], b["pending_turns"], b["unpaid_turns"]) == (2, 1, 1, 0)
    assert (b["revenue"], b["avg_stay_minutes"]) == (4_000, 45.0)
    # Every active lot is listed; a lot that recorded nothing has no share rather than a flattering one.
    quiet = row(rows, "hk-tran-nhat-duat")
    assert quiet["turns"] == 0 and quiet["cashless_share"] is None and quiet["revenue"] == 0
    assert not [r for r in rows if r["key"] == "hk-tran-nhat-duat" and r["vehicle_class"]]
    total = total_row(rows)
    assert rows[-1]["key"] is None  # totals come last: per class, then the grand total before them
    assert (total["turns"], total["paid_turns"], total["cash_turns"], total["pending_turns"]) == (8, 4, 1, 1)
    assert total["cashless_share"] == pytest.approx(5 / 6, abs=1e-4) and total["revenue"] == 69_000

    # Once the payment expiry has passed since check-out, the pending car counts as left unpaid.
    conn = await connect(db_url)
    try:
        later = await parking_kpis(conn, KpiFilter(D, D, "lot"), now=at(17, 16), payment_expiry=EXPIRY)
    finally:
        await conn.close()
    b = row(later, LOT_B)
    assert (b["pending_turns"], b["unpaid_turns"], b["unpaid_amount"]) == (0, 1, 20_000)


async def test_kpi_api_by_ward_day_and_class(client, staff_login, kpi_day):
    finance = await staff_login("finance")

    async def get(query):
        resp = await client.get(f"{API}?{query}", headers=finance.headers())
        assert resp.status == 200, await resp.text()
        return await resp.json()

    by_lot = await get("from=2025-03-10&to=2025-03-10")
    assert by_lot["group"] == "lot" and by_lot["cashless_target"] == 0.9
    assert by_lot["total"]["turns"] == 8 and by_lot["total"]["unpaid_turns"] == 2  # real now: all overdue
    assert row(by_lot["rows"], None, "motorbike")["cashless_share"] == 0.8
    assert row(by_lot["rows"], None, "car")["cashless_share"] == 1.0

    by_ward = await get("from=2025-03-10&to=2025-03-10&group=ward")
    hk, tl = row(by_ward["rows"], "Phường Hoàn Kiếm"), row(by_ward["rows"], "Phường Từ Liêm")
    assert (hk["turns"], hk["cashless_share"], hk["revenue"]) == (6, 0.8, 65_000)
    assert (tl["turns"], tl["unpaid_turns"]) == (2, 1)

    by_day = await get("from=2025-03-09&to=2025-03-11&group=day")
    days = [(r["key"], r["turns"]) for r in by_day["rows"] if r["key"] and r["vehicle_class"] is None]
    assert days == [("2025-03-09", 0), ("2025-03-10", 8), ("2025-03-11", 1)]
    assert row(by_day["rows"], "2025-03-10")["label"] == "10/03/2025"

    cars = await get("from=2025-03-10&to=2025-03-10&vehicle_class=car")
    assert {r["vehicle_class"] for r in cars["rows"]} == {None, "car"}
    assert cars["total"]["turns"] == 3 and cars["total"]["revenue"] == 50_000

    one_ward = await get("from=2025-03-10&to=2025-03-10&ward=Phường Từ Liêm")
    assert {r["key"] for r in one_ward["rows"]} == {LOT_B, None} and one_ward["total"]["turns"] == 2


async def test_business_day_is_hanoi_time(db_url, keys, lots):
    conn = await connect(db_url)
    try:
        night = date(2025, 4, 1)
        # 23:30 and 00:30 Hà Nội are 16:30 and 17:30 UTC of the same UTC day: they belong to two local days.
        await turn(
            conn, keys, LOT_A, "29-B1 888.88", "motorbike", at(22, day=night), at(23, 30, day=night), "cash"
        )
        await turn(conn, keys, LOT_A, "29-B1 999.99", "motorbike", at(23, 50, day=night),
                   at(0, 30, day=night + timedelta(days=1)), "cash")  # fmt: skip
        rows = await parking_kpis(
            conn, KpiFilter(night, night + timedelta(days=1), "day"), now=at(12), payment_expiry=EXPIRY
        )
    finally:
        await conn.close()
    assert [(r["key"], r["cash_turns"]) for r in rows if r["key"] and r["vehicle_class"] is None] == [
        ("2025-04-01", 1),
        ("2025-04-02", 1),
    ]
    assert total_row(rows)["cashless_share"] == 0.0


async def test_many_turns_are_counted_by_the_database(db_url, lots):
    """Set-based: 3,000 closed turns straight into the table add up exactly."""
    conn = await connect(db_url)
    try:
        await conn.execute(
            """INSERT INTO parking_sessions (lot_id, plate, plate_written, vehicle_class, entered_at,
                   checked_in_by, exit_requested_at, fee_amount, status, close_reason, cash_reason, closed_at)
               SELECT 'tl-my-dinh', 'P' || i, 'P' || i, 'motorbike', $1::timestamptz, 'bulk',
                      $1::timestamptz + interval '30 minutes',
                      CASE WHEN i % 20 <> 0 AND i % 10 = 0 THEN 0 ELSE 4000 END, 'closed',
                      CASE WHEN i % 20 = 0 THEN 'cash' WHEN i % 10 = 0 THEN 'pass' ELSE 'paid' END,
                      CASE WHEN i % 20 = 0 THEN 'bulk cash reason' END,
                      $1::timestamptz + interval '31 minutes'
                 FROM generate_series(1, 3000) i""",
            at(9),
        )
        rows = await parking_kpis(conn, KpiFilter(D, D, "ward"), now=at(20), payment_expiry=EXPIRY)
    finally:
        await conn.close()
    tl = row(rows, "Phường Từ Liêm")
    assert (tl["turns"], tl["cash_turns"], tl["pass_turns"], tl["paid_turns"]) == (3000, 150, 150, 2700)
    assert tl["cashless_share"] == 0.95 and tl["revenue"] == 2850 * 4000 and tl["avg_stay_minutes"] == 30.0


async def test_csv_has_bom_header_and_the_same_numbers(client, staff_login, kpi_day):
    admin = await staff_login("admin")
    query = "from=2025-03-10&to=2025-03-10"
    resp = await client.get(f"{API}.csv?{query}", headers=admin.headers())
    assert resp.status == 200 and resp.content_type == "text/csv" and resp.charset == "utf-8"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = await resp.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(lines[0]) == CSV_COLUMNS
    records = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    a = next(r for r in records if r["key"] == LOT_A and r["vehicle_class"] == "ALL")
    assert a["label"] == "Bãi xe Hàng Đầu"
    assert (a["turns"], a["cashless_share"], a["revenue"], a["unpaid_turns"], a["avg_stay_minutes"]) == (
        "6",
        "0.8000",
        "65000",
        "1",
        "110.0",
    )
    assert records[-1]["key"] == "TOTAL" and records[-1]["vehicle_class"] in {"ALL", "motorbike", "car"}
    report = await (await client.get(f"{API}?{query}", headers=admin.headers())).json()
    assert len(records) == len(report["rows"])
    for rec, js in zip(records, report["rows"], strict=True):
        for col in ("turns", "paid_turns", "cash_turns", "unpaid_turns", "revenue", "unpaid_amount"):
            assert int(rec[col]) == js[col]
        if js["cashless_share"] is not None:
            assert float(rec["cashless_share"]) == js["cashless_share"]


async def test_page_shows_table_chart_and_csv_link(client, staff_login, kpi_day):
    finance = await staff_login("finance")
    resp = await client.get(
        "/parking/kpis?from=2025-03-10&to=2025-03-10&group=lot", headers=finance.headers()
    )
    assert resp.status == 200
    html = await resp.text()
    assert '<svg id="share-chart"' in html and 'id="target-line"' in html and "Mục tiêu 90,0 %" in html
    assert "<script" not in html.split("<main>")[1].split("</main>")[0]  # drawn by the service
    assert "80,0 %" in html and "65.000 ₫" in html and "83,3 %" in html  # lot A, its revenue, the total
    assert html.count('class="share"') == 2  # bars for the two lots with paying turns; the rest are empty
    assert (
        "Bãi xe Hàng Đầu" in html and 'id="csv-link" href="/api/v1/parking/kpis.csv?from=2025-03-10' in html
    )
    assert 'data-key="hk-hang-dau" data-class="car"' in html
    bad = await client.get("/parking/kpis?from=2025-03-10&to=2025-03-01", headers=finance.headers())
    assert bad.status == 200 and 'id="filter-error"' in await bad.text()
    # The reason is shown in the reader's language, not pydantic's English (it was, for these two).
    for query in ("ward=%00", "from=2026-13-45"):
        bad = await client.get(f"/parking/kpis?{query}", headers=finance.headers())
        shown = re.search(r'id="filter-error"[^>]*>(.*?)<', await bad.text(), re.S).group(1)
        assert bad.status == 200 and shown.strip(), query
        assert "Value error" not in shown and "Input should" not in shown and "U+0000" not in shown, shown


async def test_who_may_read_kpis(client, staff_login, lots):
    q = "from=2025-03-10&to=2025-03-10"
    attendant = await staff_login("attendant")
    for url in (f"{API}?{q}", f"{API}.csv?{q}", f"/parking/kpis?{q}"):
        assert (await client.get(url, headers=attendant.headers())).status == 403
        assert (await client.get(url, headers={"Accept": "application/json"})).status == 401
    finance = await staff_login("finance")
    for bad in (
        "from=2025-03-10",
        "from=2025-03-10&to=2025-03-01",
        "from=2024-01-01&to=2025-06-01",
        "from=2025-03-10&to=2025-03-10&group=month",
        "from=2025-03-10&to=2025-03-10&vehicle_class=truck",
        "from=10/03/2025&to=2025-03-10",
        "from=9999-12-31&to=9999-12-31",
        "from=2025-03-10&to=2025-03-10&date_from=2025-03-01",
    ):
        resp = await client.get(f"{API}?{bad}", headers=finance.headers())
        assert resp.status == 422, bad
    problem = await (
        await client.get(f"{API}?from=2025-03-10&to=2025-03-01", headers=finance.headers())
    ).json()
    assert problem["field"] == "to"
    staff_home = await (await client.get("/staff", headers=finance.headers())).text()
    assert "/parking/kpis" in staff_home
