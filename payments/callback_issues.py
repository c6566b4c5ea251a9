"""Bank callbacks that need a person: the same transaction reported twice with different content
(conflicts), and callbacks the re-processor gave up on (failed). Finance sees both on its payments page and
through the API; reconciliation will resolve them against the bank's statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from core.api import Routes, staff
from core.appkeys import POOL
from core.responses import ResponseModel, json_response
from payments import messages as _messages  # noqa: F401  (registers the package's texts)

routes = Routes(tags=("finance",))
FINANCE = staff("finance", "admin", "approver")
LIMIT = 100


class ConflictOut(ResponseModel):
    id: int
    bank_code: str
    bank_txn_id: str
    payment_id: int
    differences: dict[str, dict[str, Any]]
    detected_at: datetime


class FailedCallbackOut(ResponseModel):
    inbox_id: int
    bank_code: str
    bank_txn_id: str | None
    received_at: datetime
    attempts: int
    last_error: str | None


class CallbackIssues(ResponseModel):
    conflicts: list[ConflictOut]
    conflict_count: int
    failed: list[FailedCallbackOut]
    failed_count: int


def _without_total(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "total"}


async def callback_issues(conn: asyncpg.Connection, *, limit: int = LIMIT) -> CallbackIssues:
    conflicts = await conn.fetch(
        """SELECT id, bank_code, bank_txn_id, payment_id, differences, detected_at, count(*) OVER () AS total
             FROM callback_conflicts WHERE resolved_at IS NULL ORDER BY detected_at DESC, id DESC LIMIT $1""",
        limit,
    )
    failed = await conn.fetch(
        """SELECT id AS inbox_id, bank_code, bank_txn_id, received_at, attempts, last_error,
                  count(*) OVER () AS total
             FROM callback_inbox WHERE status = 'failed' ORDER BY received_at DESC, id DESC LIMIT $1""",
        limit,
    )
    return CallbackIssues(
        conflicts=[ConflictOut.model_validate(_without_total(r)) for r in conflicts],
        conflict_count=conflicts[0]["total"] if conflicts else 0,
        failed=[FailedCallbackOut.model_validate(_without_total(r)) for r in failed],
        failed_count=failed[0]["total"] if failed else 0,
    )


@routes.get(
    "/api/v1/finance/callback-issues",
    access=FINANCE,
    summary="Bank callbacks needing a person: open conflicts and callbacks that could not be processed",
    response=CallbackIssues,
)
async def callback_issues_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        issues = await callback_issues(conn)
    return json_response(issues)
