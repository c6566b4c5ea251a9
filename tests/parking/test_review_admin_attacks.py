"""Attacks on the /admin/parking forms over HTTP: invisible Unicode in names, year 1 / 9999 effective dates,
a 10^13 đồng price, the same zone posted 20 times at once. Each refusal is the page with its message beside
the field (never a 500), and nothing is written."""

from __future__ import annotations

import asyncio

import pytest

from tests.parking.test_admin_forms import PAGE, _csrf, count, field_error, tomorrow_local

HIDDEN = "Có ký tự ẩn hoặc ký tự điều khiển; hãy gõ lại."


@pytest.fixture
async def admin(staff_login, lots):
    return await staff_login("admin")


async def post(client, admin, path, data, csrf):
    return await client.post(
        path, data={"csrf_token": csrf, **data}, headers=admin.headers(), allow_redirects=False
    )


def lot(**over):
    return {
        "id": "cg-dich-vong",
        "name": "Bãi xe Dịch Vọng",
        "address": "Phố Dịch Vọng",
        "ward": "Phường Cầu Giấy",
        "lat": "21.035",
        "lon": "105.79",
        "zone": "hn-ngoai-vi",
        "collection_account_code": "hanoi-treasury",
        "active": "1",
        **over,
    }


@pytest.mark.parametrize(
    "field,value", [("name", "Bãi\u200b xe"), ("address", "\u202ePhố"), ("ward", "\u200b")]
)
async def test_hidden_characters_in_a_lot_are_named_beside_the_field(client, admin, field, value):
    csrf = await _csrf(client, admin)
    before = await count(client, "parking_lots"), await count(client, "audit_log")
    resp = await post(client, admin, f"{PAGE}/lots", lot(**{field: value}), csrf)
    assert resp.status == 422
    assert field_error(await resp.text(), field) == HIDDEN
    assert (await count(client, "parking_lots"), await count(client, "audit_log")) == before


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59"])
async def test_a_tariff_from_year_1_or_9999_is_refused(client, admin, moment):
    csrf = await _csrf(client, admin)
    before = await count(client, "tariffs")
    tariff = {
        "zone": "hn-noi-do",
        "vehicle_class": "car",
        "effective_from": moment,
        "day_turn_price": "30.000",
        "night_turn_price": "50.000",
    }
    resp = await post(client, admin, f"{PAGE}/tariffs", tariff, csrf)
    assert resp.status == 422
    assert field_error(await resp.text(), "effective_from") == "Ngày giờ phải nằm trong khoảng năm 2000–2100."
    resp = await post(
        client,
        admin,
        f"{PAGE}/tariffs",
        {**tariff, "effective_from": tomorrow_local(), "day_turn_price": "10.000.000.000.000"},
        csrf,
    )
    assert resp.status == 422 and field_error(await resp.text(), "day_turn_price")
    assert await count(client, "tariffs") == before


async def test_the_same_zone_posted_20_times_at_once_is_one_row(client, admin):
    csrf = await _csrf(client, admin)
    zone = {"code": "hn-tay-ho", "name_vi": "Tây Hồ", "name_en": "West Lake"}
    answers = await asyncio.gather(*(post(client, admin, f"{PAGE}/zones", zone, csrf) for _ in range(20)))
    assert sorted(r.status for r in answers) == [303] + [409] * 19
    for r in answers:
        if r.status == 409:
            assert field_error(await r.text(), "code") == "Đã có khu vực giá với mã này."
    assert await count(client, "parking_zones WHERE code = 'hn-tay-ho'") == 1


async def test_the_same_lot_posted_20_times_at_once_is_one_row(client, admin):
    csrf = await _csrf(client, admin)
    answers = await asyncio.gather(*(post(client, admin, f"{PAGE}/lots", lot(), csrf) for _ in range(20)))
    assert sorted(r.status for r in answers) == [303] + [409] * 19
    assert await count(client, "parking_lots WHERE id = 'cg-dich-vong'") == 1
