"""What a citizen meets first: the pay page with its QR and live status (server-sent events), and the QR
images. All public; no login. Receipts are in receipt_api.py and receipt_pages.py."""

from __future__ import annotations

import dataclasses
import inspect
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
from core.errors import Conflict, NotFound
from core.i18n import request_language, translate
from core.money import LOCAL_TZ
from core.pages import render_html
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments import pay_messages as _pay_messages  # noqa: F401  (the pay page's issue-12 texts)
from payments.bank_apps import deeplink, list_apps
from payments.live_status import STATUS_HUB, TERMINAL, HubClosed, StatusSnapshot, read_snapshots
from payments.qr_images import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, qr_etag, qr_svg, render_qr_png
from payments.reference import is_valid_reference
from payments.routes import parse_request_id
from payments.vietqr import build_payload, parse_payload

routes = Routes(tags=("pay-pages",))
HEARTBEAT_S = 15.0
SLOW_AFTER_S = 20  # waiting longer than this, the page says the bank is still processing
POLL_EVERY_S = 4  # while the live connection is down, the page asks for the status this often
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


async def _immutable_image(
    request: web.Request, etag: str, render, content_type: str, filename: str
) -> web.Response:
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    # If-None-Match compares weakly (RFC 9110 §13.1.2); "*" matches any current representation.
    if any(tag.value == "*" or f'"{tag.value}"' == etag for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    body = render()
    if inspect.isawaitable(body):  # PNGs render in a process pool (payments/qr_images.py)
        body = await body
    return web.Response(body=body, content_type=content_type, headers=headers)


@routes.get(
    "/api/v1/payment-requests/{id}/qr.png",
    access=PUBLIC,
    summary="VietQR code as PNG (immutable; strong ETag, If-None-Match → 304)",
    query=QrQuery,
    produces="image/png",
)
async def payment_request_qr_png(request: web.Request, query: QrQuery) -> web.Response:
    reference, payload = await _qr_payload(request)
    return await _immutable_image(
        request,
        qr_etag(payload, f"png:{query.size}"),
        lambda: render_qr_png(payload, query.size),
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
    return await _immutable_image(
        request, qr_etag(payload, "svg"), lambda: qr_svg(payload), "image/svg+xml", f"{reference}.svg"
    )


class RemainingQrQuery(QrQuery):
    amount: int = Field(ge=1, description="The amount still due (đồng); must be what is due now")


def remaining_payload(qr_payload: str, amount: int) -> str:
    """The request's own VietQR payload with the amount still due in place of the full amount."""
    return build_payload(dataclasses.replace(parse_payload(qr_payload), amount=amount))


@routes.get(
    "/api/v1/payment-requests/{id}/remaining-qr.png",
    access=PUBLIC,
    summary="VietQR code (PNG) for what is still due after a partial payment; `amount` must be the amount "
    "due now (409 otherwise). Immutable: a new remainder is a new URL",
    query=RemainingQrQuery,
    produces="image/png",
)
async def payment_request_remaining_qr_png(request: web.Request, query: RemainingQrQuery) -> web.Response:
    row = await request.app[POOL].fetchrow(
        "SELECT reference, qr_payload, status, amount_due, amount_received FROM payment_requests "
        "WHERE id = $1",
        parse_request_id(request),
    )
    if row is None or row["qr_payload"] is None:
        raise NotFound("no QR code for this payment request", field="id")
    due_now = row["amount_due"] - row["amount_received"]
    if row["status"] != "pending" or query.amount != due_now:
        raise Conflict(
            "amount is not what this request still owes", field="amount", message="pay.remaining_changed"
        )
    payload = remaining_payload(row["qr_payload"], query.amount)
    return await _immutable_image(
        request,
        qr_etag(payload, f"png:{query.size}"),
        lambda: render_qr_png(payload, query.size),
        "image/png",
        f"{row['reference']}-{query.amount}.png",
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


def _qr_urls(row: asyncpg.Record, due_now: int, partial: bool) -> tuple[str, str]:
    """(the QR image URL without its size, the remainder QR's URL without its amount) for the page."""
    remaining_base = f"/api/v1/payment-requests/{row['id']}/remaining-qr.png?amount="
    if partial:
        return f"{remaining_base}{due_now}&size=", remaining_base
    return f"/api/v1/payment-requests/{row['id']}/qr.png?size=", remaining_base


def _app_links(row: asyncpg.Record, apps: list[dict], due_now: int, return_url: str) -> list[dict]:
    return [
        {
            "app_id": app["app_id"],
            "name": app["display_name"],
            "href": deeplink(
                app["app_id"],
                account=row["collection_account"],
                bank=row["collection_bin"],
                amount=due_now,
                note=row["reference"],
                name=row["collection_holder"],
                return_url=return_url,
            ),
        }
        for app in apps
    ]


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
    pending = state == "pending" and row["qr_payload"] is not None and remaining > 0
    qr_url, remaining_qr_base = _qr_urls(row, remaining, partial)
    return_url = f"{request.app[SETTINGS].public_base_url}/pay/{row['reference']}"
    apps = _app_links(row, await list_apps(request.app[POOL], enabled_only=True), remaining, return_url)
    live = {
        "events": f"/pay/{row['reference']}/events",
        "status_url": f"/pay/{row['reference']}/status",
        "reference": row["reference"],
        "state": snapshot.event(now),
        "qr_amount": remaining if pending else None,
        "remaining_qr_base": remaining_qr_base,
        "slow_after_s": SLOW_AFTER_S,
        "poll_every_s": POLL_EVERY_S,
        "labels": {s: translate(f"pay.status.{s}", lang) for s in (*TERMINAL, "pending", "partial")},
    }
    texts = {
        k: translate(f"pay.{k}", lang)
        for k in ("copy", "amount_paid", "amount", "amount_remaining", "partial_headline", "qr_alt")
    } | {"copied": translate("pay.copy.done", lang), "copy_failed": translate("pay.copy.failed", lang)}
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
        qr_png_url=qr_url,
        apps=apps if pending else [],
        expires_in_s=max(int((row["expires_at"] - now).total_seconds()), 0),
        qr_valid_until=row["expires_at"].astimezone(LOCAL_TZ).strftime("%H:%M %d/%m/%Y"),
        live=live,
        texts=texts,
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


@routes.get(
    "/pay/{reference}/status",
    access=PUBLIC,
    summary="Status of a payment request as one JSON object (the `status` event of /events): what an open "
    "pay page asks while its live connection is down",
)
async def pay_status(request: web.Request) -> web.Response:
    reference = _reference(request)
    snapshot = (await read_snapshots(request.app[POOL], [reference])).get(reference) if reference else None
    if snapshot is None:
        raise NotFound("no payment request with this reference", field="reference")
    return web.json_response(snapshot.event(datetime.now(UTC)), headers={"Cache-Control": "no-store"})


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
