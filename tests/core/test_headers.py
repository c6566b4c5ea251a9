"""Headers on every response (issue 8, point 20): no server version, no-store for staff content and APIs, HSTS
over TLS only, and /metrics limited to an address list or credentials."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.middleware import HSTS

NOT_SERVER_VERSIONS = ("aiohttp", "Python")


def assert_no_versions(resp) -> None:
    server = resp.headers.get("Server", "")
    assert server == "citypay", server
    assert not any(word in server for word in NOT_SERVER_VERSIONS)


async def test_server_header_names_no_versions_on_any_response(client, staff_login):
    admin = await staff_login("admin")
    answers = [
        await client.get("/healthz"),
        await client.get("/no/such/page", headers={"Accept": "text/html"}),
        await client.get("/api/v1/no-such-route"),
        await client.get("/api/v1/ledger/trial-balance"),  # 401 problem
        await client.delete("/healthz"),  # 405
        await client.get("/ledger/trial-balance", headers={"Accept": "text/html"}, allow_redirects=False),
        await client.get("/", headers=admin.headers()),
        await client.post("/api/v1/receipts/verify", data=b"{", headers={"Content-Type": "application/json"}),
    ]
    for resp in answers:
        assert_no_versions(resp)


async def test_server_header_on_a_request_aiohttp_cannot_parse(client):
    """aiohttp answers a malformed request itself (no middleware, no signal): still no versions."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n")
        await writer.drain()
        head = (await asyncio.wait_for(reader.read(4096), 5)).decode("latin-1")
    finally:
        writer.close()
    assert head.split("\r\n")[0].split(" ")[1] == "400", head
    headers = dict(
        line.split(": ", 1) for line in head.split("\r\n\r\n")[0].split("\r\n")[1:] if ": " in line
    )
    assert headers.get("Server") == "citypay", head


async def test_staff_pages_and_api_answers_are_not_stored(client, staff_login, api_token):
    finance = await staff_login("finance")
    token = await api_token("ledger:read")
    stored_nowhere = {
        "staff page": await client.get("/ledger/trial-balance", headers=finance.headers()),
        "staff home": await client.get("/", headers=finance.headers()),
        "api with a session": await client.get("/api/v1/payment-requests", headers=finance.headers()),
        "api with a token": await client.get(
            "/api/v1/ledger/trial-balance", headers={"Authorization": f"Bearer {token}"}
        ),
        "api 401": await client.get("/api/v1/ledger/trial-balance"),
        "api 404": await client.get("/api/v1/payment-requests/999999/qr.png"),
        "login page": await client.get("/login"),
        # the pay page chose "no-cache" for itself; it names who is paid and what for: not stored either
        "pay page": await client.get("/pay/HN00000000"),
        "readiness": await client.get("/readyz"),
    }
    for what, resp in stored_nowhere.items():
        assert resp.status < 500, what
        assert resp.headers.get("Cache-Control") == "no-store", (what, resp.status, resp.headers)


async def test_public_assets_keep_their_own_caching(client):
    resp = await client.get("/api/v1/receipts/public-key")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "public, max-age=3600"


async def test_hsts_only_when_served_over_tls(make_app, aiohttp_client, tmp_path):
    plain = await aiohttp_client(make_app())
    resp = await plain.get("/healthz", headers={"X-Forwarded-Proto": "https"})  # nobody we trust said so
    assert "Strict-Transport-Security" not in resp.headers

    proxied = await aiohttp_client(make_app(trusted_proxies=("127.0.0.1",)))
    resp = await proxied.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"] == HSTS
    resp = await proxied.get("/api/v1/ledger/trial-balance", headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 401 and resp.headers["Strict-Transport-Security"] == HSTS
    resp = await proxied.get("/healthz", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in resp.headers

    server_ctx, client_ctx = _self_signed_tls(tmp_path)
    server = TestServer(make_app())
    await server.start_server(ssl=server_ctx)
    tls = await aiohttp_client(server)
    resp = await tls.get("/healthz", ssl=client_ctx)
    assert resp.status == 200 and resp.url.scheme == "https"
    assert resp.headers["Strict-Transport-Security"] == HSTS
    assert_no_versions(resp)


def _self_signed_tls(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return server, client


async def test_metrics_open_on_loopback_by_default(client):
    resp = await client.get("/metrics")
    assert resp.status == 200 and "citypay_http_requests_total" in await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"


async def test_metrics_from_elsewhere_need_a_token_or_an_admin(
    make_app, aiohttp_client, api_token, staff_login
):
    # The test client connects from 127.0.0.1: an allow list without it stands for "somewhere else".
    client = await aiohttp_client(make_app(metrics_allow=("10.0.0.0/8",)))
    resp = await client.get("/metrics")
    assert resp.status == 401 and resp.content_type == "application/problem+json"
    assert "citypay_http" not in await resp.text()

    other = await api_token("payment-requests:read")
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 403 and resp.content_type == "application/problem+json"

    scraper = await api_token("metrics:read")
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
    assert resp.status == 200 and "citypay_http_requests_total" in await resp.text()

    admin, finance = await staff_login("admin"), await staff_login("finance")
    assert (await client.get("/metrics", headers=admin.headers())).status == 200
    assert (await client.get("/metrics", headers=finance.headers())).status == 403


async def test_metrics_address_list_and_proxies(make_app, aiohttp_client):
    # A proxy on this host we were not told to trust: its loopback address is not the caller's.
    local = await aiohttp_client(make_app())
    resp = await local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 401

    proxied = await aiohttp_client(make_app(metrics_allow=("10.0.0.0/8",), trusted_proxies=("127.0.0.1",)))
    assert (await proxied.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})).status == 200
    assert (await proxied.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status == 401
    # a client cannot slip an allowed address in front of its own: the proxy's last hop counts
    spoofed = await proxied.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3, 203.0.113.9"})
    assert spoofed.status == 401

    everyone = await aiohttp_client(make_app(metrics_allow=("*",)))
    assert (await everyone.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status == 200


def test_metrics_allow_setting_is_checked():
    import pytest

    from core.settings import Settings

    assert Settings.from_env({}).metrics_allow == ("127.0.0.0/8", "::1")
    assert Settings.from_env({"CITYPAY_METRICS_ALLOW": "none"}).metrics_allow == ()
    assert Settings.from_env({"CITYPAY_METRICS_ALLOW": "10.0.0.0/8, 192.0.2.1"}).metrics_allow == (
        "10.0.0.0/8",
        "192.0.2.1",
    )
    with pytest.raises(SystemExit):
        Settings.from_env({"CITYPAY_METRICS_ALLOW": "localhost"})
