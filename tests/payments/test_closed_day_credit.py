"""A bank credit booked on a day finance has closed since is still booked — on the next open day — never
refused: nothing received is dropped by a day close."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.appkeys import POOL
from core.money import LOCAL_TZ
from tests.payments.test_callbacks import URL, new_request, signed, v1_body

pytestmark = pytest.mark.usefixtures("catalogue")


def today():
    return datetime.now(LOCAL_TZ).date()


async def test_a_credit_booked_on_a_closed_day_is_booked_on_the_next_open_day(
    client, db_url, keys, bank_key, staff_login
):
    pool = client.app[POOL]
    request = await new_request(db_url, keys)
    finance = await staff_login("finance")
    yesterday = today() - timedelta(days=1)
    closed = await client.post(
        "/api/v1/ledger/days/close",
        json={"business_date": yesterday.isoformat()},
        headers=finance.headers(unsafe=True),
    )
    assert closed.status == 201
    late_evening = datetime.combine(today(), datetime.min.time(), LOCAL_TZ) - timedelta(minutes=30)
    body = v1_body(request["reference"], booked_at=late_evening.isoformat())
    resp = await client.post(URL, data=body, headers=signed(bank_key, body))
    assert resp.status == 200
    row = await pool.fetchrow(
        """SELECT e.business_date, p.outcome FROM payments_received p
             JOIN journal_entries e ON e.id = p.entry_id"""
    )
    assert row["outcome"] == "settled" and row["business_date"] == today()
    assert await pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", request["id"]) == "paid"
