"""The receipt pages: a printable receipt with a QR that links to its verification, and the verification page
that QR opens (valid / not valid), which is also a form: a receipt's series and number (or its id), the text a
QR reader shows for the receipt's QR code, or a photo of that QR code (decoded here with zxing-cpp, a runtime
dependency). All public; no login; a person only ever reads catalogue sentences."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
from aiohttp import web
from markupsafe import Markup
from pydantic import BaseModel, Field

from core.api import PUBLIC, Routes
from core.appkeys import SETTINGS
from core.errors import PayloadTooLarge, Problem
from core.i18n import request_language
from core.pages import render_html
from core.text import InvisibleCharacter, clean_text
from core.uploads import read_file_upload
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments import receipt_messages as _receipt_messages  # noqa: F401  (the e-receipt's texts)
from payments.qr_images import qr_svg_inline
from payments.receipt_api import (
    fetch_receipt,
    fetch_receipt_by_number,
    is_authentic,
    is_on_record,
    receipt_id_of,
    receipt_series,
    verify_url,
)
from payments.receipt_rate_limit import allow_lookup
from payments.receipts import PARKING_LEGAL_BASIS, receipt_number_text

routes = Routes(tags=("pay-pages",))

# A pasted verify link is ~200 characters; more is not a receipt. Kept so that even 4-byte characters, each
# percent-encoded to 12 bytes, keep the request line under the server's 8,190-byte limit.
MAX_QUERY = 500
MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


class VerifyQuery(BaseModel):
    id: str | None = Field(default=None, max_length=64, description="Receipt id (from the receipt's QR code)")
    sig: str | None = Field(default=None, max_length=200, description="The receipt's signature (QR code)")
    q: str | None = Field(
        default=None,
        max_length=MAX_QUERY,
        description="What a person typed: series and number (HN-26E 0000123), a receipt id, or a QR's text",
    )


# What a person typed ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    kind: str  # "link" (id + signature, as the QR holds them) | "id" | "number"
    receipt_id: uuid.UUID | None = None
    signature: str | None = None
    series: str | None = None
    number: int | None = None


def parse_lookup(text: str, series: list[tuple[str, str]]) -> Lookup | None:
    """Read a typed or scanned receipt reference. `series` is (series, template code) of every series. Accepts
    the QR's verify link (or just its query), a receipt id, or a series and number in any spacing or case,
    optionally after the template code: "HN-26E 0000123", "hn26e/123", "01BLP0-001 HN-26E 123"."""
    text = text.strip()
    if "id=" in text:
        params = parse_qs(text.split("?", 1)[1] if "?" in text else text)
        ids, sigs = params.get("id"), params.get("sig")
        if ids:
            rid = receipt_id_of(ids[0].strip())
            if rid is None:
                return None
            return Lookup("link", receipt_id=rid, signature=sigs[0].strip() if sigs else None)
    rid = receipt_id_of(text) if len(text) <= 64 else None
    if rid is not None:
        return Lookup("id", receipt_id=rid)
    squeezed = _NOT_ALNUM.sub("", text.upper())
    for code, template in series:
        key = _NOT_ALNUM.sub("", code)
        for prefix in ("", _NOT_ALNUM.sub("", template)):
            if squeezed.startswith(prefix + key):
                digits = squeezed[len(prefix + key) :].translate(str.maketrans("OI", "01"))
                if digits.isascii() and digits.isdigit() and 0 < int(digits) < 10**12:
                    return Lookup("number", series=code, number=int(digits))
    return None


def decode_qr_photo(data: bytes) -> str | None:
    """The text of the one QR code in a photo, or None (not an image, too large, no QR or several)."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            if image.width * image.height > MAX_PHOTO_PIXELS:
                return None
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError):
        return None
    texts = {
        c.text for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode and c.text
    }
    return texts.pop() if len(texts) == 1 else None


# Views ------------------------------------------------------------------------------------------------------


def _receipt_view(receipt: asyncpg.Record, lang: str) -> dict[str, Any]:
    """The receipt as the pages show it. Receipts signed before migration 0020 lack the e-receipt fields in
    their body: their series and number come from the record, the fee's details from today's catalogue."""
    body = json.loads(receipt["body"])
    agency = body.get("collecting_agency") or {}
    issued = body.get("issued_at")
    return {
        **body,
        "id": str(receipt["id"]),
        "purpose": body["purpose_en"] if lang == "en" else body["purpose_vi"],
        "settled_at": datetime.fromisoformat(body["settled_at"]),
        "transactions": [
            {**t, "booked_at": datetime.fromisoformat(t["booked_at"])} for t in body["bank_transactions"]
        ],
        "series": receipt["series"],
        "number": receipt["number"],
        "number_text": receipt_number_text(receipt["number"]),
        "template_code": body.get("template_code") or receipt["template_code"],
        "numbered_later": "number" not in body,
        "issued_at": datetime.fromisoformat(issued) if issued else receipt["issued_at"],
        "payer_name": body.get("payer_name"),
        "fee_name": (
            body["purpose_en"]
            if lang == "en"
            else body.get("fee_name") or receipt["fee_name_vi"] or body["purpose_vi"]
        ),
        "legal_basis": body.get("legal_basis") or receipt["fee_legal_basis"] or PARKING_LEGAL_BASIS,
        "agency_name": agency.get("name") or receipt["fee_agency"] or receipt["series_agency"],
        "issuer_name": agency.get("issuer") or receipt["series_agency"],
        "tax_code": agency.get("tax_code") if "number" in body else receipt["agency_tax_code"],
    }


def _verify_page(
    request: web.Request,
    *,
    status: int = 200,
    result: str | None = None,
    receipt: asyncpg.Record | None = None,
    on_record: bool = False,
    error: str | None = None,
    q: str = "",
) -> web.Response:
    return render_html(
        request,
        "payments/receipt_verify.html",
        status=status,
        result=result,
        receipt=_receipt_view(receipt, request_language(request)) if receipt is not None else None,
        on_record=on_record,
        error=error,
        q=q,
    )


def _unknown(request: web.Request) -> web.Response:
    return _verify_page(request, status=404, result="unknown")


async def _answer_lookup(request: web.Request, text: str, *, counted: bool = False) -> web.Response:
    """The verdict for what a person typed or a photo held, with the form again below it. `counted`: the
    caller already counted this look-up against the address's limit."""
    try:
        text = clean_text(text)
    except InvisibleCharacter:
        return _verify_page(request, status=422, error="receipts.verify.unrecognised")
    shown = text[:200]
    if not text:
        return _verify_page(request, status=422, error="receipts.verify.empty")
    if not counted and not allow_lookup(request, "verify"):
        return _verify_page(request, status=429, error="receipts.verify.too_many", q=shown)
    series = await receipt_series(request)
    lookup = parse_lookup(text, series)
    if lookup is None:
        return _verify_page(request, status=422, error="receipts.verify.unrecognised", q=shown)
    if lookup.kind == "number":
        assert lookup.series is not None and lookup.number is not None
        receipt = await fetch_receipt_by_number(request, lookup.series, lookup.number)
    else:
        receipt = await fetch_receipt(request, lookup.receipt_id)
    if receipt is None:
        return _verify_page(request, status=404, error="receipts.verify.not_found", q=shown)
    if lookup.kind == "link":
        valid = is_authentic(request, receipt, lookup.signature)
        return _verify_page(
            request, result="valid" if valid else "invalid", receipt=receipt if valid else None, q=shown
        )
    valid = is_on_record(request, receipt)
    return _verify_page(
        request,
        result="valid" if valid else "invalid",
        receipt=receipt if valid else None,
        on_record=valid,
        q=shown,
    )


# Routes -----------------------------------------------------------------------------------------------------


@routes.get(
    "/receipts/verify",
    access=PUBLIC,
    summary="Verify a receipt: its QR code's link (id + sig), or a typed number / QR text (q); a form",
    query=VerifyQuery,
    produces="text/html",
)
async def verify_receipt_page(request: web.Request, query: VerifyQuery) -> web.Response:
    if query.q is not None:
        return await _answer_lookup(request, query.q)
    if query.id is None and query.sig is None:
        return _verify_page(request)  # the form alone
    receipt = await fetch_receipt(request, receipt_id_of(query.id))
    if receipt is None:
        return _unknown(request)
    valid = is_authentic(request, receipt, query.sig)
    return _verify_page(request, result="valid" if valid else "invalid", receipt=receipt if valid else None)


@routes.post(
    "/receipts/verify",
    access=PUBLIC,
    summary="Verify a receipt from a photo of its QR code (multipart form, field `file`)",
    in_openapi=False,
    produces="text/html",
)
async def verify_receipt_photo(request: web.Request) -> web.Response:
    def too_large() -> PayloadTooLarge:
        return PayloadTooLarge(f"a photo may be at most {MAX_PHOTO_BYTES} bytes")

    try:
        upload = await read_file_upload(
            request, limit=MAX_PHOTO_BYTES, too_large=too_large, raw_types=PHOTO_TYPES
        )
    except PayloadTooLarge:
        return _verify_page(request, status=413, error="receipts.verify.photo_too_large")
    except Problem:
        return _verify_page(request, status=422, error="receipts.verify.photo_unreadable")
    if not allow_lookup(request, "verify"):
        return _verify_page(request, status=429, error="receipts.verify.too_many")
    text = await asyncio.to_thread(decode_qr_photo, upload.data)
    if text is None:
        return _verify_page(request, status=422, error="receipts.verify.photo_unreadable")
    return await _answer_lookup(request, text, counted=True)


@routes.get(
    "/receipts/{id}", access=PUBLIC, summary="Printable receipt", in_openapi=False, produces="text/html"
)
async def receipt_page(request: web.Request) -> web.Response:
    receipt = await fetch_receipt(request, receipt_id_of(request.match_info["id"]))
    if receipt is None:
        return _unknown(request)
    link = verify_url(request.app[SETTINGS].public_base_url, receipt)
    return render_html(
        request,
        "payments/receipt.html",
        receipt=_receipt_view(receipt, request_language(request)),
        body_text=receipt["body"],
        signature=receipt["signature"],
        key_id=receipt["key_id"],
        verify_link=link,
        # qrcode's SVG is path data only: the URL is encoded in modules, never copied in as text.
        verify_qr=Markup(qr_svg_inline(link)),  # noqa: S704
    )
