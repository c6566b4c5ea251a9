"""Bank profiles and their keys (admin): public keys for citypay-bank-v1, HMAC secrets (stored encrypted) for
VNPay and payOS; two active keys at once for rotation, older ones retired.

A profile is created inactive and can be activated only while it has an active key (the database refuses
otherwise); a profile whose last key was retired refuses every callback until a new key is added. The admin
API is bank_profiles_api.py, the page bank_profiles_pages.py."""

from __future__ import annotations

from typing import Any

import asyncpg
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from core import ed25519
from core.audit import record_audit
from core.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
    map_constraint,
)
from core.keys import AppKeys
from core.pii import encrypt_pii
from payments.banks import SCHEMES, load_bank_public_key, scheme_named
from payments.banks.event import MIN_SECRET_CHARS, CallbackRejected
from payments.callback_directory import SECRET_CONTEXT, forget_callback_directories

# Database guards → (problem, field, detail for API callers, message key for a person).
_GUARDS = (
    ("bank_profiles_pkey", Conflict, "code", "a bank profile with this code exists", "code_taken"),
    (
        "bank_keys_bank_code_key_id_key",
        Conflict,
        "key_id",
        "this bank already has a key with this id",
        "key_id_taken",
    ),
    (
        "bank_keys_two_active",
        Conflict,
        "key_id",
        "the bank already has two active keys; retire one",
        "two_active",
    ),
    ("bank_profiles_bin_fkey", ValidationFailed, "bin", "unknown bank BIN", "unknown_bin"),
    (
        "bank_profiles_active_needs_key",
        Conflict,
        "active",
        "a bank profile can be active only with an active key or secret: add one first",
        "needs_key",
    ),
    (
        "bank_profiles_gateway_account",
        ValidationFailed,
        "credited_account",
        "a gateway profile needs the account it credits",
        "gateway_account",
    ),
)
for _name, _problem, _field, _detail, _key in _GUARDS:
    map_constraint(_name, _problem, _field, _detail, message=f"banks.{_key}")


class BankProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")
    name: str = Field(min_length=1, max_length=200)
    bin: str = Field(pattern=r"^[0-9]{6}$")
    scheme: str = Field(description="A registered bank scheme: citypay-bank-v1, vnpay or payos")
    tolerance_s: int = Field(default=300, ge=30, le=3600)
    credited_account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,19}$")
    merchant_code: str | None = Field(default=None, max_length=64)


class BankKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    public_key_pem: str | None = Field(default=None, max_length=4000, description="Ed25519 or RSA public key")
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        max_length=256,
        description="HMAC secret for VNPay/payOS; stored encrypted, never shown again",
    )


async def create_bank_profile(conn: asyncpg.Connection, body: BankProfileIn, *, actor: str) -> None:
    if body.scheme not in SCHEMES:
        raise ValidationFailed(
            f"one of {', '.join(sorted(SCHEMES))}", field="scheme", message="banks.unknown_scheme"
        )
    if SCHEMES[body.scheme].credits_profile_account and body.credited_account is None:
        raise ValidationFailed(
            "a gateway profile needs the account it credits",
            field="credited_account",
            message="banks.gateway_account",
        )
    async with conn.transaction():
        if body.credited_account is not None and not await conn.fetchval(
            "SELECT true FROM collection_accounts WHERE bin = $1 AND account_number = $2",
            body.bin,
            body.credited_account,
        ):
            # A gateway credits the account its profile names: it must be a city account at that bank.
            raise ValidationFailed(
                "not a registered collection account at this bank",
                field="credited_account",
                message="banks.not_collection_account",
            )
        await conn.execute(
            """INSERT INTO bank_profiles
                   (code, name, bin, scheme, tolerance_s, credited_account, merchant_code)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            body.code,
            body.name,
            body.bin,
            body.scheme,
            body.tolerance_s,
            body.credited_account,
            body.merchant_code,
        )
        await record_audit(
            conn,
            actor=actor,
            action="bank_profile.create",
            subject=f"bank:{body.code}",
            after=body.model_dump(),
        )
    forget_callback_directories()  # this process's callbacks see the change at once


async def add_bank_key(
    conn: asyncpg.Connection, keys: AppKeys, bank_code: str, body: BankKeyIn, *, actor: str
) -> None:
    async with conn.transaction():
        scheme = await conn.fetchval("SELECT scheme FROM bank_profiles WHERE code = $1 FOR UPDATE", bank_code)
        if scheme is None:
            raise NotFound("no such bank profile", field="bank_code")
        if scheme_named(scheme).key_kind == "public_key":
            if not body.public_key_pem or body.secret:
                raise ValidationFailed(
                    f"{scheme} banks register a public key",
                    field="public_key_pem",
                    message="banks.public_key_needed",
                )
            try:
                key = _registrable_key(body.public_key_pem)
            except CallbackRejected as exc:
                raise ValidationFailed(
                    exc.detail or "not a usable public key", field="public_key_pem", message="banks.bad_key"
                ) from None
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                # A PEM that does not parse, RSA under 2048 bits, EC or DSA keys: bad input, not a 500.
                raise ValidationFailed(
                    _key_problem(exc), field="public_key_pem", message="banks.bad_key"
                ) from None
            kind = "ed25519" if type(key).__name__.startswith("Ed25519") else "rsa-pss-sha256"
            pem, secret = body.public_key_pem, None
        else:
            if not body.secret or body.public_key_pem:
                raise ValidationFailed(
                    f"{scheme} profiles register a shared secret",
                    field="secret",
                    message="banks.secret_needed",
                )
            kind, pem, secret = "hmac", None, encrypt_pii(keys, body.secret, context=SECRET_CONTEXT)
        await conn.execute(
            "INSERT INTO bank_keys (bank_code, key_id, kind, public_key_pem, secret_encrypted) "
            "VALUES ($1, $2, $3, $4, $5)",
            bank_code,
            body.key_id,
            kind,
            pem,
            secret,
        )
        await record_audit(
            conn,
            actor=actor,
            action="bank_key.add",
            subject=f"bank:{bank_code}",
            after={"key_id": body.key_id, "kind": kind},
        )
    forget_callback_directories()  # this process's callbacks see the change at once


def _registrable_key(pem: str):
    """What docs/bank-protocol.md §3 allows: a SubjectPublicKeyInfo PEM of Ed25519, or RSA of 2048–4096 bits
    with the public exponent 65537 (a small exponent has a history of signature forgeries)."""
    if not pem.lstrip().startswith("-----BEGIN PUBLIC KEY-----"):
        raise ValueError("a SubjectPublicKeyInfo PEM (-----BEGIN PUBLIC KEY-----) is expected")
    key = load_bank_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey) and key.public_numbers().e != 65537:
        raise ValueError("RSA keys must use the public exponent 65537")
    if isinstance(key, Ed25519PublicKey) and not ed25519.is_usable_public_key(key):
        raise ValueError("not a usable Ed25519 public key: a small-order or invalid point")
    return key


def _key_problem(exc: Exception) -> str:
    text = str(exc)
    if "Ed25519 or RSA" in text:
        return "bank keys must be Ed25519, or RSA of 2048 to 4096 bits"
    if "65537" in text or "SubjectPublicKeyInfo" in text or "small-order" in text:
        return text
    return "not a PEM public key (-----BEGIN PUBLIC KEY-----, Ed25519 or RSA 2048–4096 bits)"


async def set_bank_profile_active(
    conn: asyncpg.Connection, bank_code: str, active: bool, *, actor: str
) -> None:
    """Turn a profile on (only with an active key: the database checks) or off (it then answers 404)."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT active FROM bank_profiles WHERE code = $1 FOR UPDATE", bank_code)
        if before is None:
            raise NotFound("no such bank profile", field="bank_code")
        if before == active:
            return
        await conn.execute("UPDATE bank_profiles SET active = $2 WHERE code = $1", bank_code, active)
        await record_audit(
            conn,
            actor=actor,
            action="bank_profile.activate" if active else "bank_profile.deactivate",
            subject=f"bank:{bank_code}",
            before={"active": before},
            after={"active": active},
        )
    forget_callback_directories()  # this process's callbacks see the change at once


async def retire_bank_key(conn: asyncpg.Connection, bank_code: str, key_id: str, *, actor: str) -> None:
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE bank_keys SET retired_at = now() "
            "WHERE bank_code = $1 AND key_id = $2 AND retired_at IS NULL RETURNING true",
            bank_code,
            key_id,
        )
        if not done:
            raise NotFound("no active key with this id", field="key_id")
        await record_audit(
            conn,
            actor=actor,
            action="bank_key.retire",
            subject=f"bank:{bank_code}",
            before={"key_id": key_id},
        )
    forget_callback_directories()  # this process's callbacks see the change at once


async def bank_profile_list(conn: asyncpg.Connection, code: str | None = None) -> list[dict[str, Any]]:
    """Profiles (all, or the one with this code) with their keys, oldest key first; never a secret."""
    rows = await conn.fetch(
        "SELECT code, name, bin, scheme, tolerance_s, credited_account, merchant_code, active "
        "FROM bank_profiles WHERE $1::text IS NULL OR code = $1 ORDER BY code",
        code,
    )
    keys = await conn.fetch(
        "SELECT bank_code, key_id, kind, created_at, retired_at FROM bank_keys "
        "WHERE $1::text IS NULL OR bank_code = $1 ORDER BY id",
        code,
    )
    return [
        {
            **dict(r),
            "keys": [
                {k: key[k] for k in ("key_id", "kind", "created_at", "retired_at")}
                for key in keys
                if key["bank_code"] == r["code"]
            ],
        }
        for r in rows
    ]
