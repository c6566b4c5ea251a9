"""Browser tests: the app served over real HTTP on 127.0.0.1 and the Debian Chromium driven by Playwright."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from core.db import connect
from core.demo_bank_key import ensure_demo_bank_key
from payments.demo import load_payments_demo
from tests.banksim.conftest import banksim_db  # noqa: F401 (fixture)
from tests.live_server import server_fixture  # noqa: F401 (the `server` fixture)

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"no Chromium at {CHROMIUM}")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@dataclass
class Demo:
    city_url: str
    sim_url: str
    app: web.Application  # citypay's, for its clock


@pytest.fixture
async def demo(make_app, settings, keys, db_url, banksim_db):  # noqa: F811
    """citypay and the simulator, each on its own port, knowing each other only by URL."""
    city_port, sim_port = _free_port(), _free_port()
    city_url, sim_url = f"http://127.0.0.1:{city_port}", f"http://127.0.0.1:{sim_port}"
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
    finally:
        await conn.close()
    app = make_app(public_base_url=city_url, banksim_url=sim_url)
    city = await _serve(app, city_port)
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    config = BankSimConfig(
        signing_key=key,
        signing_key_id=key_id,
        citypay_url=city_url,
        port=sim_port,
        retry_base_s=0.2,
        retry_max_s=1,
        poll_interval_s=0.1,
    )
    sim = await _serve(create_banksim_app(database_url=banksim_db, config=config), sim_port)
    yield Demo(city_url, sim_url, app)
    await sim.cleanup()
    await city.cleanup()


# Screenshots that people look at after `make test` (gitignored; the closing note says where): 360×740 phone
# views of the journeys issue 12 fixed. Tests call `await screenshot(page, "console-checkin-typed")`.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PHONE = {"width": 360, "height": 740}


async def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
