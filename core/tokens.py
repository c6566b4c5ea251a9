"""API tokens for machine clients: scoped, bound to the fee codes and channels they may use, stored only as
a hash (the secret is shown once), revocable. core.auth turns a presented token into a Principal.

Each server process keeps the tokens it verified for a few seconds (`TokenCache`), so a busy client costs
no database round trip per request. A revocation notifies every process (NOTIFY on `TOKEN_CHANNEL`, sent
in the revoking transaction, so at its commit) and each drops the token at once; a process whose listening
connection is down does not use its cache at all, and empties it when it listens again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from core.audit import record_audit
from core.errors import ValidationFailed
from core.notified_cache import NotifiedCache, listening_service
from core.vocabulary import FEE_CODE_RE

if TYPE_CHECKING:
    from core.auth import Principal

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
        # Delivered at commit to every process's listener: each forgets the token before its next request.
        await conn.execute("SELECT pg_notify($1, $2)", TOKEN_CHANNEL, str(token_id))
        await record_audit(
            conn,
            actor=actor,
            action="token.revoke",
            subject=f"token:{token_id}",
            before={"name": row["name"], "scopes": list(row["scopes"])},
        )
    for cache in TokenCache.in_this_process():  # this process need not wait for its own notification
        cache.forget(token_id)
    return True


# Verified tokens, cached per process ----------------------------------------------------------------------

TOKEN_CHANNEL = "citypay_api_token_changed"  # noqa: S105 (a channel name, not a secret)
TOKEN_CACHE_S = 5.0  # how long a verified token is trusted without asking the database (0: never cached)
TOKEN_CACHE_MAX = 10_000  # memory bound: beyond it the oldest entries are dropped


def cache_key(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


class TokenCache(NotifiedCache):
    """Principals of recently verified tokens, keyed by the presented token's SHA-256. Trusted only while
    `listening` (revocations reach this process); a revocation bumps `generation`, so a verification that
    read the token before the revocation and finishes after it is not cached (core/notified_cache.py)."""

    channel = TOKEN_CHANNEL
    application_name = "citypay-token-revocations"
    failure_event = "token_listener_failed"

    def __init__(self, ttl_s: float = TOKEN_CACHE_S, max_entries: int = TOKEN_CACHE_MAX) -> None:
        super().__init__()
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Principal]] = {}

    def get(self, key: bytes) -> Principal | None:
        if not self.listening:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: bytes, principal: Principal, generation: int) -> None:
        if not self.listening or generation != self.generation or self.ttl_s <= 0:
            return
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (time.monotonic() + self.ttl_s, principal)

    def forget(self, token_id: int) -> None:
        self.generation += 1
        for key in [k for k, (_, p) in self._entries.items() if p.id == token_id]:
            del self._entries[key]

    def _drop(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, payload: str) -> None:
        try:
            self.forget(int(payload))
        except ValueError:  # not ours to read: forget everything rather than trust a stale entry
            self.clear()


TOKEN_CACHE = web.AppKey("token_cache", TokenCache)
# cleanup_ctx: this process's token cache and the connection that hears revocations.
token_revocations = listening_service(
    TOKEN_CACHE, lambda: TokenCache(TOKEN_CACHE_S), task_name="token-revocations"
)
