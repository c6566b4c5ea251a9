"""The receipt pages: a printable receipt with a QR that links to its verification, and the verification page
that QR opens (valid / not valid). All public; no login."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web
from markupsafe import Markup
from pydantic import BaseModel, Field

from core.api import PUBLIC, Routes
from core.appkeys import SETTINGS
from core.i18n import request_language
from core.pages import render_html
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments.qr_images import qr_svg_inline
from payments.receipt_api import fetch_receipt, is_authentic, receipt_id_of, verify_url

routes = Routes(tags=("pay-pages",))


class VerifyQuery(BaseModel):
    id: str | None = Field(default=None, max_length=64, description="Receipt id")
    sig: str | None = Field(default=None, max_length=200, description="The receipt's signature")


def _receipt_view(receipt: asyncpg.Record, lang: str) -> dict[str, Any]:
    body = json.loads(receipt["body"])
    return {
        **body,
        "id": str(receipt["id"]),
        "purpose": body["purpose_en"] if lang == "en" else body["purpose_vi"],
        "settled_at": datetime.fromisoformat(body["settled_at"]),
        "transactions": [
            {**t, "booked_at": datetime.fromisoformat(t["booked_at"])} for t in body["bank_transactions"]
        ],
    }


def _unknown(request: web.Request) -> web.Response:
    return render_html(request, "payments/receipt_verify.html", status=404, result="unknown", receipt=None)


@routes.get(
    "/receipts/verify",
    access=PUBLIC,
    summary="Verification page for a receipt's QR code (valid / not valid)",
    query=VerifyQuery,
    produces="text/html",
)
async def verify_receipt_page(request: web.Request, query: VerifyQuery) -> web.Response:
    receipt = await fetch_receipt(request, receipt_id_of(query.id))
    if receipt is None:
        return _unknown(request)
    valid = is_authentic(request, receipt, query.sig)
    return render_html(
        request,
        "payments/receipt_verify.html",
        result="valid" if valid else "invalid",
        receipt=_receipt_view(receipt, request_language(request)) if valid else None,
        receipt_id=str(receipt["id"]),
    )


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
