"""The public lot search page (issue 12, point 11): no login, Vietnamese first, results on the first screen
for the chosen (remembered) vehicle class with its price, open/closed now and free spaces; an unknown ward is
a sentence, not silently every ward; "near me" reads /parking/results. In a browser: tests/e2e/
test_lot_search.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from urllib.parse import quote

import pytest

from core.appkeys import POOL
from core.money import LOCAL_TZ
from parking.lots import Price, open_at
from parking.public_pages import format_distance, price_text
from tests.catalogue import not_in_catalogue
from tests.test_page_words import read_page

pytestmark = pytest.mark.usefixtures("lots")


def words(html: str) -> str:
    """The page's text without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def lot_ids(html: str) -> list[str]:
    return re.findall(r'<li class="lot[^"]*" data-lot="([^"]+)"', html)


async def test_search_by_ward_without_login(client):
    resp = await client.get("/parking")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert 'lang="vi"' in html and "Tìm bãi gửi xe" in html
    assert len(lot_ids(html)) == 10  # every demo lot takes motorbikes, the class chosen by default
    assert '<option value="Phường Hoàn Kiếm">' in html and '<option value="Phường Từ Liêm">' in html
    assert '<option value="motorbike" selected>Xe máy</option>' in html

    html = await (
        await client.get(f"/parking?ward={quote('Phường Hoàn Kiếm')}&vehicle_class=&available=")
    ).text()
    assert sorted(lot_ids(html)) == ["hk-hang-dau", "hk-tran-nhat-duat"]
    assert '<option value="Phường Hoàn Kiếm" selected>' in html and "2 bãi xe" in html
    assert "Bãi xe Hàng Đầu" in html and "Phố Hàng Đầu" in html and "Cả ngày đêm" in html
    assert "Còn 300/300 chỗ" in html and "5.000 ₫/lượt ban ngày, 8.000 ₫/lượt ban đêm" in words(html)

    html = await (await client.get(f"/parking?ward={quote('Phường Cửa Nam')}")).text()
    assert lot_ids(html) == ["hk-nha-hat-lon"] and "06:00–23:00" in html
    # As people write it: no "Phường", other case and spaces.
    html = await (await client.get(f"/parking?ward={quote('  cửa   NAM ')}")).text()
    assert lot_ids(html) == ["hk-nha-hat-lon"]


async def test_class_and_free_space_filters(client, attendant):
    await client.app[POOL].execute(
        "UPDATE lot_capacities SET capacity = 1 WHERE lot_id = 'hk-hang-dau' AND vehicle_class = 'car'"
    )
    await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-ins",
        headers=attendant.headers(unsafe=True),
        json={"plate": "30A-123.45", "vehicle_class": "car"},
    )
    ward = quote("Phường Hoàn Kiếm")
    html = await (await client.get(f"/parking?ward={ward}&vehicle_class=car")).text()
    assert sorted(lot_ids(html)) == ["hk-hang-dau", "hk-tran-nhat-duat"]
    assert 'class="spaces full">Hết chỗ (0/1)</p>' in html and "Còn 60/60 chỗ" in html
    assert "Ô tô đến 9 chỗ: 25.000 ₫/giờ, từ giờ thứ 3: 35.000 ₫/giờ, từ giờ thứ 5: 45.000 ₫/giờ" in words(
        html
    )
    html = await (await client.get(f"/parking?ward={ward}&vehicle_class=car&available=1")).text()
    assert (
        lot_ids(html) == ["hk-tran-nhat-duat"] and 'id="available" name="available" value="1" checked' in html
    )
    html = await (await client.get("/parking?vehicle_class=large_car")).text()
    assert sorted(lot_ids(html)) == ["bd-quang-truong", "bd-van-mieu", "tl-my-dinh", "tx-khuat-duy-tien"]


async def test_the_chosen_class_is_remembered(client):
    resp = await client.get("/parking?vehicle_class=bicycle")
    assert resp.cookies["lot_class"].value == "bicycle"
    html = await (await client.get("/parking")).text()  # the cookie jar sends it back
    assert '<option value="bicycle" selected>Xe đạp</option>' in html
    assert sorted(lot_ids(html)) == ["hbt-thong-nhat", "hk-hang-dau", "th-trich-sai"]
    assert "Xe đạp: 3.000 ₫/lượt ban ngày, 5.000 ₫/lượt ban đêm" in words(html)  # nội đô
    assert "Xe đạp: 2.000 ₫/lượt ban ngày, 3.000 ₫/lượt ban đêm" in words(html)  # ngoại vi


async def test_unknown_ward_or_class_is_a_sentence_not_ignored(client):
    for query, field in (
        ("ward=Nowhere", "ward"),
        ("ward=" + "x" * 5000, "ward"),
        ("ward=%E2%80%8BHo%C3%A0n", "ward"),
        ("vehicle_class=truck", "vehicle_class"),
    ):
        resp = await client.get(f"/parking?{query}")
        assert resp.status == 422, query
        html = await resp.text()
        errors, _ = read_page(html)
        assert errors and not_in_catalogue(errors) == [], (query, errors)
        assert f'id="{field}" name="{field}" aria-invalid="true"' in html, query
        assert len(lot_ids(html)) == 10, query  # the list stays, for every ward
    html = await (await client.get("/parking?ward=Nowhere")).text()
    assert "Không có phường này trong danh sách bãi xe." in html and 'id="filters" open' in html
    for query in ("available=maybe", "ward=%00", "near=1,2"):
        resp = await client.get(f"/parking?{query}")
        assert resp.status in (200, 422) and len(lot_ids(await resp.text())) == 10, query


async def test_open_or_closed_now_in_hanoi_time(client):
    now = datetime.now(UTC).astimezone(LOCAL_TZ)
    h = now.hour
    pool = client.app[POOL]
    # Closed: opens in two hours. Open: opened an hour ago (both may pass midnight).
    await pool.execute(
        "UPDATE parking_lots SET opens_at = $1, closes_at = $2 WHERE id = 'hk-hang-dau'",
        time((h + 2) % 24),
        time((h + 3) % 24),
    )
    await pool.execute(
        "UPDATE parking_lots SET opens_at = $1, closes_at = $2 WHERE id = 'hk-tran-nhat-duat'",
        time((h - 1) % 24),
        time((h + 1) % 24),
    )
    html = await (await client.get(f"/parking?ward={quote('Phường Hoàn Kiếm')}")).text()
    assert lot_ids(html) == ["hk-tran-nhat-duat", "hk-hang-dau"]  # open lots first
    closed = html[html.index('data-lot="hk-hang-dau"') :]
    assert '<span class="badge closed">Đã đóng</span>' in closed
    assert f'<span class="hours">{(h + 2) % 24:02d}:00–{(h + 3) % 24:02d}:00</span>' in closed
    opened = html[html.index('data-lot="hk-tran-nhat-duat"') : html.index('data-lot="hk-hang-dau"')]
    assert '<span class="badge open">Đang mở</span>' in opened


async def test_open_at_wall_clock_times():
    assert open_at(None, None, time(3))
    assert open_at(time(6), time(22), time(6)) and not open_at(time(6), time(22), time(22))
    assert not open_at(time(6), time(22), time(5, 59))
    assert open_at(time(22), time(2), time(23, 30)) and open_at(time(22), time(2), time(1, 59))
    assert not open_at(time(22), time(2), time(2)) and not open_at(time(22), time(2), time(12))


async def test_prices_and_distances_read_the_vietnamese_way():
    assert format_distance(350) == "350 m" and format_distance(1234) == "1,2 km"
    assert price_text(Price(5000, 5000, (), None), "vi") == "5.000 ₫/lượt"
    assert (
        price_text(Price(5000, 8000, (), None), "en") == "5.000 ₫ per daytime visit, 8.000 ₫ per night visit"
    )
    assert price_text(Price(0, 0, ((1, 1_250_000),), None), "vi") == "1.250.000 ₫/giờ"
    assert price_text(None, "vi") == "Chưa có giá cho loại xe này"


async def test_results_for_the_script(client):
    resp = await client.get("/parking/results?near=21.0287,105.8524&vehicle_class=motorbike")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    ids = lot_ids(body["html"])
    assert body["near"] and body["count"] == len(ids) == 10 and ids[0] == "hk-nha-hat-lon"
    assert body["summary"] == "10 bãi gần bạn nhất" and "Cách 728 m" in body["html"]
    distances = [int(m) for m in re.findall(r"Cách (\d+) m", body["html"])]
    assert distances == sorted(distances)
    assert re.search(r"Cách \d+,\d km", body["html"])
    far = await (await client.get("/parking/results?near=10.77,106.70")).json()  # Sài Gòn
    assert far["count"] == 0 and far["summary"] == "Không có bãi xe phù hợp trong vòng 10,0 km quanh bạn."
    for query, field in (
        ("ward=Nowhere", "ward"),
        ("near=abc", "near"),
        ("near=91,105", "near"),
        ("vehicle_class=truck", "vehicle_class"),
    ):
        resp = await client.get(f"/parking/results?{query}")
        assert resp.status == 422 and resp.content_type == "application/problem+json", query
        problem = await resp.json()
        assert problem["field"] == field and not_in_catalogue([problem["message"]]) == [], query


async def test_near_me_uses_only_our_own_scripts(client):
    resp = await client.get("/parking")
    html = await resp.text()
    assert 'id="near-me" hidden' in html  # shown by the script, if the browser can locate
    # The scripts are our own files under /static (the CSP allows no inline or outside script); the map's
    # tiles are the one outside source, for images only.
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert len(sources) == 2 and all(src.startswith("/static/parking/") for src in sources)
    assert sources[0].startswith("/static/parking/vendor/leaflet-1.9.4/leaflet.js?v=")
    script = await client.get(sources[1])
    assert script.status == 200 and "navigator.geolocation" in await script.text()
    csp = resp.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://tile.openstreetmap.org" in csp and "script-src 'self';" in csp
    raw = re.search(r'id="psearch-config">(.*?)</script>', html, re.S).group(1)
    config = json.loads(raw)
    assert config["results"] == "/parking/results"
    assert config["labels"]["locating"] == "Đang xác định vị trí của bạn…"
    for url in (
        *config["marker"].values(),
        re.search(r'href="(/static/[^"]+leaflet.css[^"]*)"', html).group(1),
    ):
        assert (await client.get(url)).status == 200, url
    licence = await client.get("/static/parking/vendor/leaflet-1.9.4/LICENSE.txt")
    assert licence.status == 200 and "BSD 2-Clause License" in await licence.text()


async def test_english_and_the_public_home_link(client):
    home = await (await client.get("/")).text()
    assert 'href="/parking"' in home and "Tìm bãi gửi xe còn chỗ" in home
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html = await (await client.get("/parking")).text()
    assert 'lang="en"' in html and "Find a parking lot" in html and "Day and night" in html
    assert "Open now" in html and "per daytime visit" in html
