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


class KeyTaken(Exception):
    """Another request with this key committed first: undo our work and answer with its response."""


_KeyTaken = KeyTaken


@dataclass(frozen=True)
class KeyClaim:
    """What an action needs to write the key row in the same statement as its own insert (one round trip
    fewer): `insert_sql(n, source)` inserts the row for each row of `source` (a CTE of that statement),
    taking the key, fingerprint, status and body as parameters $n … $n+4 (`params(status, body)`); it returns
    no row when the key is taken, and the action then raises KeyTaken."""

    principal: str
    key: str
    fingerprint: str

    @staticmethod
    def insert_sql(n: int, source: str) -> str:
        return f"""INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
                   SELECT ${n}::text, ${n + 1}::text, ${n + 2}::text, ${n + 3}::int, ${n + 4}::jsonb
                     FROM {source}
                   ON CONFLICT (principal, key) DO NOTHING RETURNING true"""

    def params(self, status: int, body: dict[str, Any]) -> tuple[Any, ...]:
        return (self.principal, self.key, self.fingerprint, status, body)


# (status, body) — or, given a KeyClaim, (status, body, whether the action wrote the key row itself)
Action = Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]]
ClaimingAction = Callable[[asyncpg.Connection, KeyClaim], Awaitable[tuple[int, dict[str, Any], bool]]]


async def run_idempotent(
    conn: asyncpg.Connection,
    *,
    principal: str,
    key: str,
    fingerprint: str,
    action: Action | None = None,
    claiming_action: ClaimingAction | None = None,
) -> tuple[int, dict[str, Any], bool]:
    """Returns (status, body, replayed). The action's writes and the key row with the stored response commit
    in one transaction; if the action fails, nothing is kept and the key may be used again.

    The key is written last, with the response, so a first use costs one statement more than the action. A
    repeat does the work again and finds the key taken at the end: everything it did is rolled back and the
    stored response replayed. A concurrent duplicate waits on the first one's uncommitted key (unique index)
    and then does the same. A repeat whose action fails (the fee was withdrawn since, say) still gets the
    stored response, since that is what the key promised.

    A `claiming_action` may write the key row itself, in the statement of its own insert (KeyClaim), and
    saves the separate statement; the race is the same (the unique index makes a concurrent duplicate wait,
    and the statement then inserts no key row: KeyTaken)."""
    if (action is None) == (claiming_action is None):
        raise TypeError("give one of action and claiming_action")
    try:
        async with conn.transaction():
            if claiming_action is not None:
                status, body, written = await claiming_action(conn, KeyClaim(principal, key, fingerprint))
                if written:
                    return status, body, False
            else:
                assert action is not None
                status, body = await action(conn)
            inserted = await conn.fetchval(
                """INSERT INTO idempotency_keys (principal, key, request_hash, response_status, response_body)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (principal, key) DO NOTHING RETURNING true""",
                principal,
                key,
                fingerprint,
                status,
                body,
            )
            if not inserted:
                raise _KeyTaken
        return status, body, False
    except Exception:
        stored = await _stored(conn, principal, key)
        if stored is None:
            raise
    if stored["request_hash"] != fingerprint:
        raise IdempotencyConflict(f"{HEADER} {key!r} was already used with a different request", field=HEADER)
    return stored["response_status"], stored["response_body"], True


async def _stored(conn: asyncpg.Connection, principal: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys "
        "WHERE principal = $1 AND key = $2",
        principal,
        key,
    )
