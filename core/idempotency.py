"""Stripe-style Idempotency-Key for creates: the same key and body replay the stored response; the same key
with another body is a 409; concurrent duplicates produce one result (the second waits on the key's row)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from core.errors import IdempotencyConflict, ValidationFailed

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get(HEADER)
    if key is None:
        raise ValidationFailed(
            f"send an {HEADER} header (any unique string up to 255 characters)", field=HEADER
        )
    if not _KEY.match(key):
        raise ValidationFailed("1–255 visible ASCII characters", field=HEADER)
    return key


def request_fingerprint(method: str, path: str, canonical_body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{canonical_body}".encode()).hexdigest()


async def run_idempotent(
    conn: asyncpg.Connection,
    *,
    principal: str,
    key: str,
    fingerprint: str,
    action: Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]],
) -> tuple[int, dict[str, Any], bool]:
    """Returns (status, body, replayed). The key row, the action's writes and the stored response commit in
    one transaction; if the action fails, nothing is kept and the key may be used again."""
    async with conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, $2, $3)
               ON CONFLICT (principal, key) DO NOTHING RETURNING true""",
            principal,
            key,
            fingerprint,
        )
        if not inserted:
            row = await conn.fetchrow(
                "SELECT request_hash, response_status, response_body FROM idempotency_keys "
                "WHERE principal = $1 AND key = $2",
                principal,
                key,
            )
            if row["request_hash"] != fingerprint:
                raise IdempotencyConflict(
                    f"{HEADER} {key!r} was already used with a different request", field=HEADER
                )
            return row["response_status"], row["response_body"], True
        status, body = await action(conn)
        await conn.execute(
            "UPDATE idempotency_keys SET response_status = $3, response_body = $4 "
            "WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            body,
        )
    return status, body, False
