"""Payment requests on cached fee terms, written in groups: the creations that arrive while the previous
group is being written go to the database together, in one autocommitted statement.

Each creation is prepared by its handler (its row, its QR payload, the answer its idempotency key stores),
then waits here. A group starts as soon as fewer than `in_flight` groups are being written, so a creation
alone waits for nothing; under load, what queued meanwhile goes together (up to `max_size`). What a group
pays once instead of once per creation: the round trip, the statement's execution and the commit with its
WAL flush.

One statement writes a group. For each row it checks, in its own snapshot, what a request made from cached
terms must still match: the fee still has exactly these terms and no subsidy programme could apply. It
inserts the idempotency keys of the rows that pass, in key order, `ON CONFLICT DO NOTHING` (a key taken by a
committed creation is skipped; one in flight elsewhere is waited for, then skipped or taken), and then the
payment requests of exactly the keys it inserted. A row not written (terms changed, key taken) returns False
and its handler takes the full transactional path, which reads the terms afresh and, when the key is taken,
answers the stored response: the same outcomes as alone. One key appears at most once in a group (a
duplicate waits for the next group), so a key never pairs with two requests.

If the statement fails as a whole (a constraint one row breaks, a lost connection, a deadlock), every row of
the group returns False and goes the full path alone. If the statement had committed before the connection
broke, the full path finds each key taken and answers what was stored: no creation happens twice.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from aiohttp import web

from core.appkeys import METRICS, POOL
from core.db import database_unavailable
from core.idempotency import KeyClaim, claim_keys_sql
from core.metrics import Metrics
from payments.fee_terms import active_fee_sql, programme_may_apply_sql

log = structlog.get_logger("citypay.creation_groups")

# The columns a creation writes, with their types: the group's statement and the full path's insert
# (payments/requests.py) both take them from here, and _request_columns gives them by name.
REQUEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("reference", "text"),
    ("kind", "text"),
    ("fee_code", "text"),
    ("purpose_vi", "text"),
    ("purpose_en", "text"),
    ("payer_reference", "text"),
    ("channel", "text"),
    ("fee_amount", "bigint"),
    ("subsidy_code", "text"),
    ("subsidy_amount", "bigint"),
    ("amount_due", "bigint"),
    ("revenue_account", "text"),
    ("collection_bin", "text"),
    ("collection_account", "text"),
    ("collection_holder", "text"),
    ("qr_payload", "text"),
    ("created_by", "text"),
    ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
)
# Besides the row: the bank's name the terms were read with, and the idempotency key with its answer.
_CHECK_COLUMNS = (
    ("bank_name", "text"),
    ("principal", "text"),
    ("key", "text"),
    ("request_hash", "text"),
    ("response_status", "int"),
    ("response_body", "jsonb"),
)
_ALL = REQUEST_COLUMNS + _CHECK_COLUMNS


def _group_sql() -> str:
    # The group arrives as one JSON array of rows, each a positional array in _ALL's order: one parameter
    # that orjson encodes in one call, where 26 typed arrays cost asyncpg an encoding call and several type
    # checks per value (≈ 5 % of a creation's server CPU in py-spy).
    fields = ", ".join(
        f"e->{i} AS {name}" if kind == "jsonb" else f"(e->>{i})::{kind} AS {name}"
        for i, (name, kind) in enumerate(_ALL)
    )
    request_columns = ", ".join(name for name, _ in REQUEST_COLUMNS)
    return f"""
WITH r AS (SELECT {fields} FROM jsonb_array_elements($1::text::jsonb) AS e),
ok AS (
    SELECT r.* FROM r
     WHERE EXISTS (
            SELECT 1 FROM fee_catalogue f JOIN collection_accounts c ON c.id = f.collection_account_id
                                          JOIN banks b ON b.bin = c.bin
             WHERE {active_fee_sql("r.fee_code", "r.created_at")}
               AND f.amount = r.fee_amount AND f.name_vi = r.purpose_vi AND f.name_en = r.purpose_en
               AND f.revenue_account = r.revenue_account AND c.bin = r.collection_bin
               AND c.account_number = r.collection_account AND c.holder_name = r.collection_holder
               AND b.short_name = r.bank_name)
       AND NOT EXISTS (
            SELECT 1 FROM subsidy_programmes sp
             WHERE {programme_may_apply_sql("r.fee_code", "r.channel", "r.created_at")})),
k AS ({claim_keys_sql("ok")})
INSERT INTO payment_requests ({request_columns})
SELECT {", ".join(f"ok.{name}" for name, _ in REQUEST_COLUMNS)}
  FROM ok JOIN k ON k.principal = ok.principal AND k.key = ok.key
RETURNING id"""


_GROUP_SQL = _group_sql()


@dataclass(eq=False)
class _Waiting:
    values: tuple[Any, ...]  # in _ALL's order
    claim: KeyClaim
    written: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def answer(self, written: bool) -> None:
        if not self.written.done():
            self.written.set_result(written)


class CreationGroups:
    """One per app (a cleanup context). `write` returns whether the row and its key were written."""

    def __init__(
        self, pool: asyncpg.Pool, *, max_size: int = 64, in_flight: int = 2, metrics: Metrics | None = None
    ) -> None:
        if max_size < 1 or in_flight < 1:
            raise ValueError(
                "a group holds at least one creation, and at least one group is written at a time"
            )
        self.pool, self.max_size, self.in_flight, self.metrics = pool, max_size, in_flight, metrics
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._groups: set[asyncio.Task[None]] = set()
        self._closing = False

    async def write(
        self, row: dict[str, Any], bank_name: str, claim: KeyClaim, status: int, body: Any
    ) -> bool:
        """Write `row` (the columns of REQUEST_COLUMNS) with its idempotency key storing (status, body), if
        the fee still has the terms the row was made from. False: nothing of it was written."""
        if self._closing:
            return False
        values = (
            *(row[name] for name, _ in REQUEST_COLUMNS),
            bank_name,
            claim.principal,
            claim.key,
            claim.fingerprint,
            status,
            body,
        )
        waiting = _Waiting(values, claim)
        self._waiting.append(waiting)
        self._start_groups()
        # Shielded: a handler that goes away (client closed) leaves its row in the group.
        return await asyncio.shield(waiting.written)

    def _start_groups(self) -> None:
        while self._waiting and len(self._groups) < self.in_flight:
            group: list[_Waiting] = []
            later: list[_Waiting] = []
            keys: set[tuple[str, str]] = set()
            while self._waiting and len(group) < self.max_size:
                waiting = self._waiting.popleft()
                key = (waiting.claim.principal, waiting.claim.key)
                (later if key in keys else group).append(waiting)
                keys.add(key)
            self._waiting.extendleft(reversed(later))  # a repeated key goes with a later group
            task = asyncio.create_task(self._write_group(group))
            self._groups.add(task)
            task.add_done_callback(self._group_done)

    def _group_done(self, task: asyncio.Task[None]) -> None:
        self._groups.discard(task)
        if not self._closing or self._waiting:
            self._start_groups()

    async def _write_group(self, group: Sequence[_Waiting]) -> None:
        written: set[Any] = set()
        try:
            if self.metrics is not None:
                self.metrics.creation_group_size.observe(len(group))
            # orjson's own forms: timestamps in RFC 3339 with their offset, UUIDs as text.
            rows = orjson.dumps([w.values for w in group]).decode()
            async with self.pool.acquire() as conn:
                written = await self._insert(conn, rows)
        except Exception as exc:
            # Each goes the full path alone, which reports an unavailable database as the handler should.
            if self.metrics is not None:
                self.metrics.creation_group_failed.inc()
            log.warning(
                "creation_group_failed",
                size=len(group),
                error=type(exc).__name__,
                database_unavailable=database_unavailable(exc),
            )
        finally:
            for waiting in group:
                waiting.answer(waiting.values[0] in written)

    @staticmethod
    async def _insert(conn: asyncpg.Connection, rows: str) -> set[Any]:
        """The group's statement (autocommitted): the ids of the requests it wrote."""
        return {row["id"] for row in await conn.fetch(_GROUP_SQL, rows)}

    async def close(self) -> None:
        """Write what is waiting, then end."""
        self._closing = True
        while self._groups:
            await asyncio.gather(*self._groups, return_exceptions=True)
        for waiting in self._waiting:
            waiting.answer(False)
        self._waiting.clear()


CREATION_GROUPS = web.AppKey("creation_groups", CreationGroups)


async def creation_groups(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the app's creation groups, after the database pool."""
    groups = CreationGroups(app[POOL], metrics=app[METRICS])
    app[CREATION_GROUPS] = groups
    yield
    await groups.close()
