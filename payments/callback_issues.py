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
from core.i18n import register_messages
from core.responses import ResponseModel, json_response

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


register_messages(
    {
        "callbacks.conflicts_title": (
            "Giao dịch ngân hàng báo lại với nội dung khác",
            "Bank transactions reported again with different content",
        ),
        "callbacks.conflicts_note": (
            "Lần ghi sổ đầu tiên được giữ nguyên. Đối chiếu với sao kê ngân hàng trước khi xử lý.",
            "The first booking stands. Check against the bank statement before acting.",
        ),
        "callbacks.failed_title": (
            "Thông báo ngân hàng không xử lý được",
            "Bank callbacks that could not be processed",
        ),
        "callbacks.failed_note": (
            "Đã thử lại nhiều lần rồi dừng; tiền chưa được ghi sổ. Đối chiếu với sao kê.",
            "Retried several times, then stopped; nothing was booked. Check against the statement.",
        ),
        "callbacks.field": ("Trường", "Field"),
        "callbacks.field.amount": ("Số tiền", "Amount"),
        "callbacks.field.credited_bin": ("Ngân hàng nhận (BIN)", "Credited bank (BIN)"),
        "callbacks.field.credited_account": ("Tài khoản nhận", "Credited account"),
        "callbacks.field.reference": ("Mã thanh toán", "Payment reference"),
        "callbacks.field.booked_at": ("Thời điểm ghi có", "Booked at"),
        "callbacks.first": ("Lần đầu", "First"),
        "callbacks.now": ("Lần sau", "Later"),
        "callbacks.detected": ("Phát hiện lúc", "Detected"),
        "callbacks.attempts": ("Số lần thử", "Attempts"),
        "callbacks.error": ("Lỗi", "Error"),
        "callbacks.more": ("và {count} mục khác", "and {count} more"),
        "finance.payments.outcome.over_cap": (
            "vượt ngưỡng kiểm soát, chờ xem xét",
            "above the sanity cap, held for review",
        ),
        "finance.payments.outcome.wrong_account": (
            "chuyển vào tài khoản khác của thành phố",
            "paid into another city account",
        ),
    }
)
