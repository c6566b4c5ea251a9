"""Parking administration: lots, capacities, attendants, tariff versions that supersede, monthly passes — each
write audited with before/after, bad input refused with the field named and nothing written."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from core.appkeys import CLOCK, POOL
from core.money import LOCAL_TZ

API = "/api/v1/admin/parking"
NEW_LOT = {
    "id": "hk-dinh-tien-hoang",
    "name": "Bãi xe Đinh Tiên Hoàng",
    "address": "Phố Đinh Tiên Hoàng",
    "ward": "Phường Hoàn Kiếm",
    "lat": 21.0301,
    "lon": 105.8525,
    "zone": "hn-noi-do",
    "opens_at": "06:00",
    "closes_at": "23:00",
    "collection_account_code": "hanoi-treasury",
}


async def send(client, login, method, url, body=None):
    return await client.request(method, url, json=body, headers=login.headers(unsafe=True))


async def audit(client, subject, action=None):
    return await client.app[POOL].fetch(
        "SELECT action, actor, before, after FROM audit_log WHERE subject = $1 "
        "AND ($2::text IS NULL OR action = $2) ORDER BY seq",
        subject,
        action,
    )


def set_clock(client, local: datetime) -> None:
    """Move the app's clock so that now() is `local` (give or take the test's own running time)."""
    client.app[CLOCK].advance(local - client.app[CLOCK].now())


@pytest.fixture
async def admin(staff_login, lots):
    return await staff_login("admin")


async def test_create_lot_set_capacity_assign_attendant(client, admin, staff_login):
    created = await send(client, admin, "POST", f"{API}/lots", NEW_LOT)
    assert created.status == 201, await created.text()
    lot = await created.json()
    assert lot["opens_at"] == "06:00" and lot["capacities"] == {} and lot["attendants"] == []
    again = await send(client, admin, "POST", f"{API}/lots", NEW_LOT)
    assert again.status == 409 and (await again.json())["field"] == "id"

    url = f"{API}/lots/{NEW_LOT['id']}"
    resp = await send(client, admin, "PUT", f"{url}/capacities/motorbike", {"capacity": 120})
    assert resp.status == 200 and (await resp.json())["capacities"] == {
        "motorbike": {"capacity": 120, "inside": 0}
    }
    await send(client, admin, "PUT", f"{url}/capacities/motorbike", {"capacity": 150})
    assert (await send(client, admin, "PUT", f"{url}/capacities/truck", {"capacity": 1})).status == 404

    worker = await staff_login("attendant", "lan")
    outsider = await staff_login("attendant", "minh")
    finance = await staff_login("finance", "thu")
    assert (await send(client, admin, "POST", f"{url}/attendants", {"username": "thu"})).status == 422
    assert (await send(client, admin, "POST", f"{url}/attendants", {"username": "nobody"})).status == 422
    resp = await send(client, admin, "POST", f"{url}/attendants", {"username": "lan"})
    assert resp.status == 201 and (await resp.json())["attendants"] == ["lan"]
    assert (await send(client, admin, "POST", f"{url}/attendants", {"username": "lan"})).status == 409

    # The lot is live: its attendant checks a motorbike in (at a time it is open), the outsider may not.
    set_clock(client, datetime.combine(datetime.now(LOCAL_TZ).date() + timedelta(days=1), time(10), LOCAL_TZ))
    check_in = f"/api/v1/parking/lots/{NEW_LOT['id']}/check-ins"
    body = {"plate": "29-B1 123.45", "vehicle_class": "motorbike"}
    assert (await send(client, outsider, "POST", check_in, body)).status == 403
    assert (await send(client, worker, "POST", check_in, body)).status == 201
    listed = await (await client.get(f"{API}/lots", headers=admin.headers())).json()
    mine = next(item for item in listed["items"] if item["id"] == NEW_LOT["id"])
    assert mine["capacities"]["motorbike"] == {"capacity": 150, "inside": 1}

    resp = await send(client, admin, "DELETE", f"{url}/attendants/lan")
    assert resp.status == 200 and (await resp.json())["attendants"] == []
    assert (await send(client, admin, "DELETE", f"{url}/attendants/lan")).status == 404
    assert (await send(client, worker, "POST", check_in, {**body, "plate": "29-B1 222.22"})).status == 403

    actions = [(r["action"], r["before"], r["after"]) for r in await audit(client, f"lot:{NEW_LOT['id']}")]
    assert actions[0][0] == "parking.lot.create" and actions[0][2]["name"] == "Bãi xe Đinh Tiên Hoàng"
    assert actions[1:] == [
        (
            "parking.capacity.set",
            {"vehicle_class": "motorbike", "capacity": None},
            {"vehicle_class": "motorbike", "capacity": 120},
        ),
        (
            "parking.capacity.set",
            {"vehicle_class": "motorbike", "capacity": 120},
            {"vehicle_class": "motorbike", "capacity": 150},
        ),
        ("parking.attendant.assign", None, {"username": "lan"}),
        ("parking.attendant.unassign", {"username": "lan"}, None),
    ]
    assert all(r["actor"] == f"staff:{admin.username}" for r in await audit(client, f"lot:{NEW_LOT['id']}"))
    assert finance  # a finance account exists and still could not be made an attendant


async def test_update_lot_is_audited_with_before_and_after(client, admin):
    url = f"{API}/lots/hk-nha-hat-lon"
    current = await (await client.get(url, headers=admin.headers())).json()
    fields = {k: current[k] for k in NEW_LOT if k != "id"}
    same = await send(client, admin, "PUT", url, fields)
    assert same.status == 200
    assert await audit(client, "lot:hk-nha-hat-lon") == []  # nothing changed, nothing written
    resp = await send(
        client, admin, "PUT", url, {**fields, "opens_at": None, "closes_at": None, "name": "Nhà hát"}
    )
    assert resp.status == 200 and (await resp.json())["opens_at"] is None
    (entry,) = await audit(client, "lot:hk-nha-hat-lon", "parking.lot.update")
    assert entry["before"]["opens_at"] == "06:00" and entry["after"]["opens_at"] is None
    assert entry["before"]["name"] == "Bãi xe Nhà hát Lớn" and entry["after"]["name"] == "Nhà hát"

    for bad, field in (
        ({**fields, "opens_at": "06:00", "closes_at": None}, "opens_at"),
        ({**fields, "zone": "no-such-zone"}, "zone"),
        ({**fields, "collection_account_code": "nope"}, "collection_account_code"),
        ({**fields, "lat": 91}, "lat"),
        ({**fields, "opens_at": "06:00+07:00", "closes_at": "22:00"}, "opens_at"),
    ):
        resp = await send(client, admin, "PUT", url, bad)
        assert resp.status == 422, bad
        assert (await resp.json())["field"] == field
    assert (await send(client, admin, "PUT", f"{API}/lots/no-such-lot", fields)).status == 404
    assert len(await audit(client, "lot:hk-nha-hat-lon")) == 1


def tariff(**overrides):
    return {
        "zone": "hn-noi-do",
        "vehicle_class": "motorbike",
        "effective_from": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "day_turn_price": 7_000,
        "night_turn_price": 10_000,
        "overnight_multiplier": "2",
        "monthly_pass_price": 180_000,
        **overrides,
    }


async def test_new_tariff_version_supersedes_from_its_effective_time(client, admin, attendant):
    morning = datetime.combine(datetime.now(LOCAL_TZ).date() + timedelta(days=1), time(9), LOCAL_TZ)
    set_clock(client, morning)
    effective = morning + timedelta(hours=1)
    resp = await send(client, admin, "POST", f"{API}/tariffs", tariff(effective_from=effective.isoformat()))
    assert resp.status == 201, await resp.text()
    version = await resp.json()
    assert version["state"] == "scheduled" and version["overnight_multiplier"] == "2.00"
    same_moment = await send(
        client, admin, "POST", f"{API}/tariffs", tariff(effective_from=effective.isoformat())
    )
    assert same_moment.status == 409 and (await same_moment.json())["field"] == "effective_from"

    check_in, check_out = (f"/api/v1/parking/lots/hk-hang-dau/{x}" for x in ("check-ins", "check-outs"))
    for plate in ("29-B1 111.11", "29-B1 222.22"):
        await send(client, attendant, "POST", check_in, {"plate": plate, "vehicle_class": "motorbike"})
    client.app[CLOCK].advance(timedelta(minutes=30))  # 09:30: the old version is in force
    before = await (await send(client, attendant, "POST", check_out, {"plate": "29-B1 111.11"})).json()
    assert before["fee_amount"] == 5_000
    client.app[CLOCK].advance(timedelta(hours=1))  # 10:30: the new one
    after = await (await send(client, attendant, "POST", check_out, {"plate": "29-B1 222.22"})).json()
    assert after["fee_amount"] == 7_000

    listing = await (
        await client.get(f"{API}/tariffs?zone=hn-noi-do&vehicle_class=motorbike", headers=admin.headers())
    ).json()
    assert [(v["state"], v["day_turn_price"]) for v in listing["items"]] == [
        ("in_force", 7_000),
        ("superseded", 5_000),
    ]
    assert listing["items"][1]["superseded_at"] == listing["items"][0]["effective_from"]
    (entry,) = await audit(client, f"tariff:{version['id']}")
    assert entry["action"] == "parking.tariff.add_version" and entry["after"]["day_turn_price"] == 7_000
    # Versions are history: none may start before now, so the one in force cannot be rewritten.
    late = await send(client, admin, "POST", f"{API}/tariffs", tariff(effective_from=effective.isoformat()))
    assert late.status == 422 and (await late.json())["field"] == "effective_from"


BAD_TARIFFS = [
    ({"day_turn_price": -5_000}, "day_turn_price"),
    ({"night_turn_price": 8_000.5}, "night_turn_price"),
    ({"day_turn_price": 5_000.0}, "day_turn_price"),
    ({"monthly_pass_price": -1}, "monthly_pass_price"),
    (
        {
            "vehicle_class": "car",
            "overnight_multiplier": None,
            "hourly_blocks": [[2, 25_000], [3, 35_000]],
        },
        "hourly_blocks",
    ),
    (
        {
            "vehicle_class": "car",
            "overnight_multiplier": None,
            "hourly_blocks": [[1, 25_000], [1, 30_000]],
        },
        "hourly_blocks",
    ),
    (
        {"vehicle_class": "car", "overnight_multiplier": None, "hourly_blocks": [[1, -25_000]]},
        "hourly_blocks",
    ),
    ({"vehicle_class": "car", "hourly_blocks": [[1, 25_000]]}, "overnight_multiplier"),
    ({"overnight_multiplier": "0.5"}, "overnight_multiplier"),
    ({"effective_from": "2020-01-01T00:00:00+07:00"}, "effective_from"),
    ({"effective_from": "2030-01-01T00:00:00"}, "effective_from"),
    ({"zone": "no-such-zone"}, "zone"),
    ({"vehicle_class": "truck"}, "vehicle_class"),
    ({"day_turn_price": 10**15}, "day_turn_price"),
]


async def test_bad_tariffs_are_refused_and_nothing_written(client, admin):
    pool = client.app[POOL]
    count = await pool.fetchval("SELECT count(*) FROM tariffs")
    for change, field in BAD_TARIFFS:
        resp = await send(client, admin, "POST", f"{API}/tariffs", tariff(**change))
        assert resp.status == 422, (change, await resp.text())
        problem = await resp.json()
        assert problem["field"].split(".")[0] == field, (change, problem)
    assert await pool.fetchval("SELECT count(*) FROM tariffs") == count
    assert (
        await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'parking.tariff.add_version'") == 0
    )


async def test_hourly_car_tariff_version(client, admin):
    body = tariff(
        vehicle_class="car",
        day_turn_price=0,
        night_turn_price=0,
        overnight_multiplier=None,
        hourly_blocks=[[1, 30_000], [3, 40_000], [5, 50_000]],
        monthly_pass_price=2_500_000,
    )
    resp = await send(client, admin, "POST", f"{API}/tariffs", body)
    assert resp.status == 201
    assert (await resp.json())["hourly_blocks"] == [[1, 30_000], [3, 40_000], [5, 50_000]]


async def test_monthly_pass_is_validated_and_closes_check_out(client, admin, attendant):
    today = datetime.now(LOCAL_TZ).date()
    body = {
        "lot_id": "hk-hang-dau",
        "plate": "29b1 123.45",
        "vehicle_class": "motorbike",
        "valid_from": (today - timedelta(days=1)).isoformat(),
        "valid_until": (today + timedelta(days=29)).isoformat(),
        "price": 150_000,
    }
    resp = await send(client, admin, "POST", f"{API}/passes", body)
    assert resp.status == 201, await resp.text()
    sold = await resp.json()
    assert sold["plate"] == "29B112345" and sold["plate_written"] == "29-B1 123.45"
    overlap = await send(client, admin, "POST", f"{API}/passes", {**body, "valid_from": today.isoformat()})
    assert overlap.status == 409
    for bad, field in (
        ({"plate": "ABC"}, "plate"),
        ({"vehicle_class": "car"}, "plate"),  # a motorbike plate is no car plate
        ({"valid_until": (today - timedelta(days=5)).isoformat()}, "valid_until"),
        ({"lot_id": "no-such-lot"}, "lot_id"),
        ({"price": -1}, "price"),
        ({"valid_until": (today + timedelta(days=400)).isoformat()}, "valid_until"),
    ):
        resp = await send(client, admin, "POST", f"{API}/passes", {**body, **bad})
        assert resp.status == 422, bad
        assert (await resp.json())["field"] == field
    assert len(await audit(client, f"pass:{sold['id']}", "parking.pass.create")) == 1
    assert await client.app[POOL].fetchval("SELECT count(*) FROM monthly_passes") == 1

    lot = "/api/v1/parking/lots/hk-hang-dau"
    await send(
        client, attendant, "POST", f"{lot}/check-ins", {"plate": "29-B1 123.45", "vehicle_class": "motorbike"}
    )
    out = await (await send(client, attendant, "POST", f"{lot}/check-outs", {"plate": "29B112345"})).json()
    assert out["close_reason"] == "pass" and out["fee_amount"] == 0
    listed = await (await client.get(f"{API}/passes?plate=29-B1 123.45", headers=admin.headers())).json()
    assert [p["id"] for p in listed["items"]] == [sold["id"]]


async def test_only_admins(client, staff_login, lots):
    for role in ("attendant", "finance", "approver"):
        login = await staff_login(role)
        assert (await client.get(f"{API}/lots", headers=login.headers())).status == 403
        assert (await send(client, login, "POST", f"{API}/lots", NEW_LOT)).status == 403
        for page in ("", "/lots", "/tariffs", "/passes", "/attendants"):
            assert (await client.get(f"/admin/parking{page}", headers=login.headers())).status == 403
    assert (
        await client.app[POOL].fetchval("SELECT count(*) FROM parking_lots WHERE id = $1", NEW_LOT["id"]) == 0
    )


async def test_admin_page_and_forms(client, admin):
    index = await client.get("/admin/parking", headers=admin.headers(), allow_redirects=False)
    assert index.status == 302 and index.headers["Location"] == "/admin/parking/lots"
    page = await client.get("/admin/parking", headers=admin.headers())
    assert page.status == 200 and page.url.path == "/admin/parking/lots"
    html = await page.text()
    assert "Quản lý bãi xe" in html and 'id="lot-hk-hang-dau"' in html and 'id="tariffs"' not in html
    assert 'href="/admin/parking/tariffs"' in html and 'aria-current="page">Bãi xe</a>' in html
    tariffs = await (await client.get("/admin/parking/tariffs", headers=admin.headers())).text()
    assert 'id="tariffs"' in tariffs and "đang áp dụng" in tariffs  # the demo tariffs are in force
    assert 'id="lot-hk-hang-dau"' not in tariffs and "Xe máy: " in tariffs
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    cookie = {"Cookie": admin.headers()["Cookie"]}
    form = {
        "csrf_token": csrf,
        "id": "cg-dich-vong",
        "name": "Bãi xe Dịch Vọng",
        "address": "Phố Dịch Vọng",
        "ward": "Phường Cầu Giấy",
        "lat": "21,0350",  # a Vietnamese keyboard's decimal comma
        "lon": "105.7900",
        "zone": "hn-ngoai-vi",
        "collection_account_code": "hanoi-treasury",
        "active": "1",
    }
    resp = await client.post("/admin/parking/lots", data=form, headers=cookie, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/parking/lots?saved=1"
    lat = await client.app[POOL].fetchval("SELECT lat FROM parking_lots WHERE id = 'cg-dich-vong'")
    assert lat == 21.035

    resp = await client.post(
        "/admin/parking/lots/cg-dich-vong/capacities",
        data={"csrf_token": csrf, "vehicle_class": "car", "capacity": "40"},
        headers=cookie,
        allow_redirects=False,
    )
    assert resp.status == 303
    tomorrow = (datetime.now(LOCAL_TZ) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    bad = await client.post(
        "/admin/parking/tariffs",
        data={
            "csrf_token": csrf,
            "zone": "hn-ngoai-vi",
            "vehicle_class": "car",
            "effective_from": tomorrow,
            "hourly_blocks": "[[2, 20000]]",
        },
        headers=cookie,
    )
    assert bad.status == 422 and 'id="form-error"' in await bad.text() and "hourly_blocks" in await bad.text()
    good = await client.post(
        "/admin/parking/tariffs",
        data={
            "csrf_token": csrf,
            "zone": "hn-ngoai-vi",
            "vehicle_class": "car",
            "effective_from": tomorrow,
            "hourly_blocks": "[[1, 22000], [3, 32000]]",
            "monthly_pass_price": "1600000",
        },
        headers=cookie,
        allow_redirects=False,
    )
    assert good.status == 303
    stored = await client.app[POOL].fetchval(
        "SELECT effective_from FROM tariffs WHERE zone_code = 'hn-ngoai-vi' AND vehicle_class = 'car' "
        "ORDER BY effective_from DESC LIMIT 1"
    )
    assert stored.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") == tomorrow  # typed in Hà Nội time
    forged = await client.post("/admin/parking/lots", data={**form, "csrf_token": "forged"}, headers=cookie)
    assert forged.status == 403
    page = await (await client.get("/admin/parking/lots?saved=1", headers=admin.headers())).text()
    assert 'id="saved"' in page and "Bãi xe Dịch Vọng" in page and 'data-class="car"' in page
    assert [r["action"] for r in await audit(client, "lot:cg-dich-vong")] == [
        "parking.lot.create",
        "parking.capacity.set",
    ]


async def test_zone_then_lot_in_it(client, admin):
    zone = {"code": "hn-ven-ho", "name_vi": "Khu vực ven hồ", "name_en": "Lakeside"}
    resp = await send(client, admin, "POST", f"{API}/zones", zone)
    assert resp.status == 201 and (await resp.json()) == zone
    assert (await send(client, admin, "POST", f"{API}/zones", zone)).status == 409
    assert (await send(client, admin, "POST", f"{API}/zones", {**zone, "code": "Bad Code"})).status == 422
    listed = await (await client.get(f"{API}/zones", headers=admin.headers())).json()
    assert "hn-ven-ho" in {z["code"] for z in listed["items"]}
    lot = {**NEW_LOT, "id": "th-ven-ho", "zone": "hn-ven-ho", "opens_at": None, "closes_at": None}
    assert (await send(client, admin, "POST", f"{API}/lots", lot)).status == 201
    (entry,) = await audit(client, "zone:hn-ven-ho")
    assert entry["action"] == "parking.zone.create" and entry["after"]["name_vi"] == "Khu vực ven hồ"


async def test_admin_pages_in_english_and_numbers_the_vietnamese_way(client, admin):
    await client.app[POOL].execute("UPDATE lot_capacities SET capacity = 1200 WHERE lot_id = 'hk-hang-dau'")
    lots = await (await client.get("/admin/parking/lots", headers=admin.headers())).text()
    assert "Xe máy 1.200 (0)" in lots and 'name="lat" value="21,' in lots
    cookie = {"Cookie": admin.headers()["Cookie"] + "; lang=en"}
    for section, text in [
        ("lots", "Motorbike 1,200 (0)"),
        ("tariffs", "Motorbike: "),
        ("passes", "Sell a pass"),
        ("attendants", "Attendant accounts"),
    ]:
        resp = await client.get(f"/admin/parking/{section}", headers=cookie)
        html = await resp.text()
        assert resp.status == 200 and text in html, section
        assert 'aria-current="page"' in html and not re.search(
            r"(padmin2?|tariffdesc|confirm)\.(?!js)[a-z_]+", html
        )
