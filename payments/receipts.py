"""Signed e-receipts: canonical JSON signed with the city's Ed25519 key, verifiable by anyone with the public
key (published at /api/v1/receipts/public-key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.keys import AppKeys

ALGORITHM = "Ed25519"


def canonical_json(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_id(keys: AppKeys) -> str:
    """Short fingerprint of the public key, so a verifier knows which city key signed."""
    return hashlib.sha256(base64.b64decode(keys.signing_public_b64)).hexdigest()[:16]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_receipt(keys: AppKeys, body: dict[str, Any]) -> tuple[str, str]:
    text = canonical_json(body)
    return text, b64url(keys.signing_key.sign(text.encode()))


def verify_receipt_signature(public_key: Ed25519PublicKey, body_text: str, signature: str) -> bool:
    try:
        public_key.verify(b64url_decode(signature), body_text.encode())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


async def issue_receipt(conn: asyncpg.Connection, keys: AppKeys, request_id) -> asyncpg.Record:
    """Create the receipt of a settled request (once; a second call returns the first receipt)."""
    existing = await conn.fetchrow("SELECT * FROM receipts WHERE payment_request_id = $1", request_id)
    if existing is not None:
        return existing
    pr = await conn.fetchrow(
        """SELECT pr.*, b.short_name AS bank_name FROM payment_requests pr
             JOIN banks b ON b.bin = pr.collection_bin WHERE pr.id = $1""",
        request_id,
    )
    return await store_receipt(conn, keys, pr, await settling_payments(conn, request_id))


async def settling_payments(conn: asyncpg.Connection, request_id) -> list[asyncpg.Record]:
    """The bank credits that count towards a request, oldest first, as a receipt lists them."""
    return await conn.fetch(
        """SELECT bank_code, bank_txn_id, amount, booked_at FROM payments_received
            WHERE payment_request_id = $1 AND outcome IN ('settled', 'overpaid', 'underpaid')
            ORDER BY id""",
        request_id,
    )


async def store_receipt(
    conn: asyncpg.Connection, keys: AppKeys, pr: Mapping[str, Any], paid: Sequence[Mapping[str, Any]]
) -> asyncpg.Record:
    """Sign and store the receipt of a settled request from what the caller already holds: the request row
    with its `bank_name`, and the payments that settled it (bank_code, bank_txn_id, amount, booked_at).
    The caller holds the request's row lock and knows it has no receipt yet (settlement: it was pending)."""
    receipt_id = uuid.uuid4()
    body = {
        "receipt_id": str(receipt_id),
        "issuer": "citypay Hà Nội",
        "payment_request_id": str(pr["id"]),
        "reference": pr["reference"],
        "kind": pr["kind"],
        "fee_code": pr["fee_code"],
        "purpose_vi": pr["purpose_vi"],
        "purpose_en": pr["purpose_en"],
        "payer_reference": pr["payer_reference"],
        "fee_amount": pr["fee_amount"],
        "subsidy_amount": pr["subsidy_amount"],
        "subsidy_code": pr["subsidy_code"],
        "amount_paid": sum(p["amount"] for p in paid),
        "currency": "VND",
        "payee": {"bin": pr["collection_bin"], "bank": pr["bank_name"], "holder": pr["collection_holder"]},
        "bank_transactions": [
            {
                "bank": p["bank_code"],
                "id": p["bank_txn_id"],
                "amount": p["amount"],
                "booked_at": p["booked_at"].isoformat(),
            }
            for p in paid
        ],
        "settled_at": pr["settled_at"].isoformat(),
        "key_id": key_id(keys),
        "algorithm": ALGORITHM,
    }
    text, signature = sign_receipt(keys, body)
    return await conn.fetchrow(
        """INSERT INTO receipts (id, payment_request_id, body, signature, key_id)
           VALUES ($1, $2, $3, $4, $5) RETURNING *""",
        receipt_id,
        pr["id"],
        text,
        signature,
        key_id(keys),
    )
