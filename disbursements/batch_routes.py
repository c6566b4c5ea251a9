"""The batches API: build a programme's batch for a period (finance/admin, or a `disbursements:write`
token), approve it (an approver, another person than the maker), cancel it before execution, and follow it
(`GET …/batches/{id}`: state, control totals, counts per item state, failed per reason code), list batches
and page through a batch's items (masked). Handlers translate HTTP; disbursements.batches owns the
transactions."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import POOL
from core.auth import principal_of
from core.errors import NotFound
from core.responses import ResponseModel, Timestamp, json_response
from core.text import MultilineText
from disbursements.batches import (
    BATCH_STATES,
    ITEM_STATES,
    Batch,
    approve_batch,
    batch_by_id,
    batch_items,
    batch_list,
    batch_summary,
    build_batch,
    cancel_batch,
)

routes = Routes(tags=("disbursements",))
MAKERS = staff("finance", scopes=("disbursements:write",))  # not admins: see batch_pages.MAKERS
APPROVERS = staff("approver")
READERS = staff("finance", "admin", "approver", scopes=("disbursements:read",))
BASE = "/api/v1/disbursements/batches"
ID_PATH = "{batch_id:[0-9]{1,18}}"

ProgrammeCode = Literal["pension", "social_insurance", "unemployment", "social_assistance"]
BatchState = Literal["awaiting_approval", "approved", "executing", "completed", "cancelled"]
ItemState = Literal["held", "ready", "sending", "sent_unknown", "paid", "failed", "returned", "cancelled"]
assert set(BatchState.__args__) == set(BATCH_STATES) and set(ItemState.__args__) == set(ITEM_STATES)  # type: ignore[attr-defined]


class BuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: ProgrammeCode
    period: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    channel: Literal["api", "file"] = Field(
        default="api",
        description="api: the worker pays each item through the bank's API; file: finance downloads one "
        "pain.001 for the bank to execute (never both)",
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[MultilineText, Field(max_length=2000)] | None = None


class BatchOut(ResponseModel):
    id: int
    programme: str
    period: str
    state: BatchState
    control_count: int
    control_sum: int
    held_count: int
    maker: str
    checker: str | None
    counts: dict[str, int] = Field(description="Items per state (every state, zeros included)")
    failed_by_reason: dict[str, int] = Field(description="Failed items per ISO reason code")
    held_by_reason: dict[str, int]
    paid_sum: int
    needs_review: int
    last_error: str | None
    created_at: Timestamp
    approved_at: Timestamp | None
    started_at: Timestamp | None
    completed_at: Timestamp | None
    cancelled_at: Timestamp | None
    channel: Literal["api", "file"]
    file_issued_at: Timestamp | None


class BatchRow(ResponseModel):
    id: int
    programme: str
    period: str
    state: BatchState
    control_count: int
    control_sum: int
    held_count: int
    maker: str
    checker: str | None
    created_at: Timestamp


class BatchesOut(ResponseModel):
    batches: list[BatchRow]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: ProgrammeCode | None = None
    state: BatchState | None = None
    limit: int = Field(default=50, ge=1, le=200)


class ItemsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: ItemState | None = None
    after: int = Field(
        default=0, ge=0, le=10**18, description="Keyset paging: the last id of the page before"
    )
    limit: int = Field(default=100, ge=1, le=500)


class ItemOut(ResponseModel):
    id: int
    end_to_end_id: str
    beneficiary_id: int
    full_name: str = Field(description="Masked")
    national_id: str = Field(description="Masked")
    bank_bin: str | None
    account_number: str | None = Field(description="Masked")
    amount: int
    state: ItemState
    hold_reason: str | None
    reason_code: str | None
    retryable: bool | None
    needs_review: bool
    attempts: int
    bank_txn_id: str | None
    sent_at: Timestamp | None
    resolved_at: Timestamp | None


class ItemsOut(ResponseModel):
    items: list[ItemOut]
    next_after: int | None


async def _answer(request: web.Request, batch_id: int, *, status: int = 200) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        summary = await batch_summary(conn, batch_id)
    if summary is None:
        raise NotFound("no disbursement batch with this id", field="batch_id")
    return json_response(BatchOut(**vars(summary)), status=status)


@routes.post(
    BASE,
    access=MAKERS,
    summary="Build a programme's batch for a period from the roster (payable → ready, others held with the "
    "reason; control totals fixed now); it waits for another person's approval",
    body=BuildIn,
    response=BatchOut,
    status=201,
    responses={409: "A batch for this programme and period exists (not cancelled)", 422: "Invalid input"},
)
async def build_batch_api(request: web.Request, body: BuildIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        batch = await build_batch(
            conn, body.programme, body.period, maker=principal_of(request).actor, channel=body.channel
        )
    return await _answer(request, batch.id, status=201)


@routes.get(
    BASE, access=READERS, summary="Disbursement batches, newest first", query=ListQuery, response=BatchesOut
)
async def list_batches_api(request: web.Request, query: ListQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await batch_list(conn, programme=query.programme, state=query.state, limit=query.limit)
    return json_response(BatchesOut(batches=[BatchRow(**_row(b)) for b in found]))


def _row(b: Batch) -> dict:
    return {name: getattr(b, name) for name in BatchRow.model_fields}


@routes.get(
    f"{BASE}/{ID_PATH}",
    access=READERS,
    summary="A batch: state, control totals, counts per item state, failed per reason code",
    response=BatchOut,
)
async def get_batch_api(request: web.Request) -> web.Response:
    return await _answer(request, path_id(request, "batch_id"))


@routes.post(
    f"{BASE}/{ID_PATH}/approve",
    access=APPROVERS,
    summary="Approve a batch (four eyes: another person than the maker); its execution is queued",
    body=DecisionIn,
    response=BatchOut,
    responses={409: "The approver made the batch, or it is not awaiting approval"},
)
async def approve_batch_api(request: web.Request, body: DecisionIn) -> web.Response:
    batch_id = path_id(request, "batch_id")
    async with request.app[POOL].acquire() as conn:
        await approve_batch(conn, batch_id, checker=principal_of(request).actor, note=body.note)
    return await _answer(request, batch_id)


@routes.post(
    f"{BASE}/{ID_PATH}/cancel",
    access=MAKERS,
    summary="Cancel a batch before its execution starts (items stay, cancelled; the period is free again)",
    body=DecisionIn,
    response=BatchOut,
    responses={409: "The batch is executing or finished"},
)
async def cancel_batch_api(request: web.Request, body: DecisionIn) -> web.Response:
    batch_id = path_id(request, "batch_id")
    async with request.app[POOL].acquire() as conn:
        await cancel_batch(conn, batch_id, actor=principal_of(request).actor, note=body.note)
    return await _answer(request, batch_id)


@routes.get(
    f"{BASE}/{ID_PATH}/items",
    access=READERS,
    summary="A batch's items, paged by id, names and numbers masked",
    query=ItemsQuery,
    response=ItemsOut,
)
async def batch_items_api(request: web.Request, query: ItemsQuery) -> web.Response:
    batch_id = path_id(request, "batch_id")
    async with request.app[POOL].acquire() as conn:
        await batch_by_id(conn, batch_id)
        rows = await batch_items(conn, batch_id, state=query.state, after_id=query.after, limit=query.limit)
    items = [
        ItemOut(
            id=r["id"],
            end_to_end_id=r["end_to_end_id"],
            beneficiary_id=r["beneficiary_id"],
            full_name=r["full_name_masked"],
            national_id=r["national_id_masked"],
            bank_bin=r["bank_bin"],
            account_number=r["account_masked"],
            amount=r["amount"],
            state=r["state"],
            hold_reason=r["hold_reason"],
            reason_code=r["reason_code"],
            retryable=r["retryable"],
            needs_review=r["needs_review"],
            attempts=r["attempts"],
            bank_txn_id=r["bank_txn_id"],
            sent_at=r["sent_at"],
            resolved_at=r["resolved_at"],
        )
        for r in rows
    ]
    next_after = items[-1].id if len(items) == query.limit else None
    return json_response(ItemsOut(items=items, next_after=next_after))
