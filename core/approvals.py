"""Four eyes: a change that moves money by hand (a refund, an adjustment, a write-off; later disbursement
batches) is proposed by a maker and carried out only when a different person approves it.

A capability registers what runs on approval for each kind (`register_approval_handler`); the handler runs in
the approval's own transaction, so the decision and its effect commit together or not at all. The database
refuses a checker who is the maker (`approvals_four_eyes`) and any change to a decided approval
(`approvals_decided`); the code checks both first so the refusal reads well. Every step is audited.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, map_constraint
from core.i18n import register_messages


class SameMakerAndChecker(Conflict):
    slug = "approval-four-eyes"
    title_vi = "Người duyệt phải khác người đề xuất"
    title_en = "The approver must not be the maker"


class ApprovalDecided(Conflict):
    slug = "approval-decided"
    title_vi = "Đề xuất này đã được quyết định"
    title_en = "This approval has already been decided"


class ApprovalPending(Conflict):
    slug = "approval-pending"
    title_vi = "Đã có một đề xuất đang chờ duyệt cho việc này"
    title_en = "An approval for this is already pending"


register_messages(
    {
        "approvals.four_eyes": (
            "Bạn là người đề xuất; một người duyệt khác phải quyết định.",
            "You made this request; another approver must decide it.",
        ),
        "approvals.decided": ("Đề xuất này đã được quyết định.", "This request has already been decided."),
        "approvals.pending": (
            "Đã có một đề xuất đang chờ duyệt cho việc này.",
            "A request for this is already waiting for approval.",
        ),
    }
)
map_constraint(
    "approvals_four_eyes",
    SameMakerAndChecker,
    None,
    "the checker must be another person than the maker",
    message="approvals.four_eyes",
)
map_constraint(
    "approvals_decided", ApprovalDecided, None, "the approval is already decided", message="approvals.decided"
)
map_constraint(
    "approvals_one_pending",
    ApprovalPending,
    None,
    "an approval of this kind for this subject is already pending",
    message="approvals.pending",
)


@dataclass(frozen=True)
class Approval:
    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    amount: int | None
    maker: str
    made_at: datetime
    note: str | None
    state: str  # pending | approved | rejected
    checker: str | None
    decided_at: datetime | None
    decision_note: str | None


ApprovalHandler = Callable[[asyncpg.Connection, dict[str, Any], Approval], Awaitable[None]]
_HANDLERS: dict[str, ApprovalHandler] = {}


def register_approval_handler(kind: str, handler: ApprovalHandler) -> None:
    """What runs, in the approval's transaction, when an approval of `kind` is approved."""
    if kind in _HANDLERS and _HANDLERS[kind] is not handler:
        raise ValueError(f"an approval handler for {kind!r} is already registered")
    _HANDLERS[kind] = handler


def _approval(row: asyncpg.Record) -> Approval:
    payload = row["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    return Approval(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        payload=payload,
        amount=row["amount"],
        maker=row["maker"],
        made_at=row["made_at"],
        note=row["note"],
        state=row["state"],
        checker=row["checker"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
    )


async def propose(
    conn: asyncpg.Connection,
    kind: str,
    subject: str,
    payload: dict[str, Any],
    amount: int | None,
    maker: str,
    note: str | None,
) -> Approval:
    """Record a request waiting for a second person. One pending request per (kind, subject)."""
    if kind not in _HANDLERS:
        raise ValueError(f"no approval handler registered for {kind!r}")
    async with own_or_joined_transaction(conn):
        row = await conn.fetchrow(
            """INSERT INTO approvals (kind, subject, payload, amount, maker, note)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
            kind,
            subject,
            payload,
            amount,
            maker,
            note,
        )
        approval = _approval(row)
        await record_audit(
            conn,
            actor=maker,
            action="approval.proposed",
            subject=f"approval:{approval.id}",
            after={"kind": kind, "subject": subject, "amount": amount, "payload": payload, "note": note},
        )
    return approval


async def _pending_for_decision(conn: asyncpg.Connection, approval_id: int, checker: str) -> Approval:
    row = await conn.fetchrow("SELECT * FROM approvals WHERE id = $1 FOR UPDATE", approval_id)
    if row is None:
        raise NotFound(f"no approval {approval_id}", field="id")
    approval = _approval(row)
    if approval.state != "pending":
        raise ApprovalDecided(f"approval {approval_id} is {approval.state}", message="approvals.decided")
    if approval.maker == checker:
        raise SameMakerAndChecker(
            "the maker cannot decide their own request", field="checker", message="approvals.four_eyes"
        )
    return approval


async def _decide(
    conn: asyncpg.Connection, approval_id: int, checker: str, note: str | None, state: str
) -> Approval:
    row = await conn.fetchrow(
        """UPDATE approvals SET state = $2, checker = $3, decided_at = now(), decision_note = $4
            WHERE id = $1 RETURNING *""",
        approval_id,
        state,
        checker,
        note,
    )
    return _approval(row)


async def approve(conn: asyncpg.Connection, approval_id: int, checker: str, note: str | None) -> Approval:
    """Approve and carry out the request (its kind's handler), all in one transaction, audited."""
    async with own_or_joined_transaction(conn):
        pending = await _pending_for_decision(conn, approval_id, checker)
        handler = _HANDLERS.get(pending.kind)
        if handler is None:
            raise RuntimeError(f"no approval handler registered for {pending.kind!r}")
        decided = await _decide(conn, approval_id, checker, note, "approved")
        await handler(conn, decided.payload, decided)
        await record_audit(
            conn,
            actor=checker,
            action="approval.approved",
            subject=f"approval:{approval_id}",
            before={"state": "pending", "maker": pending.maker},
            after={"state": "approved", "kind": pending.kind, "subject": pending.subject, "note": note},
        )
    return decided


async def reject(conn: asyncpg.Connection, approval_id: int, checker: str, note: str | None) -> Approval:
    """Refuse the request: nothing is carried out. Also a second person's decision."""
    async with own_or_joined_transaction(conn):
        pending = await _pending_for_decision(conn, approval_id, checker)
        decided = await _decide(conn, approval_id, checker, note, "rejected")
        await record_audit(
            conn,
            actor=checker,
            action="approval.rejected",
            subject=f"approval:{approval_id}",
            before={"state": "pending", "maker": pending.maker},
            after={"state": "rejected", "kind": pending.kind, "subject": pending.subject, "note": note},
        )
    return decided


async def lock_approval(conn: asyncpg.Connection, approval_id: int) -> None:
    """Take the approval's row lock (in the caller's transaction) before the subject's own rows: the order
    `approve` takes them in (the approval, then its handler the subject's), so the two cannot deadlock."""
    await conn.execute("SELECT 1 FROM approvals WHERE id = $1 FOR UPDATE", approval_id)


async def approval_by_id(conn: asyncpg.Connection, approval_id: int) -> Approval | None:
    row = await conn.fetchrow("SELECT * FROM approvals WHERE id = $1", approval_id)
    return _approval(row) if row else None


async def approvals_list(
    conn: asyncpg.Connection, *, state: str | None = "pending", kind: str | None = None, limit: int = 200
) -> list[Approval]:
    """Newest first; `state` is pending, approved, rejected, "decided" (either) or None (all)."""
    rows = await conn.fetch(
        """SELECT * FROM approvals
            WHERE ($1::text IS NULL OR state = $1 OR ($1 = 'decided' AND state <> 'pending'))
              AND ($2::text IS NULL OR kind = $2)
            ORDER BY made_at DESC, id DESC LIMIT $3""",
        state,
        kind,
        limit,
    )
    return [_approval(r) for r in rows]


async def pending_approval_for(conn: asyncpg.Connection, kind_prefix: str, subject: str) -> Approval | None:
    """The pending request (of a kind starting with `kind_prefix`) about `subject`, if any."""
    row = await conn.fetchrow(
        """SELECT * FROM approvals WHERE state = 'pending' AND subject = $2 AND starts_with(kind, $1)
            ORDER BY id LIMIT 1""",
        kind_prefix,
        subject,
    )
    return _approval(row) if row else None
