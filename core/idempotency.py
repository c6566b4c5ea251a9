"""Stripe-style Idempotency-Key for creates: the same key and body replay the stored response; the same key
with another body is a 409; concurrent duplicates produce one result (the second waits on the key's row)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from core.errors import IdempotencyConflict, ValidationFailed

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def idempotency_key(request: web.Request) -> str:
    keys = request.headers.getall(HEADER, [])
    if len(keys) > 1:  # which one the client meant is a guess; a proxy may have added or split one
        raise ValidationFailed(f"send one {HEADER} header, not {len(keys)}", field=HEADER)
    key = keys[0] if keys else None
    if key is None:
        raise ValidationFailed(
            f"send an {HEADER} header (any unique string up to 255 characters)", field=HEADER
        )
    if not _KEY.match(key):
        raise ValidationFailed("1–255 visible ASCII characters", field=HEADER)
    return key


def request_fingerprint(method: str, path: str, canonical_body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{canonical_body}".encode()).hexdigest()


@dataclass(frozen=True)
class KeyClaim:
    """Who uses which key for which request: what the key row stores besides the answer. A path that writes
    its work and the key row in one statement (payments/creation_groups.py) takes it from here."""

    principal: str
    key: str
    fingerprint: str

    def params(self, status: int, body: dict[str, Any]) -> tuple[Any, ...]:
        return (self.principal, self.key, self.fingerprint, status, body)


def claim_keys_sql(source: str) -> str:
    """For a statement that writes many creations with their keys: insert the key rows of `source` (a CTE
    with columns principal, key, request_hash, response_status, response_body as JSON text), in key order so
    concurrent statements take them in the same order; a key already taken is skipped (one in flight elsewhere
    is waited for first). RETURNING the keys it took: only their work may be written."""
    return f"""INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
    SELECT principal, key, request_hash, response_status, response_body::jsonb FROM {source}
     ORDER BY principal, key
    ON CONFLICT (principal, key) DO NOTHING
    RETURNING principal, key"""


# (status, body) from the action, inside the transaction that then stores the key with them.
Action = Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]]


async def run_idempotent(
    conn: asyncpg.Connection,
    *,
    claim: KeyClaim,
    action: Action,
) -> tuple[int, dict[str, Any], bool]:
    """Returns (status, body, replayed). The action's writes and the key row with the stored response commit
    in one transaction; if the action fails, nothing is kept and the key may be used again.

    The key is written last, with the response, so a first use costs one statement more than the action. A
    repeat does the work again and finds the key taken at the end: everything it did is rolled back and the
    stored response replayed. A concurrent duplicate waits on the first one's uncommitted key (unique index)
    and then does the same. A repeat whose action fails (the fee was withdrawn since, say) still gets the
    stored response, since that is what the key promised."""
    try:
        async with conn.transaction():
            status, body = await action(conn)
            # A key another request took first fails this insert (UniqueViolation): our work rolls back
            # and the stored response is answered below.
            await conn.execute(
                """INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
                   VALUES ($1, $2, $3, $4, $5)""",
                *claim.params(status, body),
            )
        return status, body, False
    except Exception:
        stored = await _stored(conn, claim.principal, claim.key)
        if stored is None:
            raise
    if stored["request_hash"] != claim.fingerprint:
        raise IdempotencyConflict(
            f"{HEADER} {claim.key!r} was already used with a different request", field=HEADER
        )
    return stored["response_status"], stored["response_body"], True


async def _stored(conn: asyncpg.Connection, principal: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys "
        "WHERE principal = $1 AND key = $2",
        principal,
        key,
    )
