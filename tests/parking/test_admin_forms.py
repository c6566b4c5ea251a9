"""The /admin/parking forms read into the JSON API's own models: amounts as people type them ("1.234.567"),
Hà Nội local date-times, and refusals shown beside their field in Vietnamese (English with lang=en), with
what was typed kept and nothing written."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import pytest

from core.appkeys import POOL
from core.money import LOCAL_TZ

PAGE = "/admin/parking"


@pytest.fixture
async def admin(staff_login, lots):
    return await staff_login("admin")


async def _csrf(client, admin) -> str:
    html = await (await client.get(PAGE, headers=admin.headers())).text()
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def post(client, admin, path, data, *, lang=None):
    cookie = admin.headers()["Cookie"]
    if lang:
        cookie += f"; lang={lang}"
    data = {"csrf_token": await _csrf(client, admin), **data}
    return await client.post(path, data=data, headers={"Cookie": cookie}, allow_redirects=False)


def field_error(html: str, name: str) -> str | None:
    found = re.search(rf'<span class="field-error" id="err-{name}">([^<]*)</span>', html)
    return found.group(1) if found else None


def tomorrow_local() -> str:
    return (datetime.now(LOCAL_TZ) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


async def count(client, table: str) -> int:
    return await client.app[POOL].fetchval(f"SELECT count(*) FROM {table}")


async def test_tariff_form_takes_grouped_amounts_and_hanoi_time(client, admin):
    typed = tomorrow_local()
    resp = await post(
        client,
        admin,
        f"{PAGE}/tariffs",
        {
            "zone": "hn-ngoai-vi",
            "vehicle_class": "motorbike",
            "effective_from": typed,
            "day_turn_price": "7.000",
            "night_turn_price": "12 000",
            "overnight_multiplier": "2",
            "monthly_pass_price": "1.234.567",
        },
    )
    assert resp.status == 303 and resp.headers["Location"] == f"{PAGE}/tariffs?saved=1"
    row = await client.app[POOL].fetchrow(
        "SELECT * FROM tariffs WHERE zone_code = 'hn-ngoai-vi' AND vehicle_class = 'motorbike' "
        "ORDER BY effective_from DESC LIMIT 1"
    )
    assert (row["day_turn_price"], row["night_turn_price"], row["monthly_pass_price"]) == (
        7_000,
        12_000,
        1_234_567,
    )
    assert row["effective_from"] == datetime.fromisoformat(typed).replace(tzinfo=LOCAL_TZ)


async def test_pass_form_takes_a_grouped_price_and_dates_as_written(client, admin):
    today = datetime.now(LOCAL_TZ).date()
    resp = await post(
        client,
        admin,
        f"{PAGE}/passes",
        {
            "lot_id": "hk-hang-dau",
            "plate": "29-B1 123.45",
            "vehicle_class": "motorbike",
            "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=29)).strftime("%d/%m/%Y"),
            "price": "1.234.567",
        },
    )
    assert resp.status == 303
    row = await client.app[POOL].fetchrow("SELECT * FROM monthly_passes")
    assert row["price"] == 1_234_567 and row["plate"] == "29B112345"
    assert row["valid_until"] == today + timedelta(days=29)


async def test_refused_pass_shows_the_reason_beside_the_field_keeps_the_typing_writes_nothing(client, admin):
    today = datetime.now(LOCAL_TZ).date()
    typed = {
        "lot_id": "hk-hang-dau",
        "plate": "29-B1 555.55",
        "vehicle_class": "motorbike",
        "valid_from": today.isoformat(),
        "valid_until": (today - timedelta(days=3)).isoformat(),
        "price": "150.000",
    }
    audits = await count(client, "audit_log")
    resp = await post(client, admin, f"{PAGE}/passes", typed)
    assert resp.status == 422
    html = await resp.text()
    assert field_error(html, "valid_until") == "Ngày kết thúc đứng trước ngày bắt đầu."
    assert field_error(html, "plate") is None and 'id="form-error"' in html
    assert 'name="plate" required placeholder="29-B1 123.45" value="29-B1 555.55"' in html
    assert 'value="150.000"' in html and "valid_until is before valid_from" not in html  # no API English
    assert "<details open><summary>Bán vé tháng" in html
    assert await count(client, "monthly_passes") == 0 and await count(client, "audit_log") == audits

    # A price that is no whole number of đồng is refused by the model, beside the price.
    resp = await post(
        client, admin, f"{PAGE}/passes", {**typed, "valid_until": typed["valid_from"], "price": "1,5"}
    )
    assert resp.status == 422
    assert (
        field_error(await resp.text(), "price") == "Nhập số tiền nguyên bằng đồng, ví dụ 200000 hoặc 200.000."
    )
    # A plate of another class: the service's refusal, by its message key.
    resp = await post(
        client, admin, f"{PAGE}/passes", {**typed, "valid_until": typed["valid_from"], "vehicle_class": "car"}
    )
    assert resp.status == 422
    assert field_error(await resp.text(), "plate") == (
        "Biển số này thuộc loại xe khác; hãy bán vé cho đúng loại xe đó."
    )
    assert await count(client, "monthly_passes") == 0


async def test_english_with_the_lang_cookie(client, admin):
    resp = await post(
        client,
        admin,
        f"{PAGE}/lots",
        {
            "id": "cg-dich-vong",
            "name": "Bãi xe Dịch Vọng",
            "address": "Phố Dịch Vọng",
            "ward": "Phường Cầu Giấy",
            "lat": "21,0350",
            "lon": "105.79",
            "zone": "hn-ngoai-vi",
            "opens_at": "06:00",
            "collection_account_code": "hanoi-treasury",
            "active": "1",
        },
        lang="en",
    )
    assert resp.status == 422
    html = await resp.text()
    assert field_error(html, "opens_at") == "Give both opening and closing time, or neither (day and night)."
    assert "Not saved: correct the marked fields." in html
    assert 'value="21,0350"' in html and 'value="Bãi xe Dịch Vọng"' in html
    assert await count(client, "parking_lots WHERE id = 'cg-dich-vong'") == 0


async def test_constraint_refusal_is_shown_beside_its_field(client, admin):
    zone = {"code": "hn-noi-do", "name_vi": "Nội đô", "name_en": "Inner city"}
    before = await client.app[POOL].fetchrow("SELECT * FROM parking_zones WHERE code = 'hn-noi-do'")
    resp = await post(client, admin, f"{PAGE}/zones", zone)
    assert resp.status == 409
    html = await resp.text()
    assert field_error(html, "code") == "Đã có khu vực giá với mã này."
    assert 'value="Inner city"' in html
    assert await client.app[POOL].fetchrow("SELECT * FROM parking_zones WHERE code = 'hn-noi-do'") == before


async def test_errors_belong_to_the_form_that_was_posted(client, admin):
    """Each lot has its own capacity form; a refusal on one is not shown on the others."""
    resp = await post(
        client, admin, f"{PAGE}/lots/hk-hang-dau/capacities", {"vehicle_class": "car", "capacity": "-3"}
    )
    assert resp.status == 422
    html = await resp.text()
    assert html.count('class="field-error"') == 1
    assert field_error(html, "capacity") == "Phải từ 0 trở lên."
    mine = html[html.index('id="lot-hk-hang-dau"') :]
    assert 'value="-3" aria-invalid="true"' in mine[: mine.index("</details>")]


def unticked_lot_form(lot) -> dict[str, str]:
    """The lot's edit form as stored, with the "active" box left unticked (a browser then sends no field)."""
    return {
        "name": lot["name"],
        "address": lot["address"],
        "ward": lot["ward"],
        "lat": str(lot["lat"]),
        "lon": str(lot["lon"]),
        "zone": lot["zone_code"],
        "collection_account_code": lot["collection_account_code"],
    }


async def test_unticked_active_box_makes_the_lot_inactive(client, admin):
    lot = await client.app[POOL].fetchrow("SELECT * FROM parking_lots WHERE id = 'hk-hang-dau'")
    resp = await post(
        client,
        admin,
        f"{PAGE}/lots/hk-hang-dau",
        unticked_lot_form(lot),
    )
    assert resp.status == 303
    after = await client.app[POOL].fetchrow("SELECT * FROM parking_lots WHERE id = 'hk-hang-dau'")
    assert after["active"] is False and after["opens_at"] is None


async def test_hourly_blocks_that_are_not_json_are_refused_beside_the_field(client, admin):
    tariffs = await count(client, "tariffs")
    resp = await post(
        client,
        admin,
        f"{PAGE}/tariffs",
        {
            "zone": "hn-ngoai-vi",
            "vehicle_class": "car",
            "effective_from": tomorrow_local(),
            "hourly_blocks": "1 giờ: 22000",
        },
    )
    assert resp.status == 422
    html = await resp.text()
    assert field_error(html, "hourly_blocks") == (
        "Viết giá theo giờ dạng 1: 25.000; 3: 35.000 (từ giờ thứ: giá mỗi giờ)."
    )
    assert 'value="1 giờ: 22000"' in html
    assert await count(client, "tariffs") == tariffs


# Every refusal on the parking administration pages is a catalogue sentence ----------------------------------

_SHOWN = re.compile(
    r'<(?:p|span)[^>]*class="(?:error|field-error|error-sentence)"[^>]*>([^<]*)</(?:p|span)>', re.DOTALL
)
# What a person must never read on these pages: the API's parameter names and English, internal ids.
_NEVER = re.compile(r"[a-z]+_[a-z]+|hk-hang-dau|hn-noi-do|hn-ngoai-vi|'|\b(is|not|must|or)\b")


def shown_errors(page: str) -> list[str]:
    return [" ".join(unescape(m).split()) for m in _SHOWN.findall(page) if m.strip()]


async def test_every_admin_form_refusal_reads_as_a_catalogue_sentence(client, admin, staff_login):
    from tests.catalogue import not_in_catalogue

    finance = await staff_login("finance")
    attendant = await staff_login("attendant")
    today = datetime.now(LOCAL_TZ).date()
    good_pass = {
        "lot_id": "hk-hang-dau",
        "plate": "29-B1 123.45",
        "vehicle_class": "motorbike",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=29)).isoformat(),
        "price": "150.000",
    }
    assert (await post(client, admin, f"{PAGE}/passes", good_pass)).status == 303
    await post(client, admin, f"{PAGE}/lots/hk-hang-dau/attendants", {"username": attendant.username})
    new_lot = {
        "id": "cg-dich-vong",
        "name": "Bãi xe Dịch Vọng",
        "address": "Phố Dịch Vọng",
        "ward": "Phường Cầu Giấy",
        "lat": "21,035",
        "lon": "105,79",
        "zone": "hn-ngoai-vi",
        "collection_account_code": "hanoi-treasury",
        "active": "1",
    }
    tariff = {"zone": "hn-ngoai-vi", "vehicle_class": "motorbike", "effective_from": tomorrow_local()}
    L, T, P, Z = f"{PAGE}/lots", f"{PAGE}/tariffs", f"{PAGE}/passes", f"{PAGE}/zones"
    E, C, U = f"{L}/hk-hang-dau", f"{L}/hk-hang-dau/capacities", f"{L}/hk-hang-dau/attendants"
    cases = [
        # the lots page: a new lot, a lot's details, a capacity
        (L, {}),
        (L, {**new_lot, "id": "Bãi mới", "lat": "bắc", "lon": "200"}),
        (L, {**new_lot, "id": "hk-hang-dau"}),
        (L, {**new_lot, "opens_at": "06:00"}),
        (L, {**new_lot, "opens_at": "06:00", "closes_at": "06:00"}),
        (L, {**new_lot, "zone": "khong-co"}),
        (L, {**new_lot, "collection_account_code": "khong-co"}),
        (E, {**new_lot, "name": "", "lat": "91"}),
        (E, {**new_lot, "lon": "-180,5"}),
        (C, {"vehicle_class": "car", "capacity": "-3"}),
        (C, {"vehicle_class": "car", "capacity": "nhiều"}),
        (C, {"vehicle_class": "xe-tang", "capacity": "3"}),
        # the attendants page
        (U, {"username": "khong-co-ai"}),
        (U, {"username": finance.username}),
        (U, {"username": attendant.username}),
        (U, {"username": "Tên Có Dấu"}),
        # the tariffs page: zones and versions
        (Z, {"code": "hn-noi-do", "name_vi": "Nội đô", "name_en": "Inner city"}),
        (Z, {"code": "Mã Sai", "name_vi": "", "name_en": ""}),
        (T, {**tariff, "effective_from": "2020-01-01T08:00"}),
        (T, {**tariff, "effective_from": "ngày mai"}),
        (T, {**tariff, "day_turn_price": "-5", "night_turn_price": "năm nghìn"}),
        (T, {**tariff, "day_turn_price": "10.000.000.000.000"}),
        (T, {**tariff, "hourly_blocks": "giờ đầu 20.000"}),
        (T, {**tariff, "hourly_blocks": "[[2, 20000]]"}),
        (T, {**tariff, "hourly_blocks": "[[1, 20000]]", "overnight_multiplier": "2"}),
        (T, {**tariff, "overnight_multiplier": "0,5"}),
        (T, {**tariff, "zone": "khong-co"}),
        # the passes page
        (P, good_pass),
        (P, {**good_pass, "vehicle_class": "car"}),
        (P, {**good_pass, "plate": "ABC"}),
        (P, {**good_pass, "valid_until": (today - timedelta(days=1)).isoformat()}),
        (P, {**good_pass, "valid_until": (today + timedelta(days=400)).isoformat()}),
        (P, {**good_pass, "lot_id": "khong-co", "price": "1,5"}),
        (P, {**good_pass, "valid_from": "31/02/2026"}),
    ]
    texts = []
    for path, data in cases:
        resp = await post(client, admin, path, data, lang="vi")
        html = await resp.text()
        assert 400 <= resp.status < 500, (path, data, resp.status)
        shown = shown_errors(html)
        assert shown, (path, data)
        texts += shown
    # removing an attendant who is not there: the error page
    resp = await post(client, admin, f"{U}/khong-co-ai/remove", {}, lang="vi")
    assert resp.status == 404
    texts += shown_errors(await resp.text())

    assert not_in_catalogue(texts) == []
    assert [t for t in texts if _NEVER.search(t)] == []
    assert [t for t in texts if re.search(r"\d\.\d{1,2}(?!\d)", t)] == []  # 1.234.567, never 90.0
    assert "Vĩ độ phải từ -90 đến 90." in texts and "Kinh độ phải từ -180 đến 180." in texts
    assert "Chọn loại xe: Xe đạp, Xe máy, Ô tô đến 9 chỗ hoặc Ô tô trên 9 chỗ." in texts
    assert any(t.startswith("Mã bãi gồm chữ thường") for t in texts)
    assert any(t.startswith("Mã khu vực gồm chữ thường") for t in texts)
    assert any(t.startswith("Tên đăng nhập gồm chữ thường") for t in texts)
    assert "Không đúng định dạng." not in texts  # each code's refusal says what the code is made of
    assert len(set(texts)) >= 20, sorted(set(texts))  # the cases above reach that many different sentences


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("1: 22.000; 3: 32.000", [[1, 22_000], [3, 32_000]]),
        ("1: 22 000\n3 = 32000\n5: 1.234.567", [[1, 22_000], [3, 32_000], [5, 1_234_567]]),
        ("[[1, 22000], [3, 32000]]", [[1, 22_000], [3, 32_000]]),
    ],
)
async def test_hourly_prices_typed_as_people_write_them(client, admin, typed, stored):
    resp = await post(
        client,
        admin,
        f"{PAGE}/tariffs",
        {
            "zone": "hn-ngoai-vi",
            "vehicle_class": "car",
            "effective_from": tomorrow_local(),
            "hourly_blocks": typed,
        },
    )
    assert resp.status == 303, field_error(await resp.text(), "hourly_blocks")
    row = await client.app[POOL].fetchval(
        "SELECT hourly_blocks FROM tariffs WHERE zone_code = 'hn-ngoai-vi' AND vehicle_class = 'car' "
        "ORDER BY effective_from DESC LIMIT 1"
    )
    assert [list(b) for b in row] == stored


@pytest.mark.parametrize("typed", ["1: 22.00", "một: 22.000", "1: 22.000; 3", "1: -5"])
async def test_hourly_prices_that_do_not_read_are_refused(client, admin, typed):
    resp = await post(
        client,
        admin,
        f"{PAGE}/tariffs",
        {
            "zone": "hn-ngoai-vi",
            "vehicle_class": "car",
            "effective_from": tomorrow_local(),
            "hourly_blocks": typed,
        },
    )
    assert resp.status == 422
    assert field_error(await resp.text(), "hourly_blocks").startswith("Viết giá theo giờ dạng 1: 25.000")


async def test_overnight_multiplier_with_a_decimal_comma(client, admin):
    data = {"zone": "hn-ngoai-vi", "vehicle_class": "motorbike", "effective_from": tomorrow_local()}
    resp = await post(
        client, admin, f"{PAGE}/tariffs", {**data, "night_turn_price": "8.000", "overnight_multiplier": "1,5"}
    )
    assert resp.status == 303
    page = await (await client.get(f"{PAGE}/tariffs", headers=admin.headers())).text()
    assert "Xe máy: miễn phí ban ngày, 8.000 ₫ / lượt ban đêm; gửi qua đêm (qua 0 giờ) 12.000 ₫" in page


async def test_a_lot_with_vehicles_inside_is_not_deactivated_api_or_form(client, admin, attendant):
    """An inactive lot answers 404 to check-outs: deactivating it with a vehicle inside trapped the vehicle
    (it could neither leave nor check in elsewhere)."""
    pool = client.app[POOL]
    checked_in = await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-ins",
        json={"plate": "29-F1 123.45", "vehicle_class": "motorbike"},
        headers=attendant.headers(unsafe=True),
    )
    assert checked_in.status == 201
    url = "/api/v1/admin/parking/lots/hk-hang-dau"
    current = await (await client.get(url, headers=admin.headers())).json()
    fields = {k: current[k] for k in current if k not in ("id", "capacities", "attendants")}
    resp = await client.put(url, json={**fields, "active": False}, headers=admin.headers(unsafe=True))
    assert resp.status == 409, await resp.text()
    assert (await resp.json())["field"] == "active"
    lot = await pool.fetchrow("SELECT * FROM parking_lots WHERE id = 'hk-hang-dau'")
    assert lot["active"] is True
    page = await post(
        client,
        admin,
        f"{PAGE}/lots/hk-hang-dau",
        unticked_lot_form(lot),
    )
    assert page.status == 409
    assert field_error(await page.text(), "active").startswith("Còn 1 xe trong bãi")
    assert await pool.fetchval("SELECT active FROM parking_lots WHERE id = 'hk-hang-dau'") is True
    out = await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-outs",
        json={"plate": "29-F1 123.45"},
        headers=attendant.headers(unsafe=True),
    )
    assert out.status == 200  # it can still leave
