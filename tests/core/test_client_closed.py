"""A client that hangs up before its body has arrived: nothing is done, and it is counted and logged as 499
(client closed request), never as a 500 that would page someone. Sent over a raw socket, as such a client
would."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from core.appkeys import METRICS, POOL


@pytest.fixture
async def served(make_app):
    """The app as `main.py serve` runs it. aiohttp's test server cancels a handler whose client went away
    (handler_cancellation=True), which hides this case; run_app, like this runner, lets the handler run."""
    app = make_app()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield app, host, port
    await runner.cleanup()


def _count(app, route: str, status: int) -> float:
    value = app[METRICS].registry.get_sample_value(
        "citypay_http_requests_total", {"method": "POST", "route": route, "status": str(status)}
    )
    return value or 0.0


async def _hang_up_mid_body(host: str, port: int, path: str, headers: dict[str, str]) -> None:
    _reader, writer = await asyncio.open_connection(host, port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        f"{head}\r\n".encode()
        + b'{"kind": "service_fee", '
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # the server has the head and part of the body, and waits for the rest
    writer.close()


async def _counted(app, route: str, status: int) -> None:
    for _ in range(100):
        if _count(app, route, status):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {status} counted for {route}")


@pytest.mark.parametrize(
    "who",
    ["api token", "staff session", "bank callback (no credentials: the signature is in the body)"],
)
async def test_a_client_that_hangs_up_mid_body_is_a_499_and_changes_nothing(
    served, api_token, staff_login, who
):
    app, host, port = served
    if who == "api token":
        path = route = "/api/v1/payment-requests"
        headers = {
            "Authorization": f"Bearer {await api_token('payment-requests:write')}",
            "Idempotency-Key": "k1",
        }
    elif who == "staff session":
        login = await staff_login("admin")
        path, route = "/api/v1/parking/lots/hk-hang-dau/check-ins", "/api/v1/parking/lots/{lot_id}/check-ins"
        headers = login.headers(unsafe=True)
    else:
        path, route = "/api/v1/bank-callbacks/payos", "/api/v1/bank-callbacks/{bank_code}"
        headers = {}
    pool = app[POOL]
    before = await pool.fetchval(
        "SELECT (SELECT count(*) FROM payment_requests) + (SELECT count(*) FROM parking_sessions) "
        "+ (SELECT count(*) FROM callback_inbox) + (SELECT count(*) FROM idempotency_keys)"
    )
    await _hang_up_mid_body(host, port, path, headers)
    await _counted(app, route, 499)
    assert _count(app, route, 500) == 0
    after = await pool.fetchval(
        "SELECT (SELECT count(*) FROM payment_requests) + (SELECT count(*) FROM parking_sessions) "
        "+ (SELECT count(*) FROM callback_inbox) + (SELECT count(*) FROM idempotency_keys)"
    )
    assert after == before
    # The server goes on serving.
    async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/healthz") as resp:
        assert resp.status == 200
