"""What a citizen meets first: the pay page with its QR and live status (server-sent events), and the QR
images. All public; no login. Receipts are in receipt_api.py and receipt_pages.py."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field

from core.api import PUBLIC, Routes
from core.appkeys import POOL, SETTINGS
from core.errors import NotFound
from core.i18n import request_language, translate
from core.pages import render_html
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments.live_status import STATUS_HUB, TERMINAL, HubClosed, StatusSnapshot, read_snapshots
from payments.qr_images import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, qr_etag, qr_png, qr_svg
from payments.reference import is_valid_reference
from payments.routes import parse_request_id
from payments.vietqr import VietQR, build_payload

routes = Routes(tags=("pay-pages",))
HEARTBEAT_S = 15.0
IMMUTABLE = "public, max-age=31536000, immutable"


def _purpose(row: Any, lang: str) -> str:
    return row["purpose_en"] if lang == "en" else row["purpose_vi"]


# QR images ------------------------------------------------------------------------------------------------


class QrQuery(BaseModel):
    size: int = Field(
        default=DEFAULT_SIZE, ge=MIN_SIZE, le=MAX_SIZE, description="Width and height in pixels"
    )


async def _qr_payload(request: web.Request) -> tuple[str, str]:
    row = await request.app[POOL].fetchrow(
        "SELECT reference, qr_payload FROM payment_requests WHERE id = $1", parse_request_id(request)
    )
    # A fully subsidised request has nothing to pay, hence no QR.
    if row is None or row["qr_payload"] is None:
        raise NotFound("no QR code for this payment request", field="id")
    return row["reference"], row["qr_payload"]


def _immutable_image(
    request: web.Request, etag: str, render, content_type: str, filename: str
) -> web.Response:
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    # If-None-Match compares weakly (RFC 9110 §13.1.2); "*" matches any current representation.
    if any(tag.value == "*" or f'"{tag.value}"' == etag for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return web.Response(body=render(), content_type=content_type, headers=headers)


@routes.get(
    "/api/v1/payment-requests/{id}/qr.png",
    access=PUBLIC,
    summary="VietQR code as PNG (immutable; strong ETag, If-None-Match → 304)",
    query=QrQuery,
    produces="image/png",
)
async def payment_request_qr_png(request: web.Request, query: QrQuery) -> web.Response:
    reference, payload = await _qr_payload(request)
    return _immutable_image(
        request,
        qr_etag(payload, f"png:{query.size}"),
        lambda: qr_png(payload, query.size),
        "image/png",
        f"{reference}.png",
    )


@routes.get(
    "/api/v1/payment-requests/{id}/qr.svg",
    access=PUBLIC,
    summary="VietQR code as SVG (immutable; strong ETag, If-None-Match → 304)",
    produces="image/svg+xml",
)
async def payment_request_qr_svg(request: web.Request) -> web.Response:
    reference, payload = await _qr_payload(request)
    return _immutable_image(
        request, qr_etag(payload, "svg"), lambda: qr_svg(payload), "image/svg+xml", f"{reference}.svg"
    )


# Pay page -------------------------------------------------------------------------------------------------

_PAGE_SQL = """
SELECT pr.*, b.short_name AS bank_name, b.name AS bank_full_name, r.id AS receipt_id,
       sp.name_vi AS subsidy_name_vi, sp.name_en AS subsidy_name_en
  FROM payment_requests pr
  JOIN banks b ON b.bin = pr.collection_bin
  LEFT JOIN receipts r ON r.payment_request_id = pr.id
  LEFT JOIN subsidy_programmes sp ON sp.code = pr.subsidy_code
 WHERE pr.reference = $1"""


def _reference(request: web.Request) -> str | None:
    raw = request.match_info["reference"].strip().upper()
    return raw if is_valid_reference(raw) else None


def _remaining_qr(row: asyncpg.Record, remaining: int) -> str:
    """After a partial payment the stored QR (full amount) would overpay: a QR for what is left, inline."""
    payload = build_payload(
        VietQR(
            bin=row["collection_bin"],
            account=row["collection_account"],
            amount=remaining,
            purpose=row["reference"],
        )
    )
    return "data:image/png;base64," + base64.b64encode(qr_png(payload, DEFAULT_SIZE)).decode()


@routes.get(
    "/pay/{reference}", access=PUBLIC, summary="Citizen pay page", in_openapi=False, produces="text/html"
)
async def pay_page(request: web.Request) -> web.Response:
    reference = _reference(request)
    row = await request.app[POOL].fetchrow(_PAGE_SQL, reference) if reference else None
    if row is None:
        return render_html(request, "payments/pay.html", status=404, state="unknown", reference=reference)
    lang = request_language(request)
    now = datetime.now(UTC)
    snapshot = StatusSnapshot.from_row(row)
    state = snapshot.shown_status(now)
    remaining = max(row["amount_due"] - row["amount_received"], 0)
    partial = state == "pending" and row["amount_received"] > 0
    live = {
        "events": f"/pay/{row['reference']}/events",
        "state": snapshot.event(now),
        "labels": {s: translate(f"pay.status.{s}", lang) for s in (*TERMINAL, "pending", "partial")},
    }
    resp = render_html(
        request,
        "payments/pay.html",
        state=state,
        pr=row,
        reference=row["reference"],
        purpose=_purpose(row, lang),
        subsidy_name=(row["subsidy_name_en"] if lang == "en" else row["subsidy_name_vi"]),
        partial=partial,
        subsidised=row["amount_due"] == 0,
        remaining=remaining,
        qr_png_url=f"/api/v1/payment-requests/{row['id']}/qr.png?size=",
        remaining_qr_src=_remaining_qr(row, remaining) if partial else None,
        expires_in_s=max(int((row["expires_at"] - now).total_seconds()), 0),
        live=live,
        sim_pay_url=_simulator_link(request, row) if state == "pending" and not partial else None,
    )
    resp.headers["Cache-Control"] = "no-cache"  # the status changes; never show a stale copy
    return resp


def _simulator_link(request: web.Request, row) -> str | None:
    """Demo only: the simulated bank's "banking app" page for this QR, which comes back here after paying."""
    settings = request.app[SETTINGS]
    if not settings.banksim_url or not row["qr_payload"]:
        return None
    back = f"{settings.public_base_url}/pay/{row['reference']}"
    payload = quote(row["qr_payload"], safe="")
    return f"{settings.banksim_url}/sim/pay?payload={payload}&return={quote(back, safe='')}"


def _sse(event: str, data: dict, event_id: int) -> bytes:
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@routes.get(
    "/pay/{reference}/events",
    access=PUBLIC,
    summary="Live status of a payment request (server-sent events: `status` now and on every change, "
    "a comment every 15 s, ends after paid/expired/cancelled)",
    produces="text/event-stream",
)
async def pay_events(request: web.Request) -> web.StreamResponse:
    reference = _reference(request)
    hub = request.app[STATUS_HUB]
    if reference is None:
        raise NotFound("no payment request with this reference", field="reference")
    try:
        subscription = hub.subscribe(reference)
    except HubClosed:
        raise web.HTTPServiceUnavailable(headers={"Retry-After": "1"}) from None
    with subscription as sub:
        # Subscribed before reading, so a change between the read and now still reaches us.
        snapshot = (await read_snapshots(request.app[POOL], [reference])).get(reference)
        if snapshot is None:
            raise NotFound("no payment request with this reference", field="reference")
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache, no-store",
                "X-Accel-Buffering": "no",  # proxies must not buffer the stream
            }
        )
        await resp.prepare(request)
        sent: dict | None = None
        event_id = 0
        last_write = time.monotonic()
        try:
            await resp.write(b"retry: 3000\n\n")
            while True:
                now = datetime.now(UTC)
                event = snapshot.event(now)
                if event != sent:
                    event_id += 1
                    await resp.write(_sse("status", event, event_id))
                    sent, last_write = event, time.monotonic()
                if event["status"] in TERMINAL:
                    break
                wait = HEARTBEAT_S - (time.monotonic() - last_write)
                if snapshot.status == "pending":  # wake at expiry to show it
                    wait = min(wait, (snapshot.expires_at - now).total_seconds() + 0.05)
                try:
                    fresh = await sub.next(wait)
                except HubClosed:
                    break
                if fresh is not None:
                    snapshot = fresh
                elif time.monotonic() - last_write >= HEARTBEAT_S:
                    await resp.write(b": heartbeat\n\n")
                    last_write = time.monotonic()
            await resp.write_eof()
        except ConnectionError:  # the page went away
            pass
    return resp
