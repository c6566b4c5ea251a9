"""API tokens for machine clients: scoped, bound to the fee codes and channels they may use, stored only as
a hash (the secret is shown once), revocable. core.auth turns a presented token into a Principal."""

from __future__ import annotations

import hashlib
import re
import secrets

import asyncpg

from core.audit import record_audit
from core.errors import ValidationFailed
from core.vocabulary import FEE_CODE_RE

TOKEN_PREFIX = "cpt_"  # noqa: S105 (a public marker, not a secret)
SCOPE_RE = re.compile(r"^[a-z][a-z-]*:(read|write)$")
PAYMENT_WRITE_SCOPE = "payment-requests:write"
CHANNEL_RE = re.compile(r"^[a-z0-9_-]{1,30}$")


def secret_digest(value: str) -> bytes:
    """What is stored of a secret (a token's, a session cookie's): its SHA-256, never the secret."""
    return hashlib.sha256(value.encode()).digest()


def validate_scopes(scopes: list[str]) -> None:
    if not scopes:
        raise ValidationFailed("at least one scope", field="scopes")
    for s in scopes:
        if not SCOPE_RE.match(s):
            raise ValidationFailed(f"scope {s!r} is not of the form area:read or area:write", field="scopes")


def validate_token_bindings(
    scopes: list[str], fee_codes: list[str] | None, channels: list[str] | None
) -> tuple[list[str] | None, list[str]]:
    """A token that may create payment requests names the fee codes it may charge (at least one) and the
    channels it may assert (may be none); any other token names neither. Returns them sorted, deduplicated."""
    codes = sorted(set(fee_codes)) if fee_codes else None
    chans = sorted(set(channels or []))
    for code in codes or []:
        if not FEE_CODE_RE.match(code):
            raise ValidationFailed(
                f"fee code {code!r} is not a catalogue code (e.g. LLTP)", field="fee_codes"
            )
    for channel in chans:
        if not CHANNEL_RE.match(channel):
            raise ValidationFailed(
                f"channel {channel!r}: 1–30 lower-case letters, digits, - or _ (e.g. vneid)", field="channels"
            )
    if PAYMENT_WRITE_SCOPE in scopes:
        if not codes:
            raise ValidationFailed(
                f"a token with {PAYMENT_WRITE_SCOPE} must name the fee codes it may charge "
                "(e.g. --fee-codes LLTP)",
                field="fee_codes",
            )
    elif codes or chans:
        field = "fee_codes" if codes else "channels"
        raise ValidationFailed(
            f"fee codes and channels bind a token with {PAYMENT_WRITE_SCOPE}; this token cannot create "
            "payment requests",
            field=field,
        )
    return codes, chans


async def create_api_token(
    conn: asyncpg.Connection,
    *,
    name: str,
    scopes: list[str],
    actor: str,
    fee_codes: list[str] | None = None,
    channels: list[str] | None = None,
) -> tuple[int, str]:
    """Returns (id, the token). Only a hash is kept: the token is shown this once."""
    validate_scopes(scopes)
    if not 1 <= len(name) <= 200:
        raise ValidationFailed("1–200 characters", field="name")
    codes, chans = validate_token_bindings(scopes, fee_codes, channels)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    async with conn.transaction():
        token_id = await conn.fetchval(
            """INSERT INTO api_tokens (token_prefix, secret_hash, name, scopes, created_by, fee_codes,
                                       channels)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            prefix,
            secret_digest(secret),
            name,
            sorted(set(scopes)),
            actor,
            codes,
            chans,
        )
        await record_audit(
            conn,
            actor=actor,
            action="token.create",
            subject=f"token:{token_id}",
            after={
                "name": name,
                "scopes": sorted(set(scopes)),
                "prefix": prefix,
                "fee_codes": codes,
                "channels": chans,
            },
        )
    return token_id, f"{TOKEN_PREFIX}{prefix}_{secret}"


async def revoke_api_token(conn: asyncpg.Connection, *, token_id: int, actor: str) -> bool:
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL "
            "RETURNING name, scopes",
            token_id,
        )
        if row is None:
            return False
        await record_audit(
            conn,
            actor=actor,
            action="token.revoke",
            subject=f"token:{token_id}",
            before={"name": row["name"], "scopes": list(row["scopes"])},
        )
    return True
