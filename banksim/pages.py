"""The simulated bank's "banking app" (Vietnamese, phone width): scan or paste a VietQR, check the
beneficiary, pay; and /sim/pay?payload=…&return=… which citypay's pay page links to in demo mode."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError

from banksim import bank
from banksim.appkeys import CONFIG
from banksim.qr import InvalidQR, ScannedQR, decode_qr_image, read_payload
from banksim.routes import PayIn, submit_payment
from core.api import PUBLIC, Routes, validation_problem
from core.appkeys import POOL
from core.errors import Problem, ValidationFailed
from core.pages import render_html

FAULT_CHOICES = [
    ("", "Bình thường"),
    ("duplicate", "Gửi báo có hai lần (duplicate)"),
    ("delay", "Gửi báo có chậm 10 giây (delay)"),
    ("drop", "Không gửi báo có (drop)"),
    ("bad_signature", "Chữ ký sai (bad_signature)"),
    ("wrong_amount", "Chuyển sai số tiền (wrong_amount)"),
]
REASONS_VI = {
    "AC01": "Số tài khoản không tồn tại",
    "AC04": "Tài khoản đã đóng",
    "AC06": "Tài khoản đang bị phong tỏa",
    "AG01": "Giao dịch không được phép trên tài khoản này",
    "AM04": "Số dư không đủ",
    "MD07": "Chủ tài khoản đã mất",
}
WAIT_FOR_DELIVERY_S = 3.0
routes = Routes(tags=("banking-app",))
PAGE = {"access": PUBLIC, "in_openapi": False, "produces": "text/html"}


def safe_return_url(url: str | None, citypay_url: str) -> str | None:
    """`return` links back to citypay only: same scheme, host and port, under citypay's base path."""
    if not url:
        return None
    if len(url) > 2000 or any(c in url for c in "\\\r\n\t") or not url.isprintable():
        raise ValidationFailed("the return address is not a plain URL", field="return")
    target, base = urlsplit(url), urlsplit(citypay_url)
    base_path = base.path.rstrip("/") + "/"
    if (
        target.scheme != base.scheme
        or target.username is not None
        or target.password is not None
        or (target.hostname or "").lower() != (base.hostname or "").lower()
        or target.port != base.port
        or not (target.path + "/").startswith(base_path)
    ):
        raise ValidationFailed("the return address must be a page of citypay", field="return")
    return url


async def _payers(request: web.Request) -> list[Any]:
    async with request.app[POOL].acquire() as conn:
        return await conn.fetch(
            """SELECT account_number, holder_name, balance FROM accounts
                WHERE bin = $1 AND kind = 'citizen' AND status = 'open' ORDER BY id""",
            request.app[CONFIG].bin,
        )


async def _confirm(
    request: web.Request,
    qr: ScannedQR,
    return_url: str | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        beneficiary = await bank.account_by_number(conn, qr.bin, qr.account)
    return render_html(
        request,
        "banksim/sim_confirm.html",
        status=status,
        qr=qr,
        beneficiary=beneficiary,
        payers=await _payers(request),
        faults=FAULT_CHOICES,
        return_url=return_url,
        error=error,
    )


def _home(
    request: web.Request, *, error: str | None = None, payload: str = "", status: int = 200
) -> web.Response:
    return render_html(request, "banksim/sim_home.html", status=status, error=error, payload=payload)


@routes.get("/", summary="The simulator's home: the banking app", **PAGE)
async def sim_root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/sim")


@routes.get("/sim", summary="Banking app: scan or paste a VietQR", **PAGE)
async def sim_home(request: web.Request) -> web.Response:
    return _home(request)


@routes.post("/sim/scan", summary="Banking app: read an uploaded QR image or a pasted payload", **PAGE)
async def sim_scan(request: web.Request) -> web.Response:
    form = await request.post()
    payload = str(form.get("payload") or "").strip()
    image = form.get("image")
    try:
        if isinstance(image, web.FileField) and (data := image.file.read()):
            payload = decode_qr_image(data)
        qr = read_payload(payload)
    except InvalidQR as exc:
        return _home(request, error=str(exc), payload=payload, status=422)
    return await _confirm(request, qr, None)


@routes.get("/sim/pay", summary="Banking app: confirm paying one payload, then link back to `return`", **PAGE)
async def sim_pay_page(request: web.Request) -> web.Response:
    try:
        return_url = safe_return_url(request.query.get("return"), request.app[CONFIG].citypay_url)
        qr = read_payload(request.query.get("payload", ""))
    except (InvalidQR, ValidationFailed) as exc:
        return _home(request, error=_message(exc), status=422)
    return await _confirm(request, qr, return_url)


def _message(exc: Exception) -> str:
    return (exc.detail or exc.title_vi) if isinstance(exc, Problem) else str(exc)


@routes.post("/sim/pay", summary="Banking app: pay (form post)", **PAGE)
async def sim_pay_submit(request: web.Request) -> web.Response:
    form = await request.post()
    text = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    try:
        return_url = safe_return_url(text.get("return"), request.app[CONFIG].citypay_url)
        qr = read_payload(text.get("payload", ""))
    except (InvalidQR, ValidationFailed) as exc:
        return _home(request, error=_message(exc), payload=text.get("payload", ""), status=422)
    try:
        try:
            body = PayIn.model_validate(
                {
                    "payload": qr.payload,
                    "payer_account": text.get("payer_account") or None,
                    "amount": int(text["amount"].replace(".", "")) if text.get("amount") else None,
                    "fault": text.get("fault") or None,
                }
            )
        except (ValidationError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise validation_problem(exc) from None
            raise ValidationFailed("số tiền phải là số nguyên đồng", field="amount") from None
        payment, deliveries = await submit_payment(request, body)
    except Problem as problem:
        reason = REASONS_VI.get(problem.extra.get("reason_code", ""), problem.detail)
        error = f"{problem.title_vi}: {reason}" if reason else problem.title_vi
        return await _confirm(request, qr, return_url, error=error, status=problem.status)
    deliveries = await _settled_deliveries(request, payment.delivery_ids) or deliveries
    return render_html(
        request,
        "banksim/sim_result.html",
        payment=payment,
        qr=qr,
        deliveries=deliveries,
        return_url=return_url,
        booked_at=bank.booked_at_text(payment.transfer["booked_at"]),
    )


async def _settled_deliveries(request: web.Request, ids: list[int]) -> list[dict[str, Any]]:
    """Give the worker a moment, so the page can already say whether citypay acknowledged the callback."""
    if not ids:
        return []
    deadline = time.monotonic() + WAIT_FOR_DELIVERY_S
    while True:
        async with request.app[POOL].acquire() as conn:
            rows = await conn.fetch(
                """SELECT d.id, d.state, d.attempts, d.last_error,
                          d.next_attempt_at > now() + interval '1 second' AS later,
                          EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id) AS tried
                     FROM deliveries d WHERE d.id = ANY($1::bigint[]) ORDER BY d.id""",
                ids,
            )
        waiting = [r for r in rows if r["state"] == "pending" and not r["tried"] and not r["later"]]
        if not waiting or time.monotonic() > deadline:
            return [dict(r) for r in rows]
        await asyncio.sleep(0.1)
