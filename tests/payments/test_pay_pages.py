"""Citizen-facing pages and images: QR codes decoded back with zxing-cpp, the pay page in both languages and
every state, signed receipts (API, page, verification) and the live status stream fed by PostgreSQL NOTIFY."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image

from core.appkeys import POOL
from core.db import connect
from core.demo_bank_key import DEMO_BANK_CODE
from core.money import format_local_time
from payments import live_status, pay_pages
from payments.banks import verify_answer
from payments.live_status import LISTENER_APPLICATION_NAME, STATUS_HUB
from payments.qr_images import png_cache_info
from payments.receipts import b64url, b64url_decode, verify_receipt_signature
from payments.reference import new_reference
from payments.requests import (
    NewRequest,
    cancel_payment_request,
    expire_overdue_requests,
    issue_payment_request,
)
from payments.settlement import settle_credit
from payments.vietqr import parse_payload
from tests.payments.conftest import BANK_ACCOUNT, credit

# Only QR codes are printed; another format "found" in a QR's modules is a false read.
QR_ONLY = zxingcpp.BarcodeFormat.QRCode

pytestmark = pytest.mark.usefixtures("catalogue")
DAY = timedelta(days=1)
HANOI_HOLDER = "KHO BAC NHA NUOC HA NOI"


async def issue(db_url, keys, fee="LLTP", *, now=None, **kw):
    conn = await connect(db_url)
    try:
        return await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code=fee, **kw),
            created_by="test",
            amount_cap=500_000_000,
            default_expiry=DAY,
            now=now,
        )
    finally:
        await conn.close()


async def pay(db_url, keys, reference, amount):
    """What a bank callback does, from its own connection (so NOTIFY crosses connections as in production)."""
    conn = await connect(db_url)
    try:
        async with conn.transaction():
            return await settle_credit(conn, keys, credit(f"CK {reference}", amount))
    finally:
        await conn.close()


async def receipt_of(db_url, request_id):
    conn = await connect(db_url)
    try:
        return await conn.fetchrow("SELECT * FROM receipts WHERE payment_request_id = $1", request_id)
    finally:
        await conn.close()


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=QR_ONLY)]


def svg_modules_to_png(svg: str | bytes) -> bytes:
    """Rasterise qrcode's path SVG (one unit square per dark module) so zxing can read it."""
    root = ET.fromstring(svg)  # noqa: S314 — our own output
    path = next(el for el in root.iter() if el.tag.endswith("path"))
    squares = [(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", path.get("d"))]
    side = int(float(root.get("viewBox").split()[2]))
    image = Image.new("L", (side, side), 255)
    for x, y in squares:
        image.putpixel((x, y), 0)
    out = io.BytesIO()
    image.resize((side * 8, side * 8), Image.Resampling.NEAREST).save(out, format="PNG")
    return out.getvalue()


# QR images ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [128, 360, 1024])
async def test_qr_png_decodes_to_the_payload(client, db_url, keys, size):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/api/v1/payment-requests/{pr['id']}/qr.png?size={size}")
    assert resp.status == 200 and resp.content_type == "image/png"
    png = await resp.read()
    assert Image.open(io.BytesIO(png)).size == (size, size)
    assert decode(png) == [pr["qr_payload"]]


async def test_qr_png_default_size_is_360(client, db_url, keys):
    pr = await issue(db_url, keys)
    png = await (await client.get(f"/api/v1/payment-requests/{pr['id']}/qr.png")).read()
    assert Image.open(io.BytesIO(png)).size == (360, 360)


@pytest.mark.parametrize("size", ["127", "1025", "0", "-5", "big", "360.5"])
async def test_qr_size_outside_the_bounds_is_422(client, db_url, keys, size):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/api/v1/payment-requests/{pr['id']}/qr.png?size={size}")
    assert resp.status == 422 and (await resp.json())["field"] == "size"


async def test_qr_is_immutable_with_a_strong_etag_and_304(client, db_url, keys):
    pr = await issue(db_url, keys)
    url = f"/api/v1/payment-requests/{pr['id']}/qr.png?size=400"
    first = await client.get(url)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    hits = png_cache_info().hits
    again = await client.get(url)
    assert again.headers["ETag"] == etag and await again.read() == await first.read()
    assert png_cache_info().hits == hits + 1  # rendered once, then served from the LRU
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await client.get(url, headers={"If-None-Match": header})
        assert cached.status == 304, header
        assert cached.headers["ETag"] == etag and await cached.read() == b""
    stale = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status == 200
    other_size = await client.get(f"/api/v1/payment-requests/{pr['id']}/qr.png?size=500")
    assert other_size.headers["ETag"] != etag
    other_request = await issue(db_url, keys)
    other = await client.get(f"/api/v1/payment-requests/{other_request['id']}/qr.png?size=400")
    assert other.headers["ETag"] != etag


async def test_qr_svg_is_valid_xml_and_decodes(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/api/v1/payment-requests/{pr['id']}/qr.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert resp.headers["Cache-Control"].endswith("immutable") and resp.headers["ETag"]
    svg = await resp.read()
    root = ET.fromstring(svg)  # noqa: S314
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
    assert decode(svg_modules_to_png(svg)) == [pr["qr_payload"]]
    cached = await client.get(
        f"/api/v1/payment-requests/{pr['id']}/qr.svg", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert cached.status == 304


async def test_qr_404_for_unknown_ids_and_fully_subsidised_requests(client, db_url, keys):
    free = await issue(db_url, keys, channel="vneid")
    assert free["status"] == "paid" and free["qr_payload"] is None
    for request_id in (free["id"], uuid.uuid4(), "not-a-uuid"):
        for ext in ("png", "svg"):
            resp = await client.get(f"/api/v1/payment-requests/{request_id}/qr.{ext}")
            assert resp.status == 404 and resp.content_type == "application/problem+json"


async def test_qr_routes_are_documented_as_images(client):
    doc = await (await client.get("/openapi.json")).json()
    png = doc["paths"]["/api/v1/payment-requests/{id}/qr.png"]["get"]
    assert "image/png" in png["responses"]["200"]["content"]
    assert {p["name"] for p in png["parameters"]} == {"id", "size"}
    svg = doc["paths"]["/api/v1/payment-requests/{id}/qr.svg"]["get"]
    assert "image/svg+xml" in svg["responses"]["200"]["content"]
    assert "/pay/{reference}" not in doc["paths"]
    for path in ("/api/v1/receipts/{id}", "/api/v1/receipts/public-key", "/receipts/verify"):
        assert "get" in doc["paths"][path]
    assert "post" in doc["paths"]["/api/v1/receipts/verify"]


# Pay page -------------------------------------------------------------------------------------------------


def element(html: str, element_id: str) -> str:
    """The opening tag and text up to the closing tag of the element with this id (enough for assertions)."""
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return m.group(0)


async def test_pay_page_in_vietnamese_by_default(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert 'lang="vi"' in html
    assert "200.000 ₫" in element(html, "amount")
    assert "Phí cấp Phiếu lý lịch tư pháp" in html
    assert "Đang chờ thanh toán" in element(html, "status") and 'data-status="pending"' in html
    assert HANOI_HOLDER in html and "Vietcombank" in html and BANK_ACCOUNT in html
    assert f'data-copy="{pr["reference"]}"' in html  # the copy button for the transfer note
    qr = element(html, "qr-box")
    assert f"/api/v1/payment-requests/{pr['id']}/qr.png?size=288" in qr and 'id="qr"' in qr
    countdown = re.search(r'id="countdown" data-seconds="(\d+)"', html)
    assert countdown and DAY.total_seconds() - 60 < int(countdown.group(1)) <= DAY.total_seconds()
    assert format_local_time(pr["expires_at"]) in html  # expiry shown in Hà Nội time
    assert f"/pay/{pr['reference']}/events" in html
    assert 'id="receipt-link"' in html and "hidden" in element(html, "receipt-link")
    # Nothing loaded from elsewhere: every src is relative, and every absolute link is a banking app's VietQR
    # deeplink (a navigation the person taps, not a resource the page loads); the CSP forbids the rest.
    assert not re.search(r'src="(https?:)?//', html)
    assert {m for m in re.findall(r'href="((?:https?:)?//[^/"]+/[^?"]*)', html)} == {
        "https://dl.vietqr.io/pay"
    }
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_pay_page_in_english_after_the_toggle(client, db_url, keys):
    pr = await issue(db_url, keys)
    toggle = await client.get(f"/lang/en?next=/pay/{pr['reference']}", allow_redirects=False)
    assert toggle.status == 303 and toggle.headers["Location"] == f"/pay/{pr['reference']}"
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert 'lang="en"' in html
    assert "Judicial record certificate fee" in html and "Phí cấp Phiếu" not in html
    assert "Waiting for payment" in element(html, "status")
    assert "Account number" in html and "Transfer note" in html
    assert "200.000 ₫" in element(html, "amount")


async def test_reference_is_found_whatever_the_case(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference'].lower()}")
    assert resp.status == 200 and pr["reference"] in await resp.text()


@pytest.mark.parametrize("reference", ["CP0000000000X", "nonsense", None])
async def test_unknown_reference_is_a_404_page(client, reference):
    reference = reference or new_reference()  # well-formed, never issued
    resp = await client.get(f"/pay/{reference}")
    assert resp.status == 404 and resp.content_type == "text/html"
    html = await resp.text()
    assert "Không tìm thấy yêu cầu thanh toán" in html and 'id="qr"' not in html


async def test_underpaid_page_shows_what_arrived_and_a_qr_for_the_rest(client, db_url, keys):
    pr = await issue(db_url, keys)
    await pay(db_url, keys, pr["reference"], 150_000)
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert "Đã nhận một phần" in element(html, "status")
    assert "150.000 ₫" in element(html, "received") and "50.000 ₫" in element(html, "remaining")
    src = re.search(r'id="qr" src="([^"]+)"', html).group(1)
    assert src == f"/api/v1/payment-requests/{pr['id']}/remaining-qr.png?amount=50000&amp;size=288"
    image = await client.get(src.replace("&amp;", "&"))
    assert image.status == 200 and image.content_type == "image/png"
    [payload] = decode(await image.read())
    rest = parse_payload(payload)
    assert rest.amount == 50_000 and rest.purpose == pr["reference"] and rest.account == BANK_ACCOUNT
    # What remains is what is asked for: the headline, the amount to copy, every app link; never the full fee.
    assert "50.000 ₫" in element(html, "amount") and "Số tiền còn phải trả" in element(html, "amount-label")
    visible = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "200.000 ₫" not in visible and "200000" not in visible
    assert 'data-copy="50000"' in html
    amounts = re.findall(r"(?:\?|&amp;)am=(\d+)", html)
    assert len(amounts) >= 10 and set(amounts) == {"50000"}


async def test_paid_page_links_the_receipt_and_hides_the_qr(client, db_url, keys):
    pr = await issue(db_url, keys)
    await pay(db_url, keys, pr["reference"], 200_000)
    receipt = await receipt_of(db_url, pr["id"])
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert "Đã thanh toán" in element(html, "status")
    link = element(html, "receipt-link")
    assert f'href="/receipts/{receipt["id"]}"' in link and "hidden" not in link
    assert 'id="qr"' not in html and "Cảm ơn bạn" in html


async def test_fully_subsidised_page_says_the_city_paid(client, db_url, keys):
    pr = await issue(db_url, keys, channel="vneid")
    receipt = await receipt_of(db_url, pr["id"])
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert "do chương trình của thành phố chi trả" in html and "Miễn phí LLTP qua VNeID (demo)" in html
    assert "Đã thanh toán" in element(html, "status") and 'id="qr"' not in html
    assert f'href="/receipts/{receipt["id"]}"' in element(html, "receipt-link")
    english = await (await client.get(f"/pay/{pr['reference']}", cookies={"lang": "en"})).text()
    assert "paid by the city&#39;s programme" in english or "paid by the city's programme" in english


async def test_cancelled_page(client, db_url, keys):
    pr = await issue(db_url, keys)
    conn = await connect(db_url)
    try:
        await cancel_payment_request(conn, pr["id"], actor="test", reason="test cancels")
    finally:
        await conn.close()
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert "Đã hủy" in element(html, "status") and 'data-status="cancelled"' in html
    assert "đã bị hủy" in element(html, "cancelled-hint") and 'id="qr"' not in html


async def test_expired_page_before_and_after_the_sweeper(make_app, aiohttp_client, db_url, keys):
    # The test is the sweeper: an app running its own sweep at start could expire the request first.
    client = await aiohttp_client(make_app(background=False))
    pr = await issue(db_url, keys, now=datetime.now(UTC) - 2 * DAY)
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    # Still pending in the table, but money sent now would go to suspense: the page must say expired.
    assert "Đã hết hạn" in element(html, "status") and 'id="qr"' not in html
    conn = await connect(db_url)
    try:
        assert await expire_overdue_requests(conn) == 1
    finally:
        await conn.close()
    html = await (await client.get(f"/pay/{pr['reference']}")).text()
    assert "Đã hết hạn" in element(html, "status") and "đã hết hạn" in element(html, "expired-hint")


# Receipts -------------------------------------------------------------------------------------------------


async def paid_receipt(client, db_url, keys):
    pr = await issue(db_url, keys, payer_reference="HS-2026-0042")
    await pay(db_url, keys, pr["reference"], 200_000)
    receipt = await receipt_of(db_url, pr["id"])
    resp = await client.get(f"/api/v1/receipts/{receipt['id']}")
    assert resp.status == 200
    return pr, await resp.json()


async def test_receipt_api_returns_the_signed_body(client, db_url, keys):
    pr, out = await paid_receipt(client, db_url, keys)
    assert out["algorithm"] == "Ed25519" and out["receipt"] == json.loads(out["body"])
    assert out["receipt"]["reference"] == pr["reference"] and out["receipt"]["amount_paid"] == 200_000
    key = await (await client.get("/api/v1/receipts/public-key")).json()
    assert key["key_id"] == out["key_id"] == out["receipt"]["key_id"]
    # Anyone can verify offline with only the published key.
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    assert verify_receipt_signature(public, out["body"], out["signature"])
    assert out["verify_url"].endswith(
        f"/receipts/verify?id={out['receipt']['receipt_id']}&sig={out['signature']}"
    )


async def test_receipt_api_404(client):
    for rid in (uuid.uuid4(), "nope"):
        resp = await client.get(f"/api/v1/receipts/{rid}")
        assert resp.status == 404 and resp.content_type == "application/problem+json"


def flip(text: str, index: int) -> str:
    raw = bytearray(text.encode())
    raw[index] ^= 0x01
    return raw.decode("utf-8", errors="replace")


async def test_verify_api_valid_and_tampered(client, db_url, keys):
    _, out = await paid_receipt(client, db_url, keys)
    ok = await client.post(
        "/api/v1/receipts/verify", json={"body": out["body"], "signature": out["signature"]}
    )
    assert await ok.json() == {"valid": True, "receipt_id": out["receipt"]["receipt_id"], "on_record": True}
    amount_at = out["body"].index('"amount_paid":') + len('"amount_paid":')
    for body in (flip(out["body"], amount_at), flip(out["body"], 0), out["body"] + " "):
        bad = await client.post("/api/v1/receipts/verify", json={"body": body, "signature": out["signature"]})
        assert bad.status == 200 and (await bad.json())["valid"] is False
    sig = bytearray(b64url_decode(out["signature"]))
    sig[10] ^= 0x01
    bad = await client.post(
        "/api/v1/receipts/verify", json={"body": out["body"], "signature": b64url(bytes(sig))}
    )
    assert await bad.json() == {"valid": False, "receipt_id": None, "on_record": False}


async def test_verify_api_counts_only_receipts_and_canonical_signatures(client, db_url, keys):
    """The city key also signs its answers to banks: such an answer, presented as a receipt, is not one (it
    was a 500). A receipt's own signature with padding or changed spare bits decodes to the same bytes, but it
    is not what the city issued, and the verify page says so too."""
    count = "SELECT (SELECT count(*) FROM receipts) + (SELECT count(*) FROM callback_inbox)"
    _, out = await paid_receipt(client, db_url, keys)
    answer = await client.post(f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}", json={})
    assert answer.status == 401 and answer.headers["X-Citypay-Signature"]
    signed_text = f"{answer.headers['X-Citypay-Timestamp']}.{await answer.text()}"
    signature = b64url(base64.b64decode(answer.headers["X-Citypay-Signature"]))
    city_keys = {answer.headers["X-Citypay-Key-Id"]: keys.signing_public_key}
    verify_answer(city_keys, answer.headers, await answer.read(), datetime.now(UTC))  # the city's signature…
    pool = client.app[POOL]
    before = await pool.fetchval(count)
    resp = await client.post("/api/v1/receipts/verify", json={"body": signed_text, "signature": signature})
    assert resp.status == 200, await resp.text()  # …but not a receipt
    assert await resp.json() == {"valid": False, "receipt_id": None, "on_record": False}
    last = out["signature"][-1]
    spare = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = out["signature"][:-1] + spare[spare.index(last) ^ 1]  # 64 bytes leave 2 spare bits at the end
    assert b64url_decode(twin) == b64url_decode(out["signature"])
    for variant in (out["signature"] + "=", out["signature"] + "==", twin):
        got = await client.post("/api/v1/receipts/verify", json={"body": out["body"], "signature": variant})
        assert await got.json() == {"valid": False, "receipt_id": None, "on_record": False}, variant
    assert await pool.fetchval(count) == before


@pytest.mark.parametrize(
    "payload",
    [{}, {"body": "{}"}, {"body": 5, "signature": "abc"}, {"body": "{}", "signature": "a b"}, {"x": 1}],
)
async def test_verify_api_refuses_bad_shapes(client, payload):
    resp = await client.post("/api/v1/receipts/verify", json=payload)
    assert resp.status == 422 and resp.content_type == "application/problem+json"


async def test_receipt_page_is_printable_and_its_qr_verifies(client, db_url, keys):
    pr, out = await paid_receipt(client, db_url, keys)
    receipt_id = out["receipt"]["receipt_id"]
    resp = await client.get(f"/receipts/{receipt_id}")
    assert resp.status == 200
    html = await resp.text()
    assert "200.000 ₫" in element(html, "amount-paid")
    assert "Phí cấp Phiếu lý lịch tư pháp" in element(html, "purpose")
    assert pr["reference"] in element(html, "reference") and HANOI_HOLDER in element(html, "payee")
    txn = out["receipt"]["bank_transactions"][0]
    assert txn["id"] in element(html, "transactions") and "HS-2026-0042" in html
    settled = datetime.fromisoformat(out["receipt"]["settled_at"])
    assert format_local_time(settled, with_seconds=True) in element(html, "settled-at")
    assert "@media print" in html
    svg = re.search(r"<svg.*?</svg>", element(html, "verify-qr"), re.S).group(0)
    [link] = decode(svg_modules_to_png(svg))
    assert link == out["verify_url"] and link.startswith("http://127.0.0.1:8080/receipts/verify?")
    parts = urlsplit(link)
    verified = await client.get(f"{parts.path}?{parts.query}")
    assert verified.status == 200 and 'data-result="valid"' in await verified.text()
    assert (await client.get(f"/receipts/{uuid.uuid4()}")).status == 404


async def test_verify_page_says_valid_or_not(client, db_url, keys):
    _, out = await paid_receipt(client, db_url, keys)
    rid, sig = out["receipt"]["receipt_id"], out["signature"]
    html = await (await client.get("/receipts/verify", params={"id": rid, "sig": sig})).text()
    assert "Biên lai HỢP LỆ" in html and "200.000 ₫" in html
    tampered_sig = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
    for params in ({"id": rid, "sig": tampered_sig}, {"id": rid, "sig": "garbage"}, {"id": rid}):
        resp = await client.get("/receipts/verify", params=params)
        html = await resp.text()
        assert resp.status == 200 and "KHÔNG hợp lệ" in html and "200.000" not in html, params
    # (Without parameters /receipts/verify is now the look-up form, issue 12 point 12: not a 404.)
    for params in ({"id": str(uuid.uuid4()), "sig": sig}, {"id": "x", "sig": sig}):
        resp = await client.get("/receipts/verify", params=params)
        assert resp.status == 404 and 'data-result="unknown"' in await resp.text()
    english = await client.get("/receipts/verify", params={"id": rid, "sig": sig}, cookies={"lang": "en"})
    assert "This receipt is VALID" in await english.text()


# Live status (server-sent events) -------------------------------------------------------------------------


async def next_event(resp, within_s: float = 5.0) -> tuple[str | None, dict | None]:
    """The next SSE event; comments come back as ("comment", None)."""
    while True:
        block = (await asyncio.wait_for(resp.content.readuntil(b"\n\n"), within_s)).decode()
        if block.startswith(":"):
            return "comment", None
        fields = dict(line.split(": ", 1) for line in block.strip().split("\n") if ": " in line)
        if "data" in fields:
            return fields.get("event"), json.loads(fields["data"])


async def test_events_stream_turns_paid_through_notify(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}/events")
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert resp.headers["Cache-Control"].startswith("no-cache")
    event, data = await next_event(resp)
    assert event == "status" and data["status"] == "pending" and data["amount_remaining"] == 200_000
    await pay(db_url, keys, pr["reference"], 150_000)
    event, data = await next_event(resp, within_s=3)
    assert data["status"] == "pending" and data["amount_received"] == 150_000
    assert data["amount_remaining"] == 50_000
    started = asyncio.get_running_loop().time()
    await pay(db_url, keys, pr["reference"], 50_000)
    event, data = await next_event(resp, within_s=3)
    assert asyncio.get_running_loop().time() - started < 3  # NOTIFY, not the 15-second re-check
    receipt = await receipt_of(db_url, pr["id"])
    assert data["status"] == "paid" and data["receipt_url"] == f"/receipts/{receipt['id']}"
    assert await asyncio.wait_for(resp.content.read(), 2) == b""  # the stream ends after a final state
    assert client.app[STATUS_HUB].watched == 0


async def test_events_for_a_final_request_end_at_once(client, db_url, keys):
    pr = await issue(db_url, keys, channel="vneid")
    resp = await client.get(f"/pay/{pr['reference']}/events")
    _, data = await next_event(resp)
    assert data["status"] == "paid" and data["receipt_url"]
    assert await asyncio.wait_for(resp.content.read(), 2) == b""


async def test_events_404_for_unknown_references(client):
    for reference in (new_reference(), "junk"):
        resp = await client.get(f"/pay/{reference}/events")
        assert resp.status == 404 and resp.content_type == "application/problem+json"


async def test_events_report_expiry_when_it_happens(client, db_url, keys):
    pr = await issue(db_url, keys, expires_in=timedelta(seconds=1.5))
    resp = await client.get(f"/pay/{pr['reference']}/events")
    assert (await next_event(resp))[1]["status"] == "pending"
    assert (await next_event(resp, within_s=4))[1]["status"] == "expired"


async def test_events_send_heartbeats(client, db_url, keys, monkeypatch):
    monkeypatch.setattr(pay_pages, "HEARTBEAT_S", 0.2)
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}/events")
    await next_event(resp)
    assert await next_event(resp, within_s=2) == ("comment", None)
    resp.close()


async def test_listener_reconnects_after_its_connection_is_killed(client, db_url, keys):
    hub = client.app[STATUS_HUB]
    await asyncio.wait_for(hub.listening.wait(), 5)
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}/events")
    await next_event(resp)
    conn = await connect(db_url)
    try:
        killed = await conn.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE application_name = $1 AND datname = current_database()""",
            LISTENER_APPLICATION_NAME,
        )
    finally:
        await conn.close()
    assert killed == 1
    await pay(db_url, keys, pr["reference"], 200_000)  # while the listener is down or reconnecting
    _, data = await next_event(resp, within_s=5)
    assert data["status"] == "paid"
    assert hub.connections_opened == 2


async def test_missed_notification_is_caught_by_the_recheck(
    make_app, db_url, keys, monkeypatch, aiohttp_client
):
    monkeypatch.setattr(live_status, "RECHECK_EVERY_S", 0.3)
    client = await aiohttp_client(make_app())
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}/events")
    await next_event(resp)
    conn = await connect(db_url)
    try:  # a change that sends no NOTIFY
        await conn.execute(
            "UPDATE payment_requests SET status = 'cancelled', closed_at = now() WHERE id = $1", pr["id"]
        )
    finally:
        await conn.close()
    _, data = await next_event(resp, within_s=3)
    assert data["status"] == "cancelled"


async def test_shutdown_ends_open_streams(client, db_url, keys):
    pr = await issue(db_url, keys)
    resp = await client.get(f"/pay/{pr['reference']}/events")
    await next_event(resp)
    client.app[STATUS_HUB].end_streams()
    assert await asyncio.wait_for(resp.content.read(), 2) == b""
    refused = await client.get(f"/pay/{pr['reference']}/events")
    assert refused.status == 503


async def test_a_closed_page_stops_watching(client, db_url, keys):
    hub = client.app[STATUS_HUB]
    pr = await issue(db_url, keys)
    pages = [await client.get(f"/pay/{pr['reference']}/events") for _ in range(3)]
    for resp in pages:
        await next_event(resp)
    assert hub.watched == 3
    for resp in pages:
        resp.close()
    for _ in range(100):  # the server notices each disconnect within moments
        if not hub.watched:
            break
        await asyncio.sleep(0.05)
    assert hub.watched == 0


async def test_hub_stop_finishes_even_if_a_task_ignores_cancellation(client):
    """Python 3.11's wait_for could swallow a cancellation; shutdown must end anyway (it once hung CI)."""
    hub = client.app[STATUS_HUB]
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # what a swallowed cancellation looks like from outside

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.05)  # running, so the cancellation reaches its body
    hub._tasks.append(task)
    started = asyncio.get_running_loop().time()
    await hub.stop(grace_s=0.3)
    assert asyncio.get_running_loop().time() - started < 3
    assert not task.done() and hub._tasks == []
    release.set()
    await task
