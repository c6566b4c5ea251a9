"""The attendant console pages over HTTP: who may open which lot, the language, and what the page's script
needs (the CSRF meta, the API paths, the classes the lot takes). The script itself is driven in tests/e2e."""

from __future__ import annotations

import html
import json
import re

from core.errors import Forbidden
from parking.demo import LOTS

PAGE = {"Accept": "text/html"}


def console_data(text: str) -> dict:
    match = re.search(r'<script type="application/json" id="console-data">(.*?)</script>', text, re.S)
    assert match, "the page hands its script a config"
    return json.loads(html.unescape(match.group(1)))


def csrf_meta(text: str) -> str | None:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', text)
    return match.group(1) if match else None


async def test_attendant_picks_among_their_own_lots_in_vietnamese(client, attendant):
    resp = await client.get("/parking/console", headers={**attendant.headers(), **PAGE})
    text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert '<html lang="vi">' in text and "Chọn bãi xe" in text
    lots = re.findall(r'href="/parking/console/([a-z0-9-]+)"', text)
    assert sorted(lots) == ["hk-hang-dau", "tl-my-dinh"]
    assert "0 xe trong bãi" in text
    assert csrf_meta(text) == attendant.csrf


async def test_lot_screen_renders_for_a_bound_attendant(client, attendant):
    await client.post(
        "/api/v1/parking/lots/hk-hang-dau/check-ins",
        json={"plate": "30A-123.45", "vehicle_class": "car"},
        headers=attendant.headers(unsafe=True),
    )
    resp = await client.get("/parking/console/hk-hang-dau", headers={**attendant.headers(), **PAGE})
    text = await resp.text()
    assert resp.status == 200
    assert "Bãi xe Hàng Đầu" in text and "Xe vào" in text and "Xe ra" in text and "Xe trong bãi" in text
    assert csrf_meta(text) == attendant.csrf
    for element in (
        "plate",
        "class-motorbike",
        "class-car",
        "class-bicycle",
        "class-large_car",
        "check-in",
        "check-out",
        "message",
        "override-reason",
        "suggestions",
        "exit-qr",
        "exit-amount",
        "exit-status",
        "cash",
        "cash-reason",
        "inside-list",
    ):
        assert f'id="{element}"' in text, element
    plate = re.search(r"<input id=\"plate\"[^>]*>", text, re.S).group(0)
    # The plate keypad shows first, so no phone keyboard (inputmode none); ⌨ switches to typing (text).
    assert 'autocapitalize="characters"' in plate and 'inputmode="none"' in plate
    assert 'id="keypad-toggle"' in text
    # Hàng Đầu takes no large cars: the button is there (the layout stays put) but cannot be chosen.
    large = re.search(r'<button[^>]*id="class-large_car"[^>]*>', text, re.S).group(0)
    assert "disabled" in large
    motorbike = re.search(r'<button[^>]*id="class-motorbike"[^>]*>', text, re.S).group(0)
    assert 'aria-pressed="true"' in motorbike and "disabled" not in motorbike
    data = console_data(text)
    assert data["api"] == "/api/v1/parking/lots/hk-hang-dau" and data["lang"] == "vi"
    assert data["labels"]["status.paid"] == "ĐÃ THANH TOÁN"
    assert data["classes"] == {
        "motorbike": "Xe máy",
        "car": "Ô tô",
        "bicycle": "Xe đạp",
        "large_car": "Xe lớn",
    }
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp  # nothing from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', text), "no external assets"


async def test_english_toggle_applies_to_the_console(client, attendant):
    headers = {**attendant.headers(), **PAGE}
    headers["Cookie"] += "; lang=en"
    text = await (await client.get("/parking/console/tl-my-dinh", headers=headers)).text()
    assert '<html lang="en">' in text and "Check in" in text and "Check out" in text
    data = console_data(text)
    assert data["lang"] == "en" and data["labels"]["status.paid"] == "PAID"


async def test_a_lot_the_attendant_is_not_bound_to_is_forbidden(client, attendant):
    resp = await client.get("/parking/console/bd-van-mieu", headers={**attendant.headers(), **PAGE})
    assert resp.status == 403 and resp.content_type == "text/html"
    assert Forbidden.title_vi in await resp.text()
    api = await client.get("/parking/console/bd-van-mieu", headers=attendant.headers())
    assert api.status == 403 and (await api.json())["field"] == "lot_id"
    missing = await client.get("/parking/console/no-such-lot", headers=attendant.headers())
    assert missing.status == 404


async def test_anonymous_and_other_roles_are_turned_away(client, staff_login, lots):
    for path in ("/parking/console", "/parking/console/hk-hang-dau"):
        page = await client.get(path, headers=PAGE, allow_redirects=False)
        # a person is taken to the login form, and back here afterwards
        assert page.status == 303 and page.headers["Location"] == f"/login?next={path}"
        api = await client.get(path, allow_redirects=False)
        assert api.status == 401 and (await api.json())["type"] == "/problems/unauthorized"
    finance = await staff_login("finance")
    for path in ("/parking/console", "/parking/console/hk-hang-dau"):
        assert (await client.get(path, headers=finance.headers())).status == 403


async def test_admin_sees_every_lot_and_may_open_any(client, staff_login, lots):
    admin = await staff_login("admin")
    text = await (await client.get("/parking/console", headers=admin.headers())).text()
    assert len(re.findall(r'href="/parking/console/[a-z0-9-]+"', text)) == len(LOTS)
    resp = await client.get("/parking/console/bd-van-mieu", headers=admin.headers())
    assert resp.status == 200 and 'id="class-large_car"' in await resp.text()


async def test_an_attendant_without_lots_is_told_so(client, staff_login, lots):
    loner = await staff_login("attendant")
    text = await (await client.get("/parking/console", headers=loner.headers())).text()
    assert 'id="no-lots"' in text and "chưa được phân công" in text


async def test_staff_home_links_the_console_for_attendants_only(client, attendant, staff_login):
    text = await (await client.get("/staff", headers=attendant.headers())).text()
    assert 'href="/parking/console"' in text and "Bàn trông xe" in text
    finance = await staff_login("finance")
    text = await (await client.get("/staff", headers=finance.headers())).text()
    assert "/parking/console" not in text


async def test_lot_screen_has_the_keypad_scanner_and_quick_plate_starts(client, attendant):
    """Issue 12: the plate keypad (the letters plates use, and Đ), no phone keyboard while it shows, the
    scanner's partial with the CSP its WebAssembly needs, and quick keys from the lot's recent plates."""
    for plate, cls in (("30A-123.45", "car"), ("29-B1 123.45", "motorbike")):
        await client.post(
            "/api/v1/parking/lots/hk-hang-dau/check-ins",
            json={"plate": plate, "vehicle_class": cls},
            headers=attendant.headers(unsafe=True),
        )
    resp = await client.get("/parking/console/hk-hang-dau", headers={**attendant.headers(), **PAGE})
    text = await resp.text()
    assert "'wasm-unsafe-eval'" in resp.headers["Content-Security-Policy"]
    assert 'id="plate-scan"' in text and 'inputmode="none"' in text
    keys = re.findall(r'<button type="button" class="kp" data-key="([^"]+)"', text)
    letters = [k for k in keys if not k.isdigit()]
    assert letters == [*sorted("ABCDEFGHKLMNPSTUVXYZ"), "Đ"]
    assert sorted(k for k in keys if k.isdigit()) == list("0123456789")
    config = console_data(text)
    assert config["quick"]["car"][0] == "30A" and config["quick"]["motorbike"][0] == "29B1"
    assert set(config["quick"]["car"][1:]) <= {"29", "30", "31", "32", "33", "40"}
    assert len(config["quick"]["car"]) == 5 and config["window_minutes"] == 10 and config["admin"] is False
