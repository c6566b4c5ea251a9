"""The receipt verification form (/receipts/verify: series and number, receipt id, a QR's text, a photo of the
QR) and "find my payment" (/find-payment, the public home's form): real HTTP, real database; every error a
person reads is a catalogue sentence in Vietnamese."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
import qrcode
from PIL import Image

from core.db import connect
from payments.find_payment import normalise_reference
from payments.receipt_pages import parse_lookup
from payments.receipt_rate_limit import LIMIT, AddressLimiter
from payments.receipts import sign_receipt
from payments.reference import new_reference
from payments.requests import NewRequest, issue_payment_request
from payments.settlement import settle_credit
from tests.catalogue import not_in_catalogue
from tests.payments.conftest import credit

pytestmark = pytest.mark.usefixtures("catalogue")
SERIES = [("HN-26E", "01BLP0-001")]


async def paid(db_url, keys, count: int = 1):
    """`count` paid requests with their receipts (numbered 1 … count)."""
    conn = await connect(db_url)
    try:
        out = []
        for _ in range(count):
            pr = await issue_payment_request(
                conn,
                keys,
                NewRequest(kind="service_fee", fee_code="LLTP"),
                created_by="test",
                amount_cap=10**9,
                default_expiry=timedelta(days=1),
            )
            async with conn.transaction():
                await settle_credit(conn, keys, credit(f"CK {pr['reference']}", 200_000))
            receipt = await conn.fetchrow("SELECT * FROM receipts WHERE payment_request_id = $1", pr["id"])
            out.append((pr, receipt))
        return out
    finally:
        await conn.close()


def element(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return unescape(re.sub(r"<[^>]+>", " ", m.group(2))).strip()


def has(html: str, element_id: str) -> bool:
    return f'id="{element_id}"' in html


def visible_error(html: str) -> str:
    return " ".join(element(html, "verify-error").split()) if has(html, "verify-error") else ""


# Parsing what people type -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "HN-26E 0000123",
        "hn-26e 123",
        "HN26E0000123",
        "HN-26E/123",
        "01BLP0-001 HN-26E 0000123",
        " HN-26E-OOO123 ",
    ],
)
def test_series_and_number_in_any_spacing(typed):
    lookup = parse_lookup(typed, SERIES)
    assert lookup is not None and (lookup.kind, lookup.series, lookup.number) == ("number", "HN-26E", 123)


def test_qr_text_and_receipt_ids():
    rid = uuid.uuid4()
    link = parse_lookup(f"https://pay.example.vn/receipts/verify?id={rid}&sig=AbC-_9", SERIES)
    assert link is not None and (link.kind, link.receipt_id, link.signature) == ("link", rid, "AbC-_9")
    bare = parse_lookup(f"id={rid}&sig=xyz", SERIES)
    assert bare is not None and bare.kind == "link" and bare.signature == "xyz"
    by_id = parse_lookup(str(rid).upper(), SERIES)
    assert by_id is not None and (by_id.kind, by_id.receipt_id) == ("id", rid)


@pytest.mark.parametrize(
    "typed", ["HN-27E 12", "XHN-26E 12", "HN-26E", "HN-26E 12A", "hello", "id=nope&sig=x"]
)
def test_what_is_not_a_receipt_number(typed):
    assert parse_lookup(typed, SERIES) is None


def test_the_limiter_counts_per_address_and_forgets_after_a_minute():
    limiter = AddressLimiter()
    assert all(limiter.allow("a", now=100.0) for _ in range(LIMIT))
    assert not limiter.allow("a", now=100.5) and limiter.allow("b", now=100.5)
    assert limiter.allow("a", now=161.0)


# The verification form --------------------------------------------------------------------------------------


async def test_the_form_alone(client):
    resp = await client.get("/receipts/verify")
    html = await resp.text()
    assert resp.status == 200 and has(html, "verify-form") and has(html, "verify-photo-form")
    assert not has(html, "verdict") and not has(html, "verify-error")


async def test_a_typed_number_shows_the_receipts_key_fields(client, db_url, keys):
    [(pr, receipt), (_, second)] = await paid(db_url, keys, 2)
    for typed in ("HN-26E 0000001", "hn26e 1", str(receipt["id"])):
        resp = await client.get("/receipts/verify", params={"q": typed})
        html = await resp.text()
        assert resp.status == 200, typed
        assert 'data-result="valid"' in html and "Biên lai HỢP LỆ" in html
        assert element(html, "verdict-number") == "01BLP0-001 · HN-26E · 0000001"
        assert element(html, "verdict-amount") == "200.000 ₫"
        assert element(html, "verdict-fee") == "Phí cấp Phiếu lý lịch tư pháp"
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", element(html, "verdict-settled-at"))
        assert f'href="/receipts/{receipt["id"]}"' in html and pr["reference"] in html
    html = await (await client.get("/receipts/verify", params={"q": "HN-26E 2"})).text()
    assert f'href="/receipts/{second["id"]}"' in html


async def test_the_qr_text_pasted_verifies_like_the_link(client, db_url, keys):
    [(_, receipt)] = await paid(db_url, keys)
    out = await (await client.get(f"/api/v1/receipts/{receipt['id']}")).json()
    assert (out["series"], out["number"], out["template_code"]) == ("HN-26E", 1, "01BLP0-001")
    resp = await client.get("/receipts/verify", params={"q": out["verify_url"]})
    assert resp.status == 200 and 'data-result="valid"' in await resp.text()
    forged = out["verify_url"][:-4] + ("AAAA" if not out["verify_url"].endswith("AAAA") else "BBBB")
    resp = await client.get("/receipts/verify", params={"q": forged})
    html = await resp.text()
    assert resp.status == 200 and 'data-result="invalid"' in html and "200.000" not in html


def _png(text: str) -> bytes:
    image = qrcode.make(text, border=4, box_size=8).get_image().convert("RGB")
    canvas = Image.new("RGB", (image.width + 200, image.height + 300), "white")  # a photo with margins
    canvas.paste(image, (100, 150))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def test_a_photo_of_the_qr_is_decoded_on_the_server(client, db_url, keys):
    [(_, receipt)] = await paid(db_url, keys)
    out = await (await client.get(f"/api/v1/receipts/{receipt['id']}")).json()
    import aiohttp

    def form(data: bytes, name: str = "qr.jpg", ctype: str = "image/jpeg") -> aiohttp.FormData:
        f = aiohttp.FormData()
        f.add_field("file", data, filename=name, content_type=ctype)
        return f

    resp = await client.post("/receipts/verify", data=form(_png(out["verify_url"])))
    html = await resp.text()
    assert resp.status == 200 and 'data-result="valid"' in html, visible_error(html)
    assert element(html, "verdict-number") == "01BLP0-001 · HN-26E · 0000001"
    errors = []
    for data in (b"not an image", _png("https://example.com/something-else")):
        resp = await client.post("/receipts/verify", data=form(data))
        html = await resp.text()
        assert resp.status == 422 and not has(html, "verdict")
        errors.append(visible_error(html))
    assert errors[0].startswith("Không đọc được mã QR trong ảnh")
    assert not_in_catalogue(errors) == []


async def test_refusals_are_catalogue_sentences_never_500(client, db_url, keys):
    await paid(db_url, keys)
    cases = {
        "": 422,
        "   ": 422,
        "hello": 422,
        "HN-26E 999": 404,
        str(uuid.uuid4()): 404,
        f"https://x/receipts/verify?id={uuid.uuid4()}&sig=abc": 404,
        "HN-26E\u200b 1": 422,
        "<script>alert(1)</script>": 422,
    }
    texts = []
    for typed, status in cases.items():
        resp = await client.get("/receipts/verify", params={"q": typed})
        html = await resp.text()
        assert resp.status == status, typed
        assert resp.content_type == "text/html" and not has(html, "verdict"), typed
        assert "<script>alert" not in html
        texts.append(visible_error(html))
    assert all(texts) and not_in_catalogue(texts) == []
    english = await client.get("/receipts/verify", params={"q": "HN-26E 999"}, cookies={"lang": "en"})
    assert "There is no receipt with this number" in await english.text()


async def test_the_longest_lookup_in_the_widest_characters_reaches_the_page(client):
    """500 four-byte characters in q, with the longest id and signature, make a request line of about 9 KB
    percent-encoded: past aiohttp's default 8 KiB, whose parser would answer a plain-text 400 that no page
    or problem document explains. The page answers instead; a line far past any documented limit is still
    refused, and the server keeps serving."""
    q, longest = "\U0001f600" * 500, "\U0001f600" * 64
    resp = await client.get("/receipts/verify", params={"q": q, "id": longest, "sig": longest * 3})
    assert resp.status == 422 and resp.content_type == "text/html"
    assert visible_error(await resp.text())
    too_long = await client.get("/receipts/verify", params={"q": "x" * 40_000})
    assert too_long.status == 400
    assert (await client.get("/receipts/verify")).status == 200


async def test_an_old_receipt_shows_its_number_and_says_it_was_numbered_later(client, db_url, keys):
    """A receipt signed before migration 0020 (its body has no number) keeps verifying and shows the number
    on record, saying it is not part of the signed content."""
    await paid(db_url, keys)
    conn = await connect(db_url)
    try:
        other = await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
        await conn.execute(
            "UPDATE payment_requests SET status = 'paid', settled_at = now() WHERE id = $1", other["id"]
        )
        receipt_id = uuid.uuid4()
        body = json.loads(await conn.fetchval("SELECT body FROM receipts"))
        old = {
            k: v
            for k, v in body.items()
            if k
            in {
                "issuer",
                "reference",
                "kind",
                "fee_code",
                "purpose_vi",
                "purpose_en",
                "payer_reference",
                "fee_amount",
                "subsidy_amount",
                "subsidy_code",
                "amount_paid",
                "currency",
                "payee",
                "bank_transactions",
                "settled_at",
                "key_id",
                "algorithm",
            }
        }
        old |= {"receipt_id": str(receipt_id), "payment_request_id": str(other["id"])}
        text, signature = sign_receipt(keys, old)
        await conn.execute(
            """INSERT INTO receipts (id, payment_request_id, body, signature, key_id, series, number)
               VALUES ($1, $2, $3, $4, $5, 'HN-26E', 2)""",
            receipt_id,
            other["id"],
            text,
            signature,
            body["key_id"],
        )
    finally:
        await conn.close()
    html = await (await client.get(f"/receipts/{receipt_id}")).text()
    assert element(html, "receipt-number") == "0000002" and element(html, "series") == "HN-26E"
    assert (
        has(html, "numbered-later") and element(html, "legal-basis") == "Luật Phí và lệ phí số 97/2015/QH13"
    )
    assert element(html, "agency") == "Sở Tư pháp Hà Nội"
    resp = await client.get("/receipts/verify", params={"q": "HN-26E 0000002"})
    assert resp.status == 200 and 'data-result="valid"' in await resp.text()


async def test_the_receipt_page_carries_the_e_receipt_fields(client, db_url, keys):
    [(_, receipt)] = await paid(db_url, keys)
    html = await (await client.get(f"/receipts/{receipt['id']}")).text()
    assert element(html, "template-code") == "01BLP0-001"
    assert element(html, "series") == "HN-26E" and element(html, "receipt-number") == "0000001"
    assert element(html, "fee-name") == "Phí cấp Phiếu lý lịch tư pháp"
    assert element(html, "fee-amount") == "200.000 ₫" and element(html, "amount-paid") == "200.000 ₫"
    assert element(html, "legal-basis") == "Luật Phí và lệ phí số 97/2015/QH13"
    assert element(html, "agency") == "Sở Tư pháp Hà Nội"
    assert "Ủy ban nhân dân thành phố Hà Nội" in element(html, "issuer")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", element(html, "issued-at"))
    assert not has(html, "numbered-later")


# Find my payment --------------------------------------------------------------------------------------------


def test_references_are_normalised_like_people_type_them():
    ref = new_reference()
    spaced = " ".join([ref[:5].lower(), ref[5:9], ref[9:]])
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in ref)
    assert normalise_reference(ref) == ref
    assert normalise_reference(spaced) == ref
    assert normalise_reference(f"{ref[:5]}-{ref[5:]}") == ref
    assert normalise_reference(fullwidth) == ref
    assert normalise_reference(ref[2:]) == ref  # without CP
    if "0" in ref[2:] or "1" in ref[2:]:
        lookalike = ref[:2] + ref[2:].replace("0", "O").replace("1", "I")
        assert normalise_reference(lookalike) == ref
    assert normalise_reference(ref[:-1] + ("0" if ref[-1] != "0" else "1")) is None  # check symbol
    assert normalise_reference(ref + "\u200b") is None
    assert normalise_reference("") is None and normalise_reference("CP") is None


async def test_find_payment_goes_to_the_pay_page(client, db_url, keys):
    conn = await connect(db_url)
    try:
        pr = await issue_payment_request(
            conn,
            keys,
            NewRequest(kind="service_fee", fee_code="LLTP"),
            created_by="test",
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
    finally:
        await conn.close()
    ref = pr["reference"]
    for typed in (ref, ref.lower(), f" {ref[:5]} {ref[5:]} ", ref[2:]):
        resp = await client.get("/find-payment", params={"reference": typed}, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"/pay/{ref}", typed


async def test_find_payment_refusals_show_the_form_with_a_catalogue_sentence(client):
    unknown = new_reference()
    cases = {"": 422, "xyz": 422, unknown[:-1] + ("0" if unknown[-1] != "0" else "1"): 422, unknown: 404}
    texts = []
    for typed, status in cases.items():
        resp = await client.get("/find-payment", params={"reference": typed}, allow_redirects=False)
        html = await resp.text()
        assert resp.status == status and has(html, "find-payment-form"), typed
        texts.append(" ".join(element(html, "find-payment-error").split()))
    assert texts[-1].startswith("Không tìm thấy khoản thanh toán")
    assert not_in_catalogue(texts) == []
    bare = await client.get("/find-payment")
    assert bare.status == 200 and not has(await bare.text(), "find-payment-error")


async def test_find_payment_is_limited_per_address(client):
    statuses = []
    for _ in range(LIMIT + 1):
        resp = await client.get("/find-payment", params={"reference": new_reference()}, allow_redirects=False)
        statuses.append(resp.status)
    assert statuses[:LIMIT] == [404] * LIMIT and statuses[LIMIT] == 429
    html = await resp.text()
    assert not_in_catalogue([element(html, "find-payment-error")]) == []


async def test_the_public_home_has_the_find_my_payment_form(client):
    html = await (await client.get("/")).text()
    assert has(html, "find-payment-form") and "Tìm khoản thanh toán của tôi" in html
    assert 'action="/find-payment"' in html and 'method="get"' in html and 'name="reference"' in html


async def test_the_receipt_shows_the_tax_code_when_the_series_has_one(client, db_url, keys):
    [(_, before)] = await paid(db_url, keys)
    conn = await connect(db_url)
    try:
        await conn.execute("UPDATE receipt_series SET agency_tax_code = '0101234567-001' WHERE active")
    finally:
        await conn.close()
    [(_, after)] = await paid(db_url, keys)
    html = await (await client.get(f"/receipts/{after['id']}")).text()
    assert element(html, "tax-code") == "0101234567-001"
    # A receipt signed before the tax code was recorded keeps what it was signed with: none.
    assert not has(await (await client.get(f"/receipts/{before['id']}")).text(), "tax-code")
