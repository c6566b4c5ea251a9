"""The console's camera button reads plates on the phone (issue 12, point 5).

Plates are drawn in HTML/CSS in Chromium — cars on one line, motorbikes on two, white and yellow grounds,
rotated a few degrees, blurred, low contrast — from a seeded generator of valid Vietnamese plates; each is
screenshotted like a phone photo and fed through the camera button's file input on a page that includes
parking/plate_scan.html (served by the app with the page's CSP, every file from our own /static). The
readings are measured against the truth: top-1 and top-3. Then the real console: a photo of a vehicle inside,
scanned at check-out, is offered as the candidate."""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, FilePayload, Page, ViewportSize, expect

from core.appkeys import TEMPLATES
from core.i18n import translate
from core.pages import content_security_policy
from parking.plate_scan import PLATE_SCAN_CSP
from parking.plates import (
    SERIES_LETTERS,
    UNUSED_PROVINCE_CODES,
    InvalidPlate,
    normalise_plate,
    parse_plate,
)
from tests.catalogue import not_in_catalogue
from tests.e2e.conftest import PHONE, screenshot
from tests.e2e.test_attendant_console import LOT, _attendant_of, _open_console, _watch_failures
from tests.live_server import live_server

pytestmark = pytest.mark.browser

# The aim is top-3 ≥ 90 %. On this set (48 plates, the seed below) the reader reaches top-1 94 % and top-3
# 96 %; on seeds 1–3 and this one, 64 plates each, top-1 96.5 % and top-3 98.4 % (247 and 252 of 256). The
# floors leave room for four more misses at the top and two more in the top three.
TOP1_FLOOR = 0.85
TOP3_FLOOR = 0.90
# PLATE_SCAN_PLATES / PLATE_SCAN_SEED measure another set; PLATE_SCAN_DEBUG=<dir> keeps the photos and the
# engine's raw text of every look.
PLATES = int(os.environ.get("PLATE_SCAN_PLATES", "48"))
SEED = int(os.environ.get("PLATE_SCAN_SEED", "20261201"))
DEBUG = Path(os.environ["PLATE_SCAN_DEBUG"]) if os.environ.get("PLATE_SCAN_DEBUG") else None

TEST_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>plate scan</title></head>
<body><main><label for="plate">Biển số</label> <input id="plate" name="plate">
{% include "parking/plate_scan.html" %}</main></body></html>"""


async def _test_page(request: web.Request) -> web.Response:
    """The camera button as the console includes it, with the policy the console sends."""
    env = request.app[TEMPLATES]
    html = env.from_string(TEST_PAGE).render(t=lambda key, **kw: translate(key, "vi", **kw))
    resp = web.Response(text=html, content_type="text/html", charset="utf-8")
    resp.headers["Content-Security-Policy"] = content_security_policy(PLATE_SCAN_CSP)
    return resp


@pytest.fixture
def scan_server(make_app):
    app = make_app(background=False)
    app.router.add_get("/test/plate-scan", _test_page)
    with live_server(app) as srv:
        yield srv


# ---- Plates drawn in HTML/CSS -------------------------------------------------------------------------
@dataclass(frozen=True)
class PlateImage:
    truth: str  # written form, as parking.plates writes it
    vehicle_class: str
    html: str
    note: str


PROVINCES = [p for p in range(11, 100) if p not in UNUSED_PROVINCE_CODES]
LETTERS = sorted(SERIES_LETTERS)
FONTS = ["'Liberation Sans Narrow'", "'DejaVu Sans Condensed'", "'Liberation Sans'"]


def _plate(rng: random.Random, i: int) -> PlateImage:
    """A phone photo of one plate: a car's or motorbike's body around it, the plate 40–75 % of the frame's
    width, tilted up to ±8° and turned a little in depth, some blurred, some in low contrast or a shadow."""
    motorbike = i % 2 == 1
    province = f"{rng.choice(PROVINCES):02d}"
    digits = 5 if rng.random() < 0.85 else 4
    number = "".join(rng.choice("0123456789") for _ in range(digits))
    if motorbike and digits == 5 and rng.random() < 0.15:
        series = rng.choice(LETTERS) + rng.choice(LETTERS)  # the 2023 two-letter motorbike series
    elif motorbike:
        series = rng.choice(LETTERS) + rng.choice("123456789")
    else:
        series = rng.choice(LETTERS)
    vehicle_class = "motorbike" if motorbike else "car"
    written = parse_plate(province + series + number, vehicle_class).written
    colour = rng.choices(["white", "yellow", "blue"], weights=[6, 3, 1])[0]  # blue: white letters
    low_contrast = rng.random() < 0.3
    ground, ink = {
        "white": ("#f7f7f2", "#111"),
        "yellow": ("#f2c300", "#111"),
        "blue": ("#1747a6", "#f4f4f4"),
    }[colour]
    if low_contrast:
        ground, ink = {
            "white": ("#cfcfca", "#66665f"),
            "yellow": ("#d8c060", "#5a5030"),
            "blue": ("#3a5a96", "#c8ccd4"),
        }[colour]
    angle = rng.uniform(-8, 8)
    turn_y, turn_x = rng.uniform(-18, 18), rng.uniform(-10, 10)
    blur = rng.choice([0, 0, 0.6, 1.0, 1.4, 1.8])
    shadow = rng.random() < 0.3
    font = rng.choice(FONTS)
    if motorbike:
        top, bottom = written.split(" ")
        lines = f'<div class="l">{top}</div><div class="l">{bottom}</div>'
        face, width = "min-width:190px;padding:6px 14px;font-size:54px;line-height:62px", 220
    else:
        lines = f'<div class="l">{written}</div>'
        face, width = "min-width:440px;padding:0 20px;font-size:80px;line-height:110px", 470
    share = rng.uniform(0.4, 0.75) if not motorbike else rng.uniform(0.3, 0.5)
    scale = 640 * share / width
    # The attendant frames the whole plate: it is inside the photo, wherever it is.
    left, top_px = rng.uniform(share / 2 + 0.04, 1 - share / 2 - 0.04), rng.uniform(0.35, 0.65)
    body = rng.choice(["#3b4a5a", "#9aa0a6", "#c8c2b8", "#2c2c2c", "#7b1f1f", "#e8e8e4"])
    shade = "linear-gradient(100deg, rgba(0,0,0,0) 40%, rgba(0,0,0,.35) 75%)" if shadow else "none"
    # Two screws holding the plate, and some cars a dealer's frame with its name under the plate.
    screws = rng.random() < 0.5
    dealer = rng.random() < 0.3
    extras = '<i class="screw" style="left:9%"></i><i class="screw" style="right:9%"></i>' if screws else ""
    if dealer:
        extras += '<b class="dealer">TOYOTA GIẢI PHÓNG · 0243 869 2222</b>'
    html = f"""<!doctype html><html><head><meta charset="utf-8"><style>
      html, body {{ margin: 0; }}
      #photo {{ position: relative; width: 640px; height: 480px; overflow: hidden;
        background: linear-gradient(180deg, {body} 0%, {body} 62%, #1b1b1b 62%, #333 78%, {body} 78%); }}
      .lamp {{ position: absolute; top: 90px; width: 130px; height: 60px; border-radius: 30px;
        background: #d9dde0; border: 4px solid #555; }}
      .plate {{ position: absolute; left: {left * 100:.0f}%; top: {top_px * 100:.0f}%; display: inline-block;
        {face}; box-sizing: border-box; background: {ground}; color: {ink};
        border: 5px solid {ink}; border-radius: 10px; text-align: center; font-family: {font};
        font-weight: bold; letter-spacing: 1px; box-shadow: 0 0 0 3px {ground};
        transform: translate(-50%, -50%) perspective(700px) rotateY({turn_y:.0f}deg) rotateX({turn_x:.0f}deg)
          rotate({angle:.1f}deg) scale({scale:.2f});
        filter: blur({blur}px); }}
      .plate::after {{ content: ""; position: absolute; inset: 0; background: {shade}; }}
      .l {{ white-space: nowrap; }}
      .screw {{ position: absolute; top: 7px; width: 9px; height: 9px; border-radius: 50%;
        background: radial-gradient(#eee, #777); }}
      .dealer {{ position: absolute; left: -9px; right: -9px; top: 100%; margin-top: 4px; padding: 3px 0;
        background: #111; color: #ddd; font: bold 15px 'DejaVu Sans'; letter-spacing: 0; }}
    </style></head><body><div id="photo"><div class="lamp" style="left:20px"></div>
    <div class="lamp" style="right:20px"></div><div class="plate">{lines}{extras}</div></div></body></html>"""
    note = f"{vehicle_class} {colour}{' low' if low_contrast else ''}"
    note += f"{' shadow' if shadow else ''} {angle:+.1f}° y{turn_y:+.0f}° x{turn_x:+.0f}° blur {blur}"
    note += f" {share:.0%} wide{' screws' if screws else ''}{' dealer' if dealer else ''}"
    return PlateImage(written, vehicle_class, html, note)


def plate_set(n: int = PLATES, seed: int = SEED) -> list[PlateImage]:
    rng = random.Random(seed)
    return [_plate(rng, i) for i in range(n)]


async def photograph(camera: Page, plate: PlateImage) -> bytes:
    await camera.set_content(plate.html)
    return await camera.locator("#photo").screenshot(type="jpeg", quality=70)  # a phone's photo is a JPEG


# ---- Feeding photos through the camera button ---------------------------------------------------------
WATCH = """() => {
  window.__readings = [];
  document.addEventListener("citypay:plate-readings", (e) => window.__readings.push(e.detail.readings));
}"""


async def scan(page: Page, png: bytes, name: str = "plate.jpg") -> list[dict]:
    """Chooses the photo in the file input, as the camera would, and waits for the reader to finish."""
    before = await page.evaluate("window.__readings.length")
    photo: FilePayload = {"name": name, "mimeType": "image/jpeg", "buffer": png}
    await page.set_input_files("#plate-scan-file", files=[photo])
    await page.wait_for_function(
        "(n) => window.__readings.length > n || document.querySelector('#plate-scan-status').dataset.state"
        " === 'failed'",
        arg=before,
        timeout=60_000,
    )
    await page.wait_for_function("() => !document.querySelector('#plate-scan').hasAttribute('aria-busy')")
    found = await page.evaluate("window.__readings")
    return found[before] if len(found) > before else []


async def open_scan_page(browser: Browser, base: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    failures: list[str] = []
    page.on("pageerror", lambda exc: failures.append(str(exc)))
    page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
    page.on(
        "response",
        lambda r: (
            failures.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    await page.goto(f"{base}/test/plate-scan")
    await page.evaluate(WATCH)
    return page, failures


def _valid_written(text: str) -> bool:
    for vehicle_class in ("car", "motorbike"):
        try:
            if parse_plate(text, vehicle_class).written == text:
                return True
        except InvalidPlate:
            pass
    return False


def _rank(readings: list[dict], truth: str) -> int | None:
    compact = [normalise_plate(r["plate"]) for r in readings]
    target = normalise_plate(truth)
    return compact.index(target) if target in compact else None


async def test_the_camera_button_reads_plates_top3(browser: Browser, scan_server) -> None:
    base = scan_server.base_url
    page, failures = await open_scan_page(browser, base)
    camera = await (await browser.new_context(device_scale_factor=1)).new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    plates = plate_set()
    ranks, started, rows, all_readings = [], time.monotonic(), [], []
    for i, plate in enumerate(plates):
        png = await photograph(camera, plate)
        readings = await scan(page, png, f"plate-{i}.jpg")
        all_readings += readings
        rank = _rank(readings, plate.truth)
        ranks.append(rank)
        last = await page.evaluate("window.citypayPlateScan.last")
        shown = ", ".join(f"{r['plate']} {r['score']:.2f}" for r in readings[:3])
        rows.append(f"{i:2d} {plate.truth:14s} rank={rank} [{shown}] {last['ms']} ms — {plate.note}")
        if DEBUG:
            rows.append(
                "      " + " | ".join(repr(p["text"].strip()) + f" {p['conf']:.2f}" for p in last["passes"])
            )
            (DEBUG / f"plate-{i}.jpg").write_bytes(png)
            with (DEBUG / "truth.tsv").open("a") as truth:
                truth.write(f"plate-{i}.jpg\t{plate.truth}\t{plate.vehicle_class}\t{plate.note}\n")
    elapsed = time.monotonic() - started
    top1 = sum(r == 0 for r in ranks) / len(ranks)
    top3 = sum(r is not None and r < 3 for r in ranks) / len(ranks)
    print("\n".join(rows))
    print(f"plate scan: {len(plates)} plates, top-1 {top1:.0%}, top-3 {top3:.0%}, {elapsed:.1f} s")

    # Everything came from our own server: no CDN, no other origin.
    elsewhere = [u for u in requests if not u.startswith(base)]
    assert requests and elsewhere == []
    # One core, the one this Chromium runs fastest (relaxed SIMD), its loader fetched by its versioned URL.
    cores = sorted(u.removeprefix(base) for u in requests if "/tesseract-core" in u)
    vendor = "/static/parking/vendor/tesseract-7.0.0/tesseract-core-relaxedsimd-lstm"
    assert [u.split("?")[0] for u in cores] == [f"{vendor}.js", f"{vendor}.wasm"], cores
    assert "?v=" in cores[0] and cores[0].count("/") == 5, cores
    assert failures == []
    assert top1 >= TOP1_FLOOR, (top1, rows)
    assert top3 >= TOP3_FLOOR, (top3, rows)
    # Every reading offered is a plate parking.plates accepts, written as it writes it.
    offered = {r["plate"] for r in all_readings}
    assert offered and [p for p in offered if not _valid_written(p)] == []


async def test_a_photo_without_a_plate_says_so_in_vietnamese(browser: Browser, scan_server) -> None:
    page, failures = await open_scan_page(browser, scan_server.base_url)
    camera = await (await browser.new_context()).new_page()
    await camera.set_content(
        '<div id="photo" style="width:400px;height:260px;background:linear-gradient(#8ab,#dca)"></div>'
    )
    png = await camera.locator("#photo").screenshot(type="png")
    assert await scan(page, png) == []
    status = page.locator("#plate-scan-status")
    assert await status.get_attribute("data-state") == "failed"
    text = (await status.inner_text()).strip()
    assert text == "Không đọc được biển số, hãy chụp lại hoặc gõ tay."
    assert not_in_catalogue([text]) == []
    assert failures == []
    # The button is the phone's camera: a file input that asks for the rear camera.
    file_input = page.locator("#plate-scan-file")
    assert await file_input.get_attribute("accept") == "image/*"
    assert await file_input.get_attribute("capture") == "environment"
    assert (await page.locator(".plate-scan-button").inner_text()).strip() == "Chụp biển số"


async def test_progress_and_an_engine_that_cannot_load_in_vietnamese(browser: Browser, scan_server) -> None:
    """While the reader works the line says so; if its files cannot be fetched (a dead connection), the
    attendant is told to take another photo or type, in a catalogue sentence, and nothing throws."""
    page, failures = await open_scan_page(browser, scan_server.base_url)
    camera = await (await browser.new_context()).new_page()
    png = await photograph(camera, simple_photo("30A-123.45", motorbike=False))

    async def slow(route) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/worker.min.js*", slow)
    photo: FilePayload = {"name": "plate.jpg", "mimeType": "image/jpeg", "buffer": png}
    await page.set_input_files("#plate-scan-file", files=[photo])
    status = page.locator("#plate-scan-status")
    await expect(status).to_have_text("Đang đọc biển số…")
    await expect(page.locator("#plate-scan")).to_have_attribute("aria-busy", "true")
    await expect(status).to_have_text("Đọc được: 30A-123.45", timeout=30_000)
    assert failures == []

    broken, _ = await open_scan_page(browser, scan_server.base_url)
    await broken.route("**/tesseract-core-*", lambda route: route.abort())
    await broken.set_input_files("#plate-scan-file", files=[photo])
    status = broken.locator("#plate-scan-status")
    await expect(status).to_have_attribute("data-state", "failed", timeout=30_000)
    text = (await status.inner_text()).strip()
    assert text == "Không đọc được biển số, hãy chụp lại hoặc gõ tay."
    assert not_in_catalogue([text, "Đang đọc biển số…", "Đọc được: 30A-123.45"]) == []
    assert await broken.evaluate("window.__readings") == []


async def test_readings_repair_confusions_by_position(browser: Browser, scan_server) -> None:
    """The text → plate step alone: letters where letters belong, digits where digits belong."""
    page, _ = await open_scan_page(browser, scan_server.base_url)

    async def parse(text: str) -> list[str]:
        return [r["plate"] for r in await page.evaluate("(t) => window.citypayPlateScan.parse(t)", text)]

    assert (await parse("30A-123.45"))[0] == "30A-123.45"
    assert (await parse("3OA-1Z3.4S"))[0] == "30A-123.45"  # O→0, Z→2, S→5 in digit places
    assert (await parse("308-123.45"))[0] == "30B-123.45"  # 8→B in the series place
    assert (await parse("29-B1\n123.45"))[0] == "29-B1 123.45"  # two lines: a motorbike
    assert (await parse("29-81\n12345"))[0] == "29-B1 123.45"
    assert (await parse("|29-B1|\n|123.45|"))[0] == "29-B1 123.45"
    assert "13A-123.45" not in await parse("13A-123.45")  # an unused province code is no plate
    assert await parse("HELLO") == []
    await asyncio.sleep(0)


def simple_photo(written: str, motorbike: bool) -> PlateImage:
    """A plain, slightly tilted photo of one plate (a white car plate, or a motorbike's two lines)."""
    lines = "".join(f'<div class="l">{part}</div>' for part in written.split(" ")) if motorbike else written
    size = (
        "font-size:54px;line-height:62px;padding:6px 14px" if motorbike else "font-size:80px;padding:0 20px"
    )
    html = f"""<!doctype html><html><head><meta charset="utf-8"><style>
      html, body {{ margin: 0; }}
      #photo {{ width: 640px; height: 420px; display: flex; align-items: center; justify-content: center;
        background: linear-gradient(180deg, #9aa0a6 0 60%, #222 60% 75%, #9aa0a6 75%); }}
      .plate {{ {size}; background: #f7f7f2; color: #111; border: 5px solid #111; border-radius: 10px;
        font-family: 'Liberation Sans Narrow'; font-weight: bold; text-align: center;
        transform: rotate(-3deg); }}
    </style></head><body><div id="photo"><div class="plate">{lines}</div></div></body></html>"""
    return PlateImage(written, "motorbike" if motorbike else "car", html, "simple")


async def test_console_scanned_check_in_and_check_out(server, browser: Browser, db_url, settings, keys):
    """The real console at 360×740: a motorbike's plate photographed fills the plate field for the check-in;
    later the same plate, scanned again, is offered as the vehicle inside and checked out with one tap."""
    username, password = await _attendant_of(db_url, settings, keys, LOT)
    phone: ViewportSize = {"width": PHONE["width"], "height": PHONE["height"]}
    context = await browser.new_context(viewport=phone, locale="vi-VN")
    camera = await (await browser.new_context()).new_page()
    try:
        page = await _open_console(context, server.base_url, username, password)
        failures = _watch_failures(page)
        await page.evaluate(WATCH)
        assert await page.locator("#plate-scan-file").get_attribute("capture") == "environment"
        truth = "29-B1 246.80"
        photo = await photograph(camera, simple_photo(truth, motorbike=True))

        readings = await scan(page, photo)
        assert readings and readings[0]["plate"] == truth, readings
        await expect(page.locator("#plate")).to_have_value(truth)
        await expect(page.locator("#plate-scan-status")).to_contain_text(f"Đọc được: {truth}")
        await screenshot(page, "console-checkin-scanned")
        await page.click("#class-motorbike")
        await page.click("#check-in")
        await expect(page.locator("#message")).to_have_text(f"Đã nhận xe {truth} (Xe máy).")

        # At the exit: the photo again; the vehicle inside is offered, one tap checks it out.
        readings = await scan(page, photo)
        assert readings[0]["plate"] == truth
        offered = page.locator("#suggestions button")
        await expect(offered.first).to_contain_text(truth)
        await offered.first.click()
        await expect(page.locator("#exit-plate")).to_have_text(truth)
        assert failures == []
    finally:
        await camera.context.close()
        await context.close()
