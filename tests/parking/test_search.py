"""Public lot search: near a point, within a radius, by class, with live free spaces, nearest first."""

from __future__ import annotations

import pytest

from core.appkeys import POOL
from tests.catalogue import not_in_catalogue

pytestmark = pytest.mark.usefixtures("lots")
HOAN_KIEM_LAKE = "21.0287,105.8524"


async def test_nearest_first_within_radius(client):
    resp = await client.get(f"/api/v1/parking/lots?near={HOAN_KIEM_LAKE}&radius_m=1500")
    items = (await resp.json())["items"]
    distances = [i["distance_m"] for i in items]
    assert distances == sorted(distances) and all(d <= 1500 for d in distances)
    assert {i["id"] for i in items} >= {"hk-hang-dau", "hk-nha-hat-lon"}
    assert "tl-my-dinh" not in {i["id"] for i in items}


async def test_class_and_free_spaces(client, attendant):
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 1 WHERE lot_id = 'hk-hang-dau' AND vehicle_class = 'car'"
    )
    await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-ins",
        headers=attendant.headers(unsafe=True),
        json={"plate": "30A-123.45", "vehicle_class": "car"},
    )
    q = f"/api/v1/parking/lots?near={HOAN_KIEM_LAKE}&radius_m=3000&vehicle_class=car"
    all_cars = {i["id"]: i for i in (await (await client.get(q)).json())["items"]}
    assert all_cars["hk-hang-dau"]["spaces"]["car"] == {"capacity": 1, "free": 0}
    free = {i["id"] for i in (await (await client.get(q + "&available=true")).json())["items"]}
    assert "hk-hang-dau" not in free and "hk-tran-nhat-duat" in free
    # Capacity lowered below the vehicles inside (allowed: they stay): no space free, never fewer than none.
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 0 WHERE lot_id = 'hk-hang-dau' AND vehicle_class = 'car'"
    )
    lowered = {i["id"]: i for i in (await (await client.get(q)).json())["items"]}
    assert lowered["hk-hang-dau"]["spaces"]["car"] == {"capacity": 0, "free": 0}
    bikes = {
        i["id"]
        for i in (
            await (
                await client.get(
                    f"/api/v1/parking/lots?near={HOAN_KIEM_LAKE}&radius_m=3000&vehicle_class=large_car"
                )
            ).json()
        )["items"]
    }
    assert bikes == {"bd-van-mieu", "bd-quang-truong"}


async def test_by_ward_and_bad_queries(client):
    items = (await (await client.get("/api/v1/parking/lots?ward=Phường Hoàn Kiếm")).json())["items"]
    assert {i["id"] for i in items} == {"hk-hang-dau", "hk-tran-nhat-duat"}
    for bad in ("near=abc", "near=91,105", "radius_m=0", "vehicle_class=truck", "limit=0"):
        resp = await client.get(f"/api/v1/parking/lots?{bad}")
        assert resp.status == 422, bad


async def test_an_unknown_ward_is_refused_not_ignored(client):
    """Issue 12, point 11: a ward no lot is in answers 422 with a catalogue sentence (it used to be ignored on
    the page); a ward written as people write it (no "Phường", any case) is found."""
    for ward in ("Nowhere", "Phường Không Có", "Hoàn Kiếm X"):
        resp = await client.get(f"/api/v1/parking/lots?ward={ward}")
        assert resp.status == 422 and resp.content_type == "application/problem+json", ward
        problem = await resp.json()
        assert problem["field"] == "ward", ward
        assert problem["message"] == (
            "Không có phường này trong danh sách bãi xe. Hãy chọn một phường trong danh sách."
        )
        assert not_in_catalogue([problem["message"]]) == []
    for written in ("hoàn kiếm", "  PHƯỜNG   Hoàn Kiếm "):
        items = (await (await client.get(f"/api/v1/parking/lots?ward={written}")).json())["items"]
        assert {i["id"] for i in items} == {"hk-hang-dau", "hk-tran-nhat-duat"}, written
