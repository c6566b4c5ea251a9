"""Signed receipts anyone can check, as JSON: a receipt, the city's public key, and signature verification.
All public; no login. The lookups here serve the receipt pages too (receipt_pages.py)."""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any, Literal

import asyncpg
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field

from core.api import PUBLIC, Routes
from core.appkeys import KEYS, POOL, SETTINGS
from core.errors import NotFound
from core.responses import ResponseModel, json_response
from payments.receipts import key_id, verify_receipt_signature

routes = Routes(tags=("pay-pages",))


class ReceiptOut(ResponseModel):
    receipt: dict[str, Any] = Field(description="The signed body as a JSON object")
    body: str = Field(description="The exact canonical text that was signed (UTF-8)")
    signature: str = Field(description="Ed25519 signature over `body`, base64url without padding")
    key_id: str
    algorithm: Literal["Ed25519"]
    verify_url: str
    page_url: str
    template_code: str = Field(description="Receipt template code (ký hiệu mẫu biên lai), e.g. 01BLP0-001")
    series: str = Field(description="Receipt series (ký hiệu biên lai), e.g. HN-26E")
    number: int = Field(description="The receipt's number in its series: 1, 2, 3 … without gaps")


class PublicKeyOut(ResponseModel):
    key_id: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="The raw 32-byte public key, base64")
    public_key_pem: str


class ReceiptVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=2, max_length=16_384, description="The canonical text, exactly as issued")
    signature: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+={0,2}$")


class ReceiptVerifyOut(ResponseModel):
    valid: bool = Field(description="The signature verifies over `body` with the city's key")
    receipt_id: str | None
    on_record: bool = Field(description="`body` and `signature` are exactly the receipt this service issued")


# Lookups ----------------------------------------------------------------------------------------------------


def receipt_id_of(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


# A receipt with its series' template code and organisation, and (for receipts signed before migration 0020,
# whose body lacks them) the fee's current name, agency and legal basis.
_RECEIPT_SQL = """
SELECT r.*, s.template_code, s.agency_name AS series_agency, s.agency_tax_code,
       f.name_vi AS fee_name_vi, f.agency AS fee_agency, f.legal_basis AS fee_legal_basis
  FROM receipts r
  JOIN receipt_series s ON s.series = r.series
  JOIN payment_requests pr ON pr.id = r.payment_request_id
  LEFT JOIN fee_catalogue f ON f.code = pr.fee_code"""


async def fetch_receipt(request: web.Request, receipt_id: uuid.UUID | None) -> asyncpg.Record | None:
    if receipt_id is None:
        return None
    return await request.app[POOL].fetchrow(_RECEIPT_SQL + " WHERE r.id = $1", receipt_id)


async def fetch_receipt_by_number(request: web.Request, series: str, number: int) -> asyncpg.Record | None:
    return await request.app[POOL].fetchrow(
        _RECEIPT_SQL + " WHERE r.series = $1 AND r.number = $2", series, number
    )


async def receipt_series(request: web.Request) -> list[tuple[str, str]]:
    """(series, template code) of every series ever used (a handful: one a year), longest first so that a
    series that is the prefix of another never shadows it."""
    rows = await request.app[POOL].fetch(
        "SELECT series, template_code FROM receipt_series ORDER BY length(series) DESC, series"
    )
    return [(r["series"], r["template_code"]) for r in rows]


def is_on_record(request: web.Request, receipt: asyncpg.Record) -> bool:
    """The stored receipt verifies with the city's key: what a look-up by number can promise."""
    return verify_receipt_signature(
        request.app[KEYS].signing_public_key, receipt["body"], receipt["signature"]
    )


def verify_url(base_url: str, receipt: asyncpg.Record) -> str:
    return f"{base_url}/receipts/verify?id={receipt['id']}&sig={receipt['signature']}"


def is_authentic(request: web.Request, receipt: asyncpg.Record, signature: str | None) -> bool:
    """Valid only if the presented signature is the one issued AND it verifies over the stored body."""
    return (
        signature is not None
        and hmac.compare_digest(signature.encode(), receipt["signature"].encode())
        and verify_receipt_signature(request.app[KEYS].signing_public_key, receipt["body"], signature)
    )


# Routes -----------------------------------------------------------------------------------------------------


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
    resp = json_response(
        PublicKeyOut(
            key_id=key_id(keys),
            algorithm="Ed25519",  # the model declares the one algorithm receipts use
            public_key=keys.signing_public_b64,
            public_key_pem=pem,
        )
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
        stored = await fetch_receipt(request, receipt_id_of(receipt_id))
        on_record = (
            stored is not None and stored["body"] == body.body and stored["signature"] == body.signature
        )
    return json_response(ReceiptVerifyOut(valid=valid, receipt_id=receipt_id, on_record=on_record))


@routes.get(
    "/api/v1/receipts/{id}",
    access=PUBLIC,
    summary="A signed e-receipt",
    response=ReceiptOut,
)
async def get_receipt(request: web.Request) -> web.Response:
    receipt = await fetch_receipt(request, receipt_id_of(request.match_info["id"]))
    if receipt is None:
        raise NotFound("no receipt with this id", field="id")
    base = request.app[SETTINGS].public_base_url
    return json_response(
        ReceiptOut(
            receipt=json.loads(receipt["body"]),
            body=receipt["body"],
            signature=receipt["signature"],
            key_id=receipt["key_id"],
            algorithm="Ed25519",  # the model declares the one algorithm receipts use
            verify_url=verify_url(base, receipt),
            page_url=f"{base}/receipts/{receipt['id']}",
            template_code=receipt["template_code"],
            series=receipt["series"],
            number=receipt["number"],
        )
    )
