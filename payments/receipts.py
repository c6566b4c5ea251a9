"""Signed e-receipts: canonical JSON signed with the city's Ed25519 key, verifiable by anyone with the public
key (published at /api/v1/receipts/public-key).

A receipt carries what a Vietnamese e-receipt for fees carries (biên lai điện tử thu phí, lệ phí — Nghị định
123/2020/NĐ-CP, Thông tư 78/2021/TT-BTC): its template code and series, a number that runs without gaps within
the series, the payer's name as the bank reported it (masked), the fee with its amount and legal basis, the
collecting organisation (and its tax code when known), and the time it was issued. Receipts signed before
migration 0020 have none of these in their body; their series and number are on record beside it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core import ed25519
from core.keys import AppKeys
from core.pii import decrypt_bytes

ALGORITHM = "Ed25519"
# Parking is a priced service, not a fee in the catalogue: its receipts name the law on prices.
PARKING_LEGAL_BASIS = "Luật Giá số 16/2023/QH15"
log = structlog.get_logger("citypay.receipts")


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
    return text, b64url(ed25519.sign(keys.signing_key, text.encode()))


def verify_receipt_signature(public_key: Ed25519PublicKey, body_text: str, signature: str) -> bool:
    """True only for a receipt the key signed: the signature as the city issues it (base64url, no padding,
    no stray bits), and the text a receipt in the canonical JSON it was signed in. The city key also signs
    bank answers (`<timestamp>.<body>`) and audit checkpoints: their signatures verify, but they are not
    receipts, and the API would read them as if they were."""
    try:
        raw = b64url_decode(signature)
        if b64url(raw) != signature or not _is_receipt_text(body_text):
            return False
        ed25519.verify(public_key, raw, body_text.encode())
    except (InvalidSignature, ValueError, binascii.Error):  # UnicodeEncodeError (a lone surrogate) included
        return False
    return True


def _is_receipt_text(text: str) -> bool:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and isinstance(body.get("receipt_id"), str) and canonical_json(body) == text


def mask_person_name(name: str | None) -> str | None:
    """NGUYEN VAN ANH → NGUYEN V** A**: the family name stays, every other word keeps its first letter and two
    stars whatever its length (like core.pii's account mask, the stars do not tell the length). A name is
    upper-cased as banks print it; no name (None, blank) gives None."""
    words = (name or "").upper().split()
    if not words:
        return None
    return " ".join([words[0], *(w[0] + "**" for w in words[1:])])


def receipt_number_text(number: int) -> str:
    """The number as receipts print it: seven digits, zero-padded (0000123)."""
    return f"{number:07d}"


async def payer_name_from_callbacks(
    conn: asyncpg.Connection, keys: AppKeys, paid: Sequence[Mapping[str, Any]]
) -> str | None:
    """The payer's name as the bank's callback reported it for the first of `paid` that has one. The raw
    callback is stored encrypted; it is read back with its bank's scheme. None when no callback brought a name
    (a statement line, a gateway that does not say who paid)."""
    # Both import this module (banks.citypay_v1 for key_id; callbacks through settlement).
    from payments.banks import BankProfile, scheme_named
    from payments.callbacks import QUERY_CONTEXT, RAW_BODY_CONTEXT

    for payment in paid:
        row = await conn.fetchrow(
            """SELECT i.raw_body, i.query, i.query_encrypted, p.code, p.bin, p.scheme, p.tolerance_s,
                      p.credited_account, p.merchant_code
                 FROM callback_inbox i JOIN bank_profiles p ON p.code = i.bank_code
                WHERE i.bank_code = $1 AND i.bank_txn_id = $2 ORDER BY i.id LIMIT 1""",
            payment["bank_code"],
            payment["bank_txn_id"],
        )
        if row is None:
            continue
        profile = BankProfile.from_row(row)
        try:
            query = row["query"]
            if row["query_encrypted"]:
                query = decrypt_bytes(keys, row["query_encrypted"], context=QUERY_CONTEXT).decode()
            raw = decrypt_bytes(keys, row["raw_body"], context=RAW_BODY_CONTEXT)
            name = scheme_named(profile.scheme).reparse(profile, raw, query).payer_name
        except Exception as exc:  # a receipt never fails for want of a name
            log.warning("receipt_payer_name_unreadable", bank_code=row["code"], error=type(exc).__name__)
            continue
        if name and name.strip():
            return name
    return None


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


async def fee_rows(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, asyncpg.Record]:
    """What a receipt names of each fee (its name, agency and legal basis), by code, in one statement."""
    rows = await conn.fetch(
        "SELECT code, name_vi, agency, legal_basis FROM fee_catalogue WHERE code = ANY($1::text[])",
        sorted(set(codes)),
    )
    return {row["code"]: row for row in rows}


@dataclass(frozen=True)
class ReceiptDraft:
    """A receipt with everything but its place in the series (and the time it is issued), which are taken
    last: the series row stays locked from then until the transaction ends."""

    receipt_id: uuid.UUID
    payment_request_id: Any
    body: dict[str, Any]  # without the e-receipt's numbering and agency fields
    fee_agency: str | None  # the fee's collecting agency; None for no fee (the series' agency then)
    has_fee: bool


async def draft_receipt(
    conn: asyncpg.Connection,
    keys: AppKeys,
    pr: Mapping[str, Any],
    paid: Sequence[Mapping[str, Any]],
    *,
    payer_name: str | None = None,
    fees: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> ReceiptDraft:
    """The receipt of a settled request from what the caller already holds: the request row with its
    `bank_name`, and the payments that settled it (bank_code, bank_txn_id, amount, booked_at). `payer_name`
    is the name the bank reported, when the caller has it; otherwise it is read from the stored callbacks.
    `fees`: the fee catalogue rows the caller already read (`fee_rows`), by code."""
    receipt_id = uuid.uuid4()
    if payer_name is None:
        payer_name = await payer_name_from_callbacks(conn, keys, paid)
    fee = None
    if pr["fee_code"]:
        if fees is not None and pr["fee_code"] in fees:
            fee = fees[pr["fee_code"]]
        else:
            fee = (await fee_rows(conn, [pr["fee_code"]])).get(pr["fee_code"])
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
        # The e-receipt's own fields (migration 0020); numbering and agency come with the number.
        "payer_name": mask_person_name(payer_name),
        "fee_name": fee["name_vi"] if fee else pr["purpose_vi"],
        "legal_basis": fee["legal_basis"] if fee else PARKING_LEGAL_BASIS,
    }
    return ReceiptDraft(receipt_id, pr["id"], body, fee["agency"] if fee else None, fee is not None)


async def number_and_store_receipts(
    conn: asyncpg.Connection, keys: AppKeys, drafts: Sequence[ReceiptDraft]
) -> list[asyncpg.Record]:
    """Number the drafts in order in the active series, sign and store them: one statement takes all their
    numbers (the UPDATE locks the series row until the caller's transaction ends, so concurrent receipts
    queue here and a rolled-back transaction gives its numbers back: no gaps, no duplicates), one stores
    them. A group commit takes the numbers of all its receipts at once, at its end."""
    if not drafts:
        return []
    series = await conn.fetchrow(
        """UPDATE receipt_series SET last_number = last_number + $1 WHERE active
           RETURNING series, template_code, agency_name, agency_tax_code, last_number""",
        len(drafts),
    )
    if series is None:
        raise RuntimeError("no active receipt series: finance must activate one (table receipt_series)")
    first_number = series["last_number"] - len(drafts) + 1
    issued_at = datetime.now(UTC)
    texts, signatures, numbers = [], [], []
    for n, draft in enumerate(drafts):
        body = draft.body | {
            "template_code": series["template_code"],
            "series": series["series"],
            "number": first_number + n,
            "issued_at": issued_at.isoformat(),
            "collecting_agency": {
                "name": draft.fee_agency if draft.has_fee else series["agency_name"],
                "issuer": series["agency_name"],
                "tax_code": series["agency_tax_code"],
            },
        }
        text, signature = sign_receipt(keys, body)
        texts.append(text)
        signatures.append(signature)
        numbers.append(first_number + n)
    return await conn.fetch(
        """INSERT INTO receipts (id, payment_request_id, body, signature, key_id, series, number, issued_at)
           SELECT r.id, r.payment_request_id, r.body, r.signature, $5, $6, r.number, $7
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $8::bigint[])
                  AS r(id, payment_request_id, body, signature, number)
           RETURNING *""",
        [d.receipt_id for d in drafts],
        [d.payment_request_id for d in drafts],
        texts,
        signatures,
        key_id(keys),
        series["series"],
        issued_at,
        numbers,
    )


async def store_receipt(
    conn: asyncpg.Connection,
    keys: AppKeys,
    pr: Mapping[str, Any],
    paid: Sequence[Mapping[str, Any]],
    *,
    payer_name: str | None = None,
) -> asyncpg.Record:
    """Sign and store the receipt of a settled request (`draft_receipt`, then `number_and_store_receipts`).
    The caller holds the request's row lock and knows it has no receipt yet (settlement: it was pending).
    The receipt's number is taken last, so the series stays locked as briefly as possible."""
    draft = await draft_receipt(conn, keys, pr, paid, payer_name=payer_name)
    return (await number_and_store_receipts(conn, keys, [draft]))[0]
