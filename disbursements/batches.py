"""Monthly batches: built from the roster (payable → ready items, the rest held with their reason; control
totals fixed at creation), approved by another person than the maker (core four eyes, kind
`disbursements.batch`, whose handler moves the batch to approved and queues its execution), cancelled before
execution, and read back as a summary (`batch_summary`) that the API, the pages and their live stream use.

The database keeps the rules too (migration 0016): one batch per programme and period (not counting cancelled
ones), one item per (programme, period, beneficiary) across batches, maker ≠ checker, states only forward,
an item's amount, beneficiary and account never change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from core.approvals import (
    Approval,
    SameMakerAndChecker,
    approval_by_id,
    approve,
    lock_approval,
    propose,
    register_approval_handler,
    reject,
)
from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from core.i18n import register_messages
from core.outbox import enqueue

APPROVAL_KIND = "disbursements.batch"
EXECUTE_KIND = "disbursements.execute"
PROGRAMMES = ("pension", "social_insurance", "unemployment", "social_assistance")
BATCH_STATES = ("awaiting_approval", "approved", "executing", "completed", "cancelled")
ITEM_STATES = ("held", "ready", "sending", "sent_unknown", "paid", "failed", "returned", "cancelled")
FINAL_ITEM_STATES = ("held", "paid", "failed", "returned", "cancelled")
# How many outbox items drive one batch's execution: each is a lane any worker process may take, so several
# processes share a batch (items are claimed with SKIP LOCKED and a lease, never by lane).
EXECUTION_LANES = 4
_PROGRAMME_LETTER = {"pension": "P", "social_insurance": "S", "unemployment": "U", "social_assistance": "A"}

register_messages(
    {
        "disb.batch.exists": (
            "Đã có một bảng kê cho chương trình và kỳ này.",
            "A batch for this programme and period already exists.",
        ),
        "disb.batch.not_awaiting": (
            "Bảng kê không còn chờ duyệt.",
            "The batch is no longer awaiting approval.",
        ),
        "disb.batch.started": (
            "Bảng kê đã bắt đầu chi trả; không thể hủy.",
            "The batch has started paying; it cannot be cancelled.",
        ),
        "disb.batch.empty": (
            "Không có người hưởng nào đang tham gia chương trình này.",
            "Nobody is enrolled in this programme.",
        ),
        "disb.batch.fixed": (
            "Bảng kê đã duyệt không thể sửa.",
            "An approved batch cannot be changed.",
        ),
    }
)


class BatchExists(Conflict):
    slug = "disb-batch-exists"
    title_vi = "Bảng kê của kỳ này đã tồn tại"
    title_en = "A batch for this programme and period exists"


class BatchNotAwaitingApproval(Conflict):
    slug = "disb-batch-not-awaiting-approval"
    title_vi = "Bảng kê không còn chờ duyệt"
    title_en = "The batch is not awaiting approval"


class BatchStarted(Conflict):
    slug = "disb-batch-started"
    title_vi = "Bảng kê đã bắt đầu chi trả"
    title_en = "The batch has started executing"


class BatchFixed(Conflict):
    slug = "disb-batch-fixed"
    title_vi = "Bảng kê đã cố định"
    title_en = "The batch is fixed"


map_constraint(
    "disb_batches_one_per_period",
    BatchExists,
    "period",
    "a batch for this programme and period exists (cancel it first to rebuild)",
    message="disb.batch.exists",
)
map_constraint(
    "disb_items_once",
    BatchExists,
    "period",
    "a beneficiary is paid once per programme and period",
    message="disb.batch.exists",
)
map_constraint(
    "disb_batches_four_eyes",
    SameMakerAndChecker,
    None,
    "the checker must be another person than the maker",
    message="approvals.four_eyes",
)
map_constraint(
    "disb_batches_fixed", BatchFixed, None, "a batch is fixed at creation", message="disb.batch.fixed"
)
map_constraint(
    "disb_items_fixed", BatchFixed, None, "an item is fixed at creation", message="disb.batch.fixed"
)
map_constraint("disb_batches_forward", BatchStarted, None, "batch states only move forward")
map_constraint("disb_items_forward", BatchStarted, None, "item states only move forward")


CHANNELS = ("api", "file")


@dataclass(frozen=True)
class Batch:
    id: int
    programme: str
    period: str
    state: str
    control_count: int
    control_sum: int
    held_count: int
    maker: str
    checker: str | None
    approval_id: int | None
    reserve_id: int | None
    last_error: str | None
    created_at: datetime
    approved_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    channel: str = "api"  # api: the worker pays each item; file: the bank executes our pain.001 (0018)
    file_issued_at: datetime | None = None


@dataclass(frozen=True)
class BatchSummary:
    """What a batch's pages, its live stream and `GET …/batches/{id}` show."""

    id: int
    programme: str
    period: str
    state: str
    control_count: int
    control_sum: int
    held_count: int
    maker: str
    checker: str | None
    counts: Mapping[str, int]  # every item state, zero included
    failed_by_reason: Mapping[str, int]
    paid_sum: int
    needs_review: int
    last_error: str | None
    created_at: datetime
    approved_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    held_by_reason: Mapping[str, int] = field(default_factory=dict)
    channel: str = "api"
    file_issued_at: datetime | None = None


def _batch(row: asyncpg.Record) -> Batch:
    return Batch(**{name: row[name] for name in Batch.__dataclass_fields__})


def check_period(period: str) -> str:
    if (
        not isinstance(period, str)
        or len(period) != 7
        or period[4] != "-"
        or not (period[:4].isdigit() and period[5:].isdigit())
        or not 1 <= int(period[5:]) <= 12
        or not 2000 <= int(period[:4]) <= 2099
    ):
        raise ValidationFailed("a period is YYYY-MM (2000–2099)", field="period")
    return period


async def batch_by_id(conn: asyncpg.Connection, batch_id: int, *, lock: bool = False) -> Batch:
    row = await conn.fetchrow(
        f"SELECT * FROM disb_batches WHERE id = $1{' FOR UPDATE' if lock else ''}", batch_id
    )
    if row is None:
        raise NotFound("no disbursement batch with this id", field="batch_id")
    return _batch(row)


async def build_batch(
    conn: asyncpg.Connection, programme: str, period: str, *, maker: str, channel: str = "api"
) -> Batch:
    """One transaction: the batch, an item per active enrolment (ready when payable, else held with the
    roster's reason), the control totals of the ready items, the approval request, the audit row."""
    if programme not in PROGRAMMES:
        raise ValidationFailed(f"programme is one of {', '.join(PROGRAMMES)}", field="programme")
    if channel not in CHANNELS:
        raise ValidationFailed("channel is api or file", field="channel")
    check_period(period)
    async with own_or_joined_transaction(conn):
        batch_id = await conn.fetchval(
            """INSERT INTO disb_batches
                   (programme, period, control_count, control_sum, held_count, maker, channel)
               VALUES ($1, $2, 0, 0, 0, $3, $4) RETURNING id""",
            programme,
            period,
            maker,
            channel,
        )
        prefix = f"{_PROGRAMME_LETTER[programme]}{period.replace('-', '')}-{batch_id}-"
        await conn.execute(
            """INSERT INTO disb_items (batch_id, programme, period, beneficiary_id, account_id, amount,
                   end_to_end_id, state, hold_reason)
               SELECT $1, r.programme, $2, r.beneficiary_id, r.account_id, r.monthly_amount,
                      $3 || r.beneficiary_id, CASE WHEN r.hold_reason IS NULL THEN 'ready' ELSE 'held' END,
                      r.hold_reason
                 FROM disb_roster r WHERE r.programme = $4
                ORDER BY r.beneficiary_id""",
            batch_id,
            period,
            prefix,
            programme,
        )
        totals = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE state = 'ready') AS ready,
                      coalesce(sum(amount) FILTER (WHERE state = 'ready'), 0)::bigint AS ready_sum,
                      count(*) FILTER (WHERE state = 'held') AS held
                 FROM disb_items WHERE batch_id = $1""",
            batch_id,
        )
        if totals["ready"] + totals["held"] == 0:
            raise ValidationFailed(
                f"nobody is enrolled in {programme}", field="programme", message="disb.batch.empty"
            )
        approval = await propose(
            conn,
            APPROVAL_KIND,
            f"disb-batch:{batch_id}",
            {"batch_id": batch_id},
            totals["ready_sum"],
            maker,
            f"{programme} {period}: {totals['ready']} payouts, {totals['held']} held",
        )
        row = await conn.fetchrow(
            """UPDATE disb_batches SET control_count = $2, control_sum = $3, held_count = $4, approval_id = $5
                WHERE id = $1 RETURNING *""",
            batch_id,
            totals["ready"],
            totals["ready_sum"],
            totals["held"],
            approval.id,
        )
        await record_audit(
            conn,
            actor=maker,
            action="disb.batch_built",
            subject=f"disb-batch:{batch_id}",
            after={
                "programme": programme,
                "period": period,
                "control_count": totals["ready"],
                "control_sum": totals["ready_sum"],
                "held_count": totals["held"],
                "approval_id": approval.id,
                "channel": channel,
            },
        )
    return _batch(row)


async def _carry_out_approval(conn: asyncpg.Connection, payload: dict[str, Any], approval: Approval) -> None:
    """The four-eyes handler: in the approval's transaction, the batch becomes approved and its execution is
    queued (it runs only if this commits)."""
    batch = await batch_by_id(conn, int(payload["batch_id"]), lock=True)
    if batch.state != "awaiting_approval":
        raise BatchNotAwaitingApproval(
            f"batch {batch.id} is {batch.state}", field="batch_id", message="disb.batch.not_awaiting"
        )
    checker = approval.checker or ""
    if checker == batch.maker:
        raise SameMakerAndChecker(
            "the maker cannot approve their own batch", field="checker", message="approvals.four_eyes"
        )
    await conn.execute(
        """UPDATE disb_batches SET state = 'approved', checker = $2, approved_at = now() WHERE id = $1""",
        batch.id,
        checker,
    )
    # A file batch is never the worker's: it starts when finance first downloads its pain.001 (file_payouts).
    for lane in range(EXECUTION_LANES if batch.channel == "api" else 0):
        await enqueue(
            conn, EXECUTE_KIND, {"batch_id": batch.id, "lane": lane}, f"disb-batch:{batch.id}:lane:{lane}"
        )
    await record_audit(
        conn,
        actor=checker,
        action="disb.batch_approved",
        subject=f"disb-batch:{batch.id}",
        before={"state": "awaiting_approval", "maker": batch.maker},
        after={"state": "approved", "checker": checker, "approval_id": approval.id},
    )


register_approval_handler(APPROVAL_KIND, _carry_out_approval)


# Why a ready item is not sent after all, judged when it is sent (API channel: claimed by a lane; file
# channel: the first download of the payment file), with `b` the beneficiary and `a` the item's account:
# payments stopped by the bank, the account replaced since the batch was built, or no longer verified.
HOLD_AT_SEND_SQL = """CASE WHEN b.payments_stopped_reason = 'AC04' THEN 'stopped_ac04'
                WHEN b.payments_stopped_reason = 'MD07' THEN 'stopped_md07'
                WHEN a.id IS NULL OR NOT a.active THEN 'account_changed'
                WHEN a.state <> 'verified' THEN a.state
                WHEN a.verified_until <= now() THEN 'expired'
           END"""


async def _lock_approval_then_batch(conn: asyncpg.Connection, batch_id: int) -> Batch:
    """The batch's approval row, then the batch's: the order `core.approvals.approve` takes them in (it locks
    the approval, then its handler the batch). In the other order, the same batch approved here and through
    /api/v1/approvals at once deadlocked, and one of the two answered 500. A batch's approval is fixed when
    it is built, so reading it unlocked first is safe."""
    approval_id = await conn.fetchval("SELECT approval_id FROM disb_batches WHERE id = $1", batch_id)
    if approval_id is not None:
        await lock_approval(conn, approval_id)
    return await batch_by_id(conn, batch_id, lock=True)


async def approve_batch(
    conn: asyncpg.Connection, batch_id: int, *, checker: str, note: str | None = None
) -> Batch:
    """Another person than the maker approves: the batch's approval is decided and carried out at once."""
    async with own_or_joined_transaction(conn):
        batch = await _lock_approval_then_batch(conn, batch_id)
        if batch.state != "awaiting_approval" or batch.approval_id is None:
            raise BatchNotAwaitingApproval(
                f"batch {batch_id} is {batch.state}", field="batch_id", message="disb.batch.not_awaiting"
            )
        if checker == batch.maker:
            raise SameMakerAndChecker(
                "the maker cannot approve their own batch", field="checker", message="approvals.four_eyes"
            )
        approval = await approval_by_id(conn, batch.approval_id)
        if approval is None or approval.state != "pending":
            raise BatchNotAwaitingApproval(
                f"the approval of batch {batch_id} was already decided ({approval and approval.state}); "
                "cancel the batch and build it again",
                field="batch_id",
                message="disb.batch.not_awaiting",
            )
        await approve(conn, batch.approval_id, checker, note)
        return await batch_by_id(conn, batch_id)


async def cancel_batch(
    conn: asyncpg.Connection, batch_id: int, *, actor: str, note: str | None = None
) -> Batch:
    """Before execution only: the batch and its items become cancelled (kept as the record of what was
    proposed; the period is free for a new batch). A pending approval is rejected when the canceller may
    decide it (another person than the maker); otherwise it stays and is refused if ever approved."""
    async with own_or_joined_transaction(conn):
        batch = await _lock_approval_then_batch(conn, batch_id)
        if batch.state not in ("awaiting_approval", "approved"):
            raise BatchStarted(
                f"batch {batch_id} is {batch.state}; only a batch not yet executing can be cancelled",
                field="batch_id",
                message="disb.batch.started",
            )
        await conn.execute(
            "UPDATE disb_batches SET state = 'cancelled', cancelled_at = now() WHERE id = $1", batch_id
        )
        await conn.execute(
            "UPDATE disb_items SET state = 'cancelled', hold_reason = NULL WHERE batch_id = $1", batch_id
        )
        if batch.approval_id is not None and actor != batch.maker:
            approval = await approval_by_id(conn, batch.approval_id)
            if approval is not None and approval.state == "pending":
                await reject(conn, batch.approval_id, actor, note or "batch cancelled")
        await record_audit(
            conn,
            actor=actor,
            action="disb.batch_cancelled",
            subject=f"disb-batch:{batch_id}",
            before={"state": batch.state},
            after={"state": "cancelled", "note": note},
        )
        return await batch_by_id(conn, batch_id)


async def batch_summary(conn: asyncpg.Connection, batch_id: int) -> BatchSummary | None:
    """State, control totals, counts per item state (every state, zeros included), failed per reason code,
    held per reason; None when there is no such batch. Reads the (batch_id, state) index."""
    row = await conn.fetchrow("SELECT * FROM disb_batches WHERE id = $1", batch_id)
    if row is None:
        return None
    groups = await conn.fetch(
        """SELECT state, coalesce(reason_code, hold_reason) AS reason, count(*) AS n,
                  coalesce(sum(amount), 0)::bigint AS total, count(*) FILTER (WHERE needs_review) AS review
             FROM disb_items WHERE batch_id = $1 GROUP BY 1, 2""",
        batch_id,
    )
    counts = dict.fromkeys(ITEM_STATES, 0)
    failed: dict[str, int] = {}
    held: dict[str, int] = {}
    paid_sum = review = 0
    for g in groups:
        counts[g["state"]] += g["n"]
        review += g["review"]
        if g["state"] == "failed":
            failed[g["reason"]] = failed.get(g["reason"], 0) + g["n"]
        elif g["state"] == "held":
            held[g["reason"]] = held.get(g["reason"], 0) + g["n"]
        elif g["state"] == "paid":
            paid_sum += g["total"]
    return BatchSummary(
        id=row["id"],
        programme=row["programme"],
        period=row["period"],
        state=row["state"],
        control_count=row["control_count"],
        control_sum=row["control_sum"],
        held_count=row["held_count"],
        maker=row["maker"],
        checker=row["checker"],
        counts=counts,
        failed_by_reason=dict(sorted(failed.items())),
        paid_sum=paid_sum,
        needs_review=review,
        last_error=row["last_error"],
        created_at=row["created_at"],
        approved_at=row["approved_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"],
        held_by_reason=dict(sorted(held.items())),
        channel=row["channel"],
        file_issued_at=row["file_issued_at"],
    )


async def batch_list(
    conn: asyncpg.Connection, *, programme: str | None = None, state: str | None = None, limit: int = 100
) -> list[Batch]:
    rows = await conn.fetch(
        """SELECT * FROM disb_batches
            WHERE ($1::text IS NULL OR programme = $1) AND ($2::text IS NULL OR state = $2)
            ORDER BY id DESC LIMIT $3""",
        programme,
        state,
        limit,
    )
    return [_batch(r) for r in rows]


async def batch_items(
    conn: asyncpg.Connection, batch_id: int, *, state: str | None = None, after_id: int = 0, limit: int = 100
) -> list[asyncpg.Record]:
    """One page of a batch's items with the beneficiary's and account's masked forms only (keyset paging)."""
    await batch_by_id(conn, batch_id)
    return await conn.fetch(
        """SELECT i.id, i.end_to_end_id, i.beneficiary_id, i.amount, i.state, i.hold_reason, i.reason_code,
                  i.retryable, i.needs_review, i.attempts, i.bank_txn_id, i.sent_at, i.resolved_at,
                  b.full_name_masked, b.national_id_masked, a.bank_bin, a.account_masked
             FROM disb_items i
             JOIN disb_beneficiaries b ON b.id = i.beneficiary_id
             LEFT JOIN disb_accounts a ON a.id = i.account_id
            WHERE i.batch_id = $1 AND ($2::text IS NULL OR i.state = $2) AND i.id > $3
            ORDER BY i.id LIMIT $4""",
        batch_id,
        state,
        after_id,
        limit,
    )
