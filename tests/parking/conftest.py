"""Parking fixtures: the demo catalogue, lots and tariffs, and attendants bound to lots."""

from __future__ import annotations

import pytest

from core.db import connect
from parking.demo import load_parking_demo
from payments.demo import load_payments_demo


@pytest.fixture
async def lots(db_url, settings, keys):
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        await load_parking_demo(conn, settings, keys)
    finally:
        await conn.close()


@pytest.fixture
async def attendant(staff_login, db_url, lots):
    """An attendant bound to hk-hang-dau and tl-my-dinh."""
    login = await staff_login("attendant")
    conn = await connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO lot_attendants "
            "SELECT l, id FROM staff_users, unnest($2::text[]) l WHERE username = $1",
            login.username,
            ["hk-hang-dau", "tl-my-dinh"],
        )
    finally:
        await conn.close()
    return login
