"""Batch pages for finance and approvers (Vietnamese first): the list of batches with their control totals,
the build form, one batch with its counts per state, refusals by reason, the held-out beneficiaries with
reasons, approve / cancel for the right people (the page says why the maker sees no approve button), the
pain.001 and CSV downloads, and live progress over server-sent events
(`GET /disbursements/batches/{id}/events`).

Building, approving and cancelling are batches.py's (C's) functions; this module only reads and shows. The
event stream polls `batch_summary` about once a second per open page (a read of one batch's item counts
through the (batch_id, state) index) and pushes it when it changed; it ends when the batch is completed or
cancelled. Nothing rests on this process's memory: a page that reconnects gets the current summary first.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import KEYS, POOL
from core.audit import record_audit
from core.auth import principal_of
from core.csv_download import csv_download
from core.errors import Conflict, NotFound
from core.forms import EMPTY_FORM, FormState
from core.i18n import request_language, translate
from core.pages import render_html
from core.responses import dump
from core.text import MultilineText
from disbursements import batches
from disbursements import report_messages as _messages  # noqa: F401  (registers the texts)
from disbursements.batch_routes import BatchOut
from disbursements.execution import start_execution
from disbursements.file_payouts import issue_file
from disbursements.pain001 import EXPORTABLE_BATCH_STATES, batch_initiation, build_pain001
from disbursements.report_pages import (
    PAGE_READERS,
    Programme,
    code_meaning,
    current_period,
    format_count,
    hold_meaning,
)
from disbursements.reports import PERIOD_PATTERN, PROGRAMMES, REASON_CODES

routes = Routes(tags=("disbursements",))
# Who builds and cancels batches, and may download the payment file: finance only. An admin, who manages
# staff accounts, could otherwise build a batch, create an approver and approve it alone.
MAKERS = staff("finance")
APPROVERS = staff("approver")  # four eyes: another person than the maker
ID_PATH = "{batch_id:[0-9]{1,18}}"
BATCH_STATES = ("awaiting_approval", "approved", "executing", "completed", "cancelled")
TERMINAL = ("completed", "cancelled")
POLL_S = 1.0  # how often an open page's stream reads the summary
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing a quiet stream
MAX_STREAM_S = 30 * 60.0  # then the stream ends and the browser reconnects (retry: 3000)
HELD_SHOWN = 200
LIST_LIMIT = 200
# The progress bar's segments, in the order drawn.
BAR_STATES = ("paid", "failed", "sent_unknown", "sending", "returned", "held", "ready")


# Reads ----------------------------------------


@dataclass(frozen=True)
class Progress:
    """A batch's summary (batches.batch_summary) as the page and its event stream show it."""

    summary: batches.BatchSummary

    @property
    def state(self) -> str:
        return self.summary.state

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.summary.counts)

    @property
    def control_count(self) -> int:
        return self.summary.control_count

    def event(self) -> dict[str, Any]:
        """`GET /api/v1/disbursements/batches/{id}`'s answer, with the progress bar's segment widths (per cent
        of all items, held included) and whether the stream is over."""
        s = self.summary
        total = sum(s.counts.values()) or 1
        return {
            **dump(BatchOut(**vars(s))),
            "bar": {state: round(100 * s.counts.get(state, 0) / total, 2) for state in BAR_STATES},
            "done": s.state in TERMINAL,
        }


async def read_progress(conn: asyncpg.Connection, batch_id: int) -> Progress:
    summary = await batches.batch_summary(conn, batch_id)
    if summary is None:
        raise NotFound("no disbursement batch with this id", field="batch_id")
    return Progress(summary)


def _may_approve(principal, batch: batches.BatchSummary) -> tuple[bool, str | None]:
    """Whether this person sees the approve button, and if not (while the batch awaits approval) why."""
    if batch.state != "awaiting_approval":
        return False, None
    if batch.maker in (principal.name, principal.actor):
        return False, "disb.bp.why_no_approve_maker"
    if principal.role != "approver":
        return False, "disb.bp.why_no_approve_role"
    return True, None


# Pages ----------------------------------------


class BuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    programme: Programme
    period: str = Field(pattern=PERIOD_PATTERN, description="YYYY-MM")
    channel: Literal["api", "file"] = "api"


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: MultilineText | None = Field(default=None, max_length=2000)


def _num(request: web.Request):
    lang = request_language(request)
    return lambda n: format_count(n, lang)


async def _list_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await batches.batch_list(conn, limit=LIST_LIMIT)
    principal = principal_of(request)
    return render_html(
        request,
        "disbursements/batch_list.html",
        status=status,
        form=form,
        batches=rows,
        programmes=PROGRAMMES,
        period=current_period(),
        may_build=principal.role in MAKERS.roles,
        num=_num(request),
    )


@routes.get(
    "/disbursements/batches",
    access=PAGE_READERS,
    summary="Disbursement batches (page): control totals, states, and the build form",
    in_openapi=False,
    produces="text/html",
)
async def batch_list_page(request: web.Request) -> web.Response:
    return await _list_page(request)


@routes.form_post(
    "/disbursements/batches/build",
    access=MAKERS,
    summary="Build a batch for a programme and period (form)",
    form=BuildIn,
    page=_list_page,
)
async def build_batch_form(request: web.Request, form: BuildIn) -> web.Response:
    batch_id = await batches_build(request, form.programme, form.period, form.channel)
    raise web.HTTPSeeOther(f"/disbursements/batches/{batch_id}?built=1")


async def _batch_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200, **_: Any
) -> web.Response:
    batch_id = path_id(request, "batch_id")
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        progress = await read_progress(conn, batch_id)
        held = await batches.batch_items(conn, batch_id, state="held", limit=HELD_SHOWN)
    batch = progress.summary
    principal = principal_of(request)
    may_approve, why_not = _may_approve(principal, batch)
    held_total = progress.counts.get("held", 0)
    return render_html(
        request,
        "disbursements/batch.html",
        status=status,
        form=form,
        batch=batch,
        progress=progress,
        event=progress.event(),
        bar_states=BAR_STATES,
        held=held,
        held_more=max(held_total - len(held), 0),
        may_approve=may_approve,
        why_not=why_not,
        may_cancel=principal.role in MAKERS.roles and batch.state in ("awaiting_approval", "approved"),
        may_download=principal.role in MAKERS.roles,
        # Only a file batch has a file: the worker pays the others through the API (never both).
        pain_ready=batch.channel == "file"
        and batch.state in EXPORTABLE_BATCH_STATES
        and batch.control_count > 0,
        built=request.query.get("built") == "1" and not form.failed,
        saved=request.query.get("saved") or None,
        programme_name=translate(f"disb.programme.{batch.programme}", lang),
        num=_num(request),
        code_meaning=lambda c: code_meaning(c, lang),
        hold_meaning=lambda c: hold_meaning(c, lang),
        meanings={c: code_meaning(c, lang) for c in REASON_CODES},
        state_labels={s: translate(f"disb.bp.state.{s}", lang) for s in BATCH_STATES},
    )


@routes.get(
    f"/disbursements/batches/{ID_PATH}",
    access=PAGE_READERS,
    summary="One disbursement batch (page) with live progress",
    in_openapi=False,
    produces="text/html",
)
async def batch_page(request: web.Request) -> web.Response:
    resp = await _batch_page(request)
    resp.headers["Cache-Control"] = "no-cache"  # the progress changes; never show a stale copy
    return resp


@routes.form_post(
    f"/disbursements/batches/{ID_PATH}/approve",
    access=APPROVERS,
    summary="Approve a batch (form; another person than the maker)",
    page=_batch_page,
)
async def approve_batch_form(request: web.Request, form: BaseModel) -> web.Response:
    batch_id = path_id(request, "batch_id")
    await batches_approve(request, batch_id)
    raise web.HTTPSeeOther(f"/disbursements/batches/{batch_id}?saved=approved")


@routes.form_post(
    f"/disbursements/batches/{ID_PATH}/cancel",
    access=MAKERS,
    summary="Cancel a batch before execution (form)",
    form=CancelIn,
    page=_batch_page,
)
async def cancel_batch_form(request: web.Request, form: CancelIn) -> web.Response:
    batch_id = path_id(request, "batch_id")
    await batches_cancel(request, batch_id, form.note)
    raise web.HTTPSeeOther(f"/disbursements/batches/{batch_id}?saved=cancelled")


# C's service functions, called the one way the pages need ----------------------------------------


async def batches_build(request: web.Request, programme: str, period: str, channel: str = "api") -> int:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        built = await batches.build_batch(conn, programme, period, maker=principal.actor, channel=channel)
    return built.id


async def batches_approve(request: web.Request, batch_id: int) -> None:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        await batches.approve_batch(conn, batch_id, checker=principal.actor)


async def batches_cancel(request: web.Request, batch_id: int, note: str | None) -> None:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        await batches.cancel_batch(conn, batch_id, actor=principal.actor, note=note)


# Downloads ----------------------------------------


@routes.get(
    f"/disbursements/batches/{ID_PATH}/pain001.xml",
    access=MAKERS,
    summary="The batch's payable items as an ISO 20022 pain.001.001.09 payment file (plain account numbers "
    "and names: finance/admin only, every download audited, never cached)",
    in_openapi=False,
    produces="application/xml",
)
async def batch_pain001(request: web.Request) -> web.Response:
    batch_id = path_id(request, "batch_id")
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        batch = await batches.batch_by_id(conn, batch_id)
    if batch.channel == "file" and batch.state == "approved":
        # Handing the file out sends it: the batch starts here (its funds reserved), as the worker's do.
        batch = await start_execution(request.app[POOL], batch_id)
        if batch.state == "approved":
            raise Conflict(
                batch.last_error or "the programme's funds could not be reserved",
                field="batch_id",
                message="disb.pain001.not_funded",
            )
    async with request.app[POOL].acquire() as conn, conn.transaction():
        # Issued first: an item held at issue (its account replaced since the build) is not in the file.
        await issue_file(conn, await batches.batch_by_id(conn, batch_id, lock=True), principal.actor)
        initiation = await batch_initiation(conn, request.app[KEYS], batch_id)
        # Audited in the same transaction as the read: no file leaves without its row in the log.
        await record_audit(
            conn,
            actor=principal.actor,
            action="disbursements.pain001_downloaded",
            subject=f"disb_batch:{batch_id}",
            after={
                "message_id": initiation.message_id,
                "count": initiation.count,
                "sum": initiation.total,
            },
        )
    # A 100,000-item file takes seconds of CPU (measured ~5 s on the shared test machine): off the event loop.
    body = await asyncio.get_running_loop().run_in_executor(None, build_pain001, initiation)
    resp = web.Response(body=body, content_type="application/xml", charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="pain001-bang-ke-{batch_id}.xml"'
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


ITEM_COLUMNS = (
    "e2e",
    "beneficiary",
    "national_id",
    "bank",
    "account",
    "amount",
    "state",
    "reason",
    "meaning",
)


@routes.get(
    f"/disbursements/batches/{ID_PATH}/items.csv",
    access=PAGE_READERS,
    summary="The batch's items (CSV; names, ID numbers and accounts masked)",
    in_openapi=False,
    produces="text/csv",
)
async def batch_items_csv(request: web.Request) -> web.Response:
    batch_id = path_id(request, "batch_id")
    lang = request_language(request)
    rows: list[asyncpg.Record] = []
    async with request.app[POOL].acquire() as conn:
        while True:  # keyset pages of batches.batch_items (masked names, ID numbers and accounts only)
            page = await batches.batch_items(
                conn, batch_id, after_id=rows[-1]["id"] if rows else 0, limit=5000
            )
            rows += page
            if len(page) < 5000:
                break
    header = [
        translate(
            {
                "e2e": "disb.bp.col.e2e",
                "beneficiary": "disb.bp.col.beneficiary",
                "national_id": "disb.bp.col.national_id",
                "bank": "disb.bp.col.bank",
                "account": "disb.bp.col.account",
                "amount": "disb.bp.col.amount",
                "state": "disb.bp.col.state",
                "reason": "disb.bp.col.code",
                "meaning": "disb.bp.col.reason",
            }[c],
            lang,
        )
        for c in ITEM_COLUMNS
    ]

    def meaning(r: asyncpg.Record) -> str:
        if r["state"] == "failed" and r["reason_code"]:
            return code_meaning(r["reason_code"], lang)
        if r["state"] == "held" and r["hold_reason"]:
            return hold_meaning(r["hold_reason"], lang)
        return ""

    table = [
        [
            r["end_to_end_id"],
            r["full_name_masked"],
            r["national_id_masked"],
            r["bank_bin"],
            r["account_masked"],
            r["amount"],
            translate(f"disb.bp.item.{r['state']}", lang),
            r["reason_code"] or r["hold_reason"],
            meaning(r),
        ]
        for r in rows
    ]
    return csv_download(f"bang-ke-{batch_id}.csv", header, table)


# Live progress ----------------------------------------


def _sse(event: str, data: dict, event_id: int) -> bytes:
    return f"event: {event}\nid: {event_id}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@routes.get(
    f"/disbursements/batches/{ID_PATH}/events",
    access=PAGE_READERS,
    summary="Live progress of a batch (server-sent events: `summary` now and whenever the counts or state "
    "change, a comment every 15 s, ends when the batch is completed or cancelled)",
    in_openapi=False,
    produces="text/event-stream",
)
async def batch_events(request: web.Request) -> web.StreamResponse:
    batch_id = path_id(request, "batch_id")
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        progress = await read_progress(conn, batch_id)  # a 404 before the stream starts
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",  # proxies must not buffer the stream
        }
    )
    await resp.prepare(request)
    sent: dict | None = None
    event_id = 0
    started = last_write = time.monotonic()
    read_s = 0.0
    try:
        await resp.write(b"retry: 3000\n\n")
        while True:
            event = progress.event()
            if event != sent:
                event_id += 1
                await resp.write(_sse("summary", event, event_id))
                sent, last_write = event, time.monotonic()
            if event["done"] or time.monotonic() - started >= MAX_STREAM_S:
                break
            # A poll of a 100,000-item batch reads ~80 ms (measured on the shared test machine): wait at least
            # ten times what the last read took, so one open page never costs more than a tenth of a core.
            await asyncio.sleep(max(POLL_S, 10 * read_s))
            if time.monotonic() - last_write >= HEARTBEAT_S:
                await resp.write(b": heartbeat\n\n")
                last_write = time.monotonic()
            read_start = time.monotonic()
            async with pool.acquire() as conn:
                progress = await read_progress(conn, batch_id)
            read_s = time.monotonic() - read_start
        await resp.write_eof()
    except ConnectionError:  # the page went away
        pass
    return resp
