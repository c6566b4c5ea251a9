"""HTTP API of payment requests (agency systems and staff)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.api import Routes, staff
from core.appkeys import KEYS, POOL, SETTINGS
from core.auth import Principal, principal_of
from core.errors import NotFound
from core.idempotency import KeyClaim, idempotency_key, request_fingerprint, run_idempotent
from core.json import json_body_response
from core.responses import ResponseModel, Timestamp, json_response
from core.sql_filters import where_set
from core.text import FreeText
from core.timebounds import BoundedDatetime
from payments.creation_groups import CREATION_GROUPS
from payments.fee_terms import FEE_TERMS
from payments.narrative import personal_digits
from payments.requests import (
    CANCEL_REASON_MAX,
    NewRequest,
    cancel_payment_request,
    check_token_may_issue,
    issue_in_group,
    issue_payment_request,
)

routes = Routes(tags=("payment-requests",))
WRITERS = staff("admin", "finance", scopes=("payment-requests:write",))
READERS = staff("admin", "finance", "approver", scopes=("payment-requests:read", "payment-requests:write"))
STAFF_READERS = staff("admin", "finance", "approver")


class PaymentRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["service_fee"] = Field(description="Parking requests are issued by the parking check-out.")
    fee_code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,30}$", description="Code in the fee catalogue")
    # Printed on receipts and searched by finance: no zero-width or bidirectional characters (core/text.py).
    payer_reference: FreeText | None = Field(
        default=None,
        max_length=100,
        description="The agency's own reference, e.g. a dossier number. It is stored in clear and printed "
        "on receipts, so it must not be personal data: 9 or more digits in a run, or in digit groups "
        "separated by spaces, dots or dashes (a citizen ID or phone number), are refused.",
    )

    @field_validator("payer_reference")
    @classmethod
    def _not_personal(cls, value: str | None) -> str | None:
        if value is not None and personal_digits(value):
            raise ValueError("must not hold a citizen ID or phone number (9 or more digits in a row)")
        return value

    channel: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_-]{1,30}$",
        description="Where the citizen applied (e.g. vneid); subsidies may depend on it",
    )
    expires_in_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)


class Purpose(ResponseModel):
    vi: str
    en: str


class TransferDetails(ResponseModel):
    bank_bin: str
    bank_name: str
    account_number: str
    account_holder: str
    note: str = Field(description="Type exactly this in the transfer note: the payment reference")


class PaymentRequestOut(ResponseModel):
    id: str
    reference: str
    kind: str
    status: Literal["pending", "paid", "expired", "cancelled"]
    fee_code: str | None
    purpose: Purpose
    payer_reference: str | None
    channel: str | None
    currency: Literal["VND"]
    fee_amount: int
    subsidy_code: str | None
    subsidy_amount: int
    amount_due: int
    amount_received: int
    created_at: Timestamp
    expires_at: Timestamp
    settled_at: Timestamp | None
    closed_at: Timestamp | None
    qr_payload: str | None
    pay_url: str
    qr_png_url: str | None
    qr_svg_url: str | None
    transfer: TransferDetails | None
    receipt_id: str | None
    cancel_reason: str | None = Field(description="Why it was cancelled (requests cancelled since issue 8)")


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: FreeText = Field(
        min_length=1,
        max_length=CANCEL_REASON_MAX,
        description="Why the request is cancelled; kept on the request and in the audit log",
    )


class PaymentRequestList(ResponseModel):
    items: list[PaymentRequestOut]
    total: int


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "paid", "expired", "cancelled"] | None = None
    kind: Literal["service_fee", "parking"] | None = None
    fee_code: str | None = Field(default=None, max_length=32)
    reference: str | None = Field(default=None, max_length=32)
    underpaid: bool | None = Field(
        default=None, description="Only pending requests holding a partial payment"
    )
    created_from: BoundedDatetime | None = Field(default=None, description="ISO 8601 with offset, 2000–2100")
    created_to: BoundedDatetime | None = Field(default=None, description="ISO 8601 with offset, 2000–2100")
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


_SELECT = """SELECT pr.*, b.short_name AS bank_name, r.id AS receipt_id
               FROM payment_requests pr
               JOIN banks b ON b.bin = pr.collection_bin
               LEFT JOIN receipts r ON r.payment_request_id = pr.id"""


def payment_request_json(row: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A request as the API answers it: PaymentRequestOut's JSON form, built directly (the creation's hot path
    skips the model's validation and serialisation; tests/payments/test_requests.py checks both agree)."""
    has_qr = row["qr_payload"] is not None
    api = f"{base_url}/api/v1/payment-requests/{row['id']}"
    return {
        "id": str(row["id"]),
        "reference": row["reference"],
        "kind": row["kind"],
        "status": row["status"],
        "fee_code": row["fee_code"],
        "purpose": {"vi": row["purpose_vi"], "en": row["purpose_en"]},
        "payer_reference": row["payer_reference"],
        "channel": row["channel"],
        "currency": "VND",
        "fee_amount": row["fee_amount"],
        "subsidy_code": row["subsidy_code"],
        "subsidy_amount": row["subsidy_amount"],
        "amount_due": row["amount_due"],
        "amount_received": row["amount_received"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
        "settled_at": _iso(row["settled_at"]),
        "closed_at": _iso(row["closed_at"]),
        "qr_payload": row["qr_payload"],
        "pay_url": f"{base_url}/pay/{row['reference']}",
        "qr_png_url": f"{api}/qr.png" if has_qr else None,
        "qr_svg_url": f"{api}/qr.svg" if has_qr else None,
        "transfer": {
            "bank_bin": row["collection_bin"],
            "bank_name": row["bank_name"],
            "account_number": row["collection_account"],
            "account_holder": row["collection_holder"],
            "note": row["reference"],
        }
        if has_qr
        else None,
        "receipt_id": str(row["receipt_id"]) if row["receipt_id"] else None,
        "cancel_reason": row["cancel_reason"],
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def payment_request_out(row: Mapping[str, Any], base_url: str) -> PaymentRequestOut:
    return PaymentRequestOut.model_validate(payment_request_json(row, base_url))


def parse_request_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise NotFound("no payment request with this id", field="id") from None


async def fetch_request(conn: asyncpg.Connection, request_id: uuid.UUID, principal: Principal | None):
    row = await conn.fetchrow(_SELECT + " WHERE pr.id = $1", request_id)
    # A token sees only the requests it created; staff see all.
    if row is None or (principal and principal.kind == "token" and row["created_by"] != principal.actor):
        raise NotFound("no payment request with this id", field="id")
    return row


@routes.post(
    "/api/v1/payment-requests",
    access=WRITERS,
    summary="Create a payment request",
    body=PaymentRequestCreate,
    response=PaymentRequestOut,
    status=201,
    idempotent=True,
    responses={409: "Idempotency-Key reused with another body"},
)
async def create_payment_request(request: web.Request, body: PaymentRequestCreate) -> web.Response:
    principal = principal_of(request)
    key = idempotency_key(request)
    settings = request.app[SETTINGS]
    new = NewRequest(
        kind=body.kind,
        fee_code=body.fee_code,
        payer_reference=body.payer_reference,
        channel=body.channel,
        expires_in=timedelta(minutes=body.expires_in_minutes) if body.expires_in_minutes else None,
    )
    if principal.kind == "token":  # staff (admin, finance) are not bound to an agency's fees
        check_token_may_issue(new, fee_codes=principal.fee_codes, channels=principal.channels)

    def answer(row: Mapping[str, Any]) -> tuple[int, dict]:
        # Stored for replays as the JSON it answers (core/idempotency.py keeps plain JSON).
        return 201, payment_request_json(row, settings.public_base_url)

    async def in_a_group(claim: KeyClaim) -> tuple[int, dict] | None:
        # Most fees have no subsidy: their request and its key are written on the fee's cached terms, in one
        # statement with the other creations of the moment (payments/creation_groups.py).
        fee_terms = request.app[FEE_TERMS]
        terms = await fee_terms.terms(request.app[POOL], body.fee_code, body.channel, datetime.now(UTC))
        if terms is None:
            return None
        done = await issue_in_group(
            request.app[CREATION_GROUPS],
            terms,
            new,
            created_by=principal.actor,
            amount_cap=settings.amount_cap,
            default_expiry=timedelta(minutes=settings.expiry_service_fee_minutes),
            claim=claim,
            answer=answer,
        )
        if done is None:  # the terms changed (or the key is taken): read them afresh next time
            fee_terms.forget(body.fee_code, body.channel)
        return done

    async def action(conn: asyncpg.Connection) -> tuple[int, dict]:
        row = await issue_payment_request(
            conn,
            request.app[KEYS],
            new,
            created_by=principal.actor,
            amount_cap=settings.amount_cap,
            default_expiry=timedelta(minutes=settings.expiry_service_fee_minutes),
        )
        if row["amount_due"] == 0:  # settled at once: read it back with its receipt
            row = await fetch_request(conn, row["id"], None)
        else:
            row = {**row, "receipt_id": None}
        return answer(row)

    claim = KeyClaim(principal.actor, key, request_fingerprint("POST", request.path, body.model_dump_json()))
    done = await in_a_group(claim)
    if done is not None:
        status, out, replayed = *done, False
    else:  # the full path: the terms read afresh, in a transaction of its own
        async with request.app[POOL].acquire() as conn:
            status, out, replayed = await run_idempotent(conn, claim=claim, action=action)
    resp = json_body_response(out, status=status)
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


@routes.get(
    "/api/v1/payment-requests/{id}",
    access=READERS,
    summary="Read a payment request",
    response=PaymentRequestOut,
)
async def get_payment_request(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await fetch_request(conn, parse_request_id(request), principal_of(request))
    return json_body_response(payment_request_json(row, request.app[SETTINGS].public_base_url))


@routes.post(
    "/api/v1/payment-requests/{id}/cancel",
    access=WRITERS,
    summary="Cancel a pending request (with the reason why; audited)",
    body=CancelBody,
    response=PaymentRequestOut,
    responses={409: "Not pending"},
)
async def cancel_request(request: web.Request, body: CancelBody) -> web.Response:
    principal = principal_of(request)
    request_id = parse_request_id(request)
    async with request.app[POOL].acquire() as conn:
        await fetch_request(conn, request_id, principal)
        await cancel_payment_request(conn, request_id, actor=principal.actor, reason=body.reason)
        row = await fetch_request(conn, request_id, principal)
    return json_body_response(payment_request_json(row, request.app[SETTINGS].public_base_url))


# The list's filters, each an SQL condition on its one value (core/sql_filters.py: only those set go into the
# statement, so a search by reference uses the reference's unique index).
_LIST_FILTERS = (
    ("status", "pr.status = {}"),
    ("kind", "pr.kind = {}"),
    ("fee_code", "pr.fee_code = {}"),
    ("reference", "pr.reference = {}"),
    ("underpaid", "(pr.status = 'pending' AND pr.amount_received > 0) = {}"),
    ("created_from", "pr.created_at >= {}"),
    ("created_to", "pr.created_at < {}"),
)


def _list_filter(query: ListQuery) -> tuple[str, list[Any]]:
    return where_set((condition, getattr(query, name)) for name, condition in _LIST_FILTERS)


@routes.get(
    "/api/v1/payment-requests",
    access=STAFF_READERS,
    summary="List payment requests (staff)",
    query=ListQuery,
    response=PaymentRequestList,
)
async def list_payment_requests(request: web.Request, query: ListQuery) -> web.Response:
    where, args = _list_filter(query)
    async with request.app[POOL].acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM payment_requests pr {where}", *args)
        n = len(args)
        rows = await conn.fetch(
            f"{_SELECT} {where} ORDER BY pr.created_at DESC, pr.id LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            query.limit,
            query.offset,
        )
    base = request.app[SETTINGS].public_base_url
    return json_response(PaymentRequestList(items=[payment_request_out(r, base) for r in rows], total=total))
