"""What a citizen meets: the pay page with its QR and live status, the QR images, and signed receipts that
anyone can check (page, JSON, public key, verification page and API). All public; no login."""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import asyncpg
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field

from core.api import PUBLIC, Routes
from core.appkeys import KEYS, POOL, SETTINGS
from core.errors import NotFound
from core.i18n import register_messages, request_language, translate
from core.pages import render_html
from payments.live_status import STATUS_HUB, TERMINAL, HubClosed, StatusSnapshot, read_snapshots
from payments.qr_images import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, qr_etag, qr_png, qr_svg, qr_svg_inline
from payments.receipts import ALGORITHM, key_id, verify_receipt_signature
from payments.reference import is_valid_reference
from payments.routes import parse_request_id
from payments.vietqr import VietQR, build_payload

routes = Routes(tags=("pay-pages",))
HEARTBEAT_S = 15.0
IMMUTABLE = "public, max-age=31536000, immutable"

register_messages(
    {
        "pay.title": ("Thanh toán", "Payment"),
        "pay.amount": ("Số tiền cần thanh toán", "Amount to pay"),
        "pay.amount_paid": ("Số tiền đã thanh toán", "Amount paid"),
        "pay.details": ("Thông tin", "Details"),
        "pay.payee": ("Đơn vị thụ hưởng", "Payee"),
        "pay.reference": ("Mã thanh toán", "Payment reference"),
        "pay.scan": (
            "Quét mã bằng ứng dụng ngân hàng bất kỳ",
            "Scan with any Vietnamese banking app",
        ),
        "pay.qr_alt": ("Mã VietQR để thanh toán {amount}", "VietQR code to pay {amount}"),
        "pay.download_qr": ("Tải mã QR", "Download the QR code"),
        "pay.manual": ("Hoặc chuyển khoản thủ công", "Or transfer by hand"),
        "pay.bank": ("Ngân hàng", "Bank"),
        "pay.account": ("Số tài khoản", "Account number"),
        "pay.holder": ("Chủ tài khoản", "Account holder"),
        "pay.transfer_amount": ("Số tiền", "Amount"),
        "pay.note": ("Nội dung chuyển khoản", "Transfer note"),
        "pay.note_hint": (
            "Ghi đúng mã này trong nội dung chuyển khoản để hệ thống tự ghi nhận.",
            "Type exactly this reference in the transfer note so the payment is matched automatically.",
        ),
        "pay.with_simulator": (
            "Thanh toán bằng ngân hàng mô phỏng (SIMULATED – không phải tiền thật)",
            "Pay with the simulated bank (SIMULATED – no real money)",
        ),
        "pay.copy": ("Sao chép", "Copy"),
        "pay.copied": ("Đã sao chép", "Copied"),
        "pay.expires_in": ("Hết hạn sau", "Expires in"),
        "pay.expires_at": ("Hạn thanh toán: {time} (giờ Hà Nội)", "Pay by {time} (Hà Nội time)"),
        "pay.status.pending": ("Đang chờ thanh toán", "Waiting for payment"),
        "pay.status.partial": ("Đã nhận một phần", "Partly paid"),
        "pay.status.paid": ("Đã thanh toán", "Paid"),
        "pay.status.expired": ("Đã hết hạn", "Expired"),
        "pay.status.cancelled": ("Đã hủy", "Cancelled"),
        "pay.received": ("Đã nhận", "Received"),
        "pay.remaining": ("Còn phải trả", "Still to pay"),
        "pay.partial_hint": (
            "Ngân hàng mới chuyển một phần. Mã QR dưới đây là cho số tiền còn lại.",
            "Only part of the amount has arrived. The QR code below is for the rest.",
        ),
        "pay.partial_reload": ("Tải lại để lấy mã QR cho số còn lại", "Reload for a QR code for the rest"),
        "pay.paid_hint": (
            "Cảm ơn bạn. Khoản thanh toán đã được ghi nhận.",
            "Thank you. Your payment has been received.",
        ),
        "pay.receipt": ("Xem biên lai điện tử", "View the e-receipt"),
        "pay.subsidised": (
            "Khoản phí này do chương trình của thành phố chi trả",
            "This fee was paid by the city's programme",
        ),
        "pay.subsidised_hint": ("Bạn không cần chuyển tiền.", "You do not need to transfer anything."),
        "pay.fee": ("Mức phí", "Fee"),
        "pay.subsidy": ("Thành phố hỗ trợ", "Paid by the city"),
        "pay.expired_hint": (
            "Yêu cầu thanh toán này đã hết hạn. Xin đừng chuyển tiền; hãy đề nghị một yêu cầu mới "
            "tại nơi bạn nộp hồ sơ.",
            "This payment request has expired. Please do not transfer money; ask for a new request "
            "where you applied.",
        ),
        "pay.cancelled_hint": (
            "Yêu cầu thanh toán này đã bị hủy. Xin đừng chuyển tiền.",
            "This payment request was cancelled. Please do not transfer money.",
        ),
        "pay.refund_hint": (
            "Số tiền {amount} đã nhận sẽ được hoàn lại.",
            "The {amount} already received will be refunded.",
        ),
        "pay.unknown": ("Không tìm thấy yêu cầu thanh toán", "Payment request not found"),
        "pay.unknown_hint": (
            "Vui lòng kiểm tra lại đường dẫn hoặc mã thanh toán bạn nhận được.",
            "Please check the link or the reference you were given.",
        ),
        "pay.live": (
            "Trang tự cập nhật khi tiền đến, không cần tải lại.",
            "This page updates itself when the money arrives; no need to reload.",
        ),
        "receipt.title": ("Biên lai thanh toán điện tử", "Electronic payment receipt"),
        "receipt.number": ("Số biên lai", "Receipt number"),
        "receipt.issuer": ("Đơn vị phát hành", "Issued by"),
        "receipt.reference": ("Mã thanh toán", "Payment reference"),
        "receipt.purpose": ("Nội dung", "Purpose"),
        "receipt.payer_reference": ("Mã hồ sơ", "Case reference"),
        "receipt.fee": ("Mức phí", "Fee"),
        "receipt.subsidy": ("Thành phố hỗ trợ", "Paid by the city"),
        "receipt.paid": ("Số tiền đã thanh toán", "Amount paid"),
        "receipt.payee": ("Đơn vị thụ hưởng", "Payee"),
        "receipt.settled_at": ("Thời điểm thanh toán (giờ Hà Nội)", "Paid at (Hà Nội time)"),
        "receipt.transactions": ("Giao dịch ngân hàng", "Bank transactions"),
        "receipt.txn_id": ("Mã giao dịch", "Transaction id"),
        "receipt.txn_time": ("Thời gian", "Time"),
        "receipt.txn_amount": ("Số tiền", "Amount"),
        "receipt.no_transactions": (
            "Không có — khoản phí do chương trình của thành phố chi trả.",
            "None — the fee was paid by the city's programme.",
        ),
        "receipt.scan_to_verify": ("Quét mã để kiểm tra biên lai", "Scan to verify this receipt"),
        "receipt.signed_by": (
            "Ký số Ed25519 bằng khóa của thành phố, mã khóa {key_id}",
            "Signed with the city's Ed25519 key, key id {key_id}",
        ),
        "receipt.print": ("In biên lai", "Print"),
        "receipt.signed_data": ("Dữ liệu đã ký (để tự kiểm tra)", "Signed data (to check it yourself)"),
        "receipt.body": ("Nội dung đã ký", "Signed text"),
        "receipt.signature": ("Chữ ký (base64url)", "Signature (base64url)"),
        "receipt.public_key": ("Khóa công khai của thành phố", "The city's public key"),
        "receipt.verify_title": ("Kiểm tra biên lai", "Verify a receipt"),
        "receipt.valid": ("Biên lai HỢP LỆ", "This receipt is VALID"),
        "receipt.valid_hint": (
            "Chữ ký khớp với khóa của thành phố và với biên lai đã phát hành.",
            "The signature matches the city's key and the receipt that was issued.",
        ),
        "receipt.invalid": ("Biên lai KHÔNG hợp lệ", "This receipt is NOT valid"),
        "receipt.invalid_hint": (
            "Chữ ký không khớp: biên lai có thể đã bị sửa đổi hoặc giả mạo.",
            "The signature does not match: the receipt may have been altered or forged.",
        ),
        "receipt.unknown": ("Không tìm thấy biên lai", "Receipt not found"),
        "receipt.unknown_hint": (
            "Không có biên lai nào với số này. Hãy kiểm tra lại mã bạn quét.",
            "There is no receipt with this number. Check the code you scanned.",
        ),
        "receipt.view": ("Xem biên lai", "View the receipt"),
    }
)


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


# Receipts -------------------------------------------------------------------------------------------------


class ReceiptOut(BaseModel):
    receipt: dict[str, Any] = Field(description="The signed body as a JSON object")
    body: str = Field(description="The exact canonical text that was signed (UTF-8)")
    signature: str = Field(description="Ed25519 signature over `body`, base64url without padding")
    key_id: str
    algorithm: Literal["Ed25519"]
    verify_url: str
    page_url: str


class PublicKeyOut(BaseModel):
    key_id: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="The raw 32-byte public key, base64")
    public_key_pem: str


class ReceiptVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=2, max_length=16_384, description="The canonical text, exactly as issued")
    signature: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+={0,2}$")


class ReceiptVerifyOut(BaseModel):
    valid: bool = Field(description="The signature verifies over `body` with the city's key")
    receipt_id: str | None
    on_record: bool = Field(description="`body` and `signature` are exactly the receipt this service issued")


class VerifyQuery(BaseModel):
    id: str | None = Field(default=None, max_length=64, description="Receipt id")
    sig: str | None = Field(default=None, max_length=200, description="The receipt's signature")


def _receipt_id(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


async def _fetch_receipt(request: web.Request, receipt_id: uuid.UUID | None) -> asyncpg.Record | None:
    if receipt_id is None:
        return None
    return await request.app[POOL].fetchrow("SELECT * FROM receipts WHERE id = $1", receipt_id)


def verify_url(base_url: str, receipt: asyncpg.Record) -> str:
    return f"{base_url}/receipts/verify?id={receipt['id']}&sig={receipt['signature']}"


def _is_authentic(request: web.Request, receipt: asyncpg.Record, signature: str | None) -> bool:
    """Valid only if the presented signature is the one issued AND it verifies over the stored body."""
    return (
        signature is not None
        and hmac.compare_digest(signature.encode(), receipt["signature"].encode())
        and verify_receipt_signature(request.app[KEYS].signing_public_key, receipt["body"], signature)
    )


@routes.get(
    "/api/v1/receipts/public-key",
    access=PUBLIC,
    summary="The city's receipt-signing public key (verify receipts offline)",
    response=PublicKeyOut,
)
async def receipts_public_key(request: web.Request) -> web.Response:
    keys = request.app[KEYS]
    pem = keys.signing_public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    resp = web.json_response(
        {
            "key_id": key_id(keys),
            "algorithm": ALGORITHM,
            "public_key": keys.signing_public_b64,
            "public_key_pem": pem,
        }
    )
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@routes.post(
    "/api/v1/receipts/verify",
    access=PUBLIC,
    summary="Check a receipt's signature (body text + signature)",
    body=ReceiptVerifyIn,
    response=ReceiptVerifyOut,
)
async def verify_receipt_api(request: web.Request, body: ReceiptVerifyIn) -> web.Response:
    valid = verify_receipt_signature(request.app[KEYS].signing_public_key, body.body, body.signature)
    receipt_id = None
    on_record = False
    if valid:
        # The city key signed it, so it is our canonical JSON.
        receipt_id = json.loads(body.body).get("receipt_id")
        stored = await _fetch_receipt(request, _receipt_id(receipt_id))
        on_record = (
            stored is not None and stored["body"] == body.body and stored["signature"] == body.signature
        )
    return web.json_response({"valid": valid, "receipt_id": receipt_id, "on_record": on_record})


@routes.get(
    "/api/v1/receipts/{id}",
    access=PUBLIC,
    summary="A signed e-receipt",
    response=ReceiptOut,
)
async def get_receipt(request: web.Request) -> web.Response:
    receipt = await _fetch_receipt(request, _receipt_id(request.match_info["id"]))
    if receipt is None:
        raise NotFound("no receipt with this id", field="id")
    base = request.app[SETTINGS].public_base_url
    return web.json_response(
        {
            "receipt": json.loads(receipt["body"]),
            "body": receipt["body"],
            "signature": receipt["signature"],
            "key_id": receipt["key_id"],
            "algorithm": ALGORITHM,
            "verify_url": verify_url(base, receipt),
            "page_url": f"{base}/receipts/{receipt['id']}",
        }
    )


@routes.get(
    "/receipts/verify",
    access=PUBLIC,
    summary="Verification page for a receipt's QR code (valid / not valid)",
    query=VerifyQuery,
    produces="text/html",
)
async def verify_receipt_page(request: web.Request, query: VerifyQuery) -> web.Response:
    receipt = await _fetch_receipt(request, _receipt_id(query.id))
    if receipt is None:
        return render_html(
            request, "payments/receipt_verify.html", status=404, result="unknown", receipt=None
        )
    valid = _is_authentic(request, receipt, query.sig)
    return render_html(
        request,
        "payments/receipt_verify.html",
        result="valid" if valid else "invalid",
        receipt=_receipt_view(receipt, request_language(request)) if valid else None,
        receipt_id=str(receipt["id"]),
    )


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


@routes.get(
    "/receipts/{id}", access=PUBLIC, summary="Printable receipt", in_openapi=False, produces="text/html"
)
async def receipt_page(request: web.Request) -> web.Response:
    receipt = await _fetch_receipt(request, _receipt_id(request.match_info["id"]))
    if receipt is None:
        return render_html(
            request, "payments/receipt_verify.html", status=404, result="unknown", receipt=None
        )
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
