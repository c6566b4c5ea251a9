"""Four eyes for people: the approver's list of requests waiting for a second person, with approve and reject
forms (`/approvals`), and the same through the API (`GET /api/v1/approvals`,
`POST /api/v1/approvals/{id}/approve|reject`). All go through core.approvals, which refuses the maker."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import POOL
from core.approvals import Approval, approvals_list, approve, reject
from core.auth import principal_of
from core.forms import EMPTY_FORM, FormState
from core.i18n import register_messages
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.text import MultilineText

routes = Routes(tags=("approvals",))
DECIDERS = staff("approver")
READERS = staff("approver", "finance", "admin")
ID_PATH = "{approval_id:[0-9]{1,18}}"

register_messages(
    {
        "approvals.link": ("Duyệt (bốn mắt)", "Approvals (four eyes)"),
        "approvals.title": ("Đề xuất chờ duyệt", "Requests waiting for approval"),
        "approvals.explain": (
            "Hoàn tiền, điều chỉnh và xóa sổ do một người đề xuất và một người khác duyệt.",
            "Refunds, adjustments and write-offs are made by one person and approved by another.",
        ),
        "approvals.none": ("Không có đề xuất nào đang chờ.", "Nothing is waiting."),
        "approvals.kind": ("Loại", "Kind"),
        "approvals.subject": ("Đối tượng", "Subject"),
        "approvals.amount": ("Số tiền", "Amount"),
        "approvals.maker": ("Người đề xuất", "Maker"),
        "approvals.note": ("Ghi chú", "Note"),
        "approvals.decision_note": ("Ghi chú khi quyết định", "Note on the decision"),
        "approvals.approve": ("Duyệt", "Approve"),
        "approvals.reject": ("Từ chối", "Reject"),
        "approvals.saved": ("Đã ghi nhận quyết định.", "The decision is recorded."),
        "approvals.recent": ("Đã quyết định gần đây", "Decided recently"),
        "approvals.state": ("Trạng thái", "State"),
        "approvals.checker": ("Người duyệt", "Checker"),
        "approvals.state.pending": ("Đang chờ", "Pending"),
        "approvals.state.approved": ("Đã duyệt", "Approved"),
        "approvals.state.rejected": ("Đã từ chối", "Rejected"),
    }
)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[MultilineText, Field(max_length=2000)] | None = None


class ApprovalOut(ResponseModel):
    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    amount: int | None
    maker: str
    made_at: Timestamp
    note: str | None
    state: Literal["pending", "approved", "rejected"]
    checker: str | None
    decided_at: Timestamp | None
    decision_note: str | None


class ApprovalsOut(ResponseModel):
    approvals: list[ApprovalOut]


class ApprovalsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["pending", "approved", "rejected"] | None = "pending"


def approval_out(a: Approval) -> ApprovalOut:
    return ApprovalOut(
        id=a.id,
        kind=a.kind,
        subject=a.subject,
        payload=a.payload,
        amount=a.amount,
        maker=a.maker,
        made_at=a.made_at,
        note=a.note,
        state=a.state,  # type: ignore[arg-type]
        checker=a.checker,
        decided_at=a.decided_at,
        decision_note=a.decision_note,
    )


@routes.get(
    "/api/v1/approvals",
    access=READERS,
    summary="Requests for four-eyes approval (pending by default)",
    query=ApprovalsQuery,
    response=ApprovalsOut,
)
async def approvals_api(request: web.Request, query: ApprovalsQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await approvals_list(conn, state=query.state)
    return json_response(ApprovalsOut(approvals=[approval_out(a) for a in found]))


@routes.post(
    f"/api/v1/approvals/{ID_PATH}/approve",
    access=DECIDERS,
    summary="Approve a request and carry it out (the approver must not be its maker)",
    body=DecisionIn,
    response=ApprovalOut,
    responses={404: "No such approval", 409: "Already decided, or the approver is the maker"},
)
async def approve_api(request: web.Request, body: DecisionIn) -> web.Response:
    approval_id = path_id(request, "approval_id")
    async with request.app[POOL].acquire() as conn:
        decided = await approve(conn, approval_id, principal_of(request).actor, body.note)
    return json_response(approval_out(decided))


@routes.post(
    f"/api/v1/approvals/{ID_PATH}/reject",
    access=DECIDERS,
    summary="Reject a request: nothing is carried out",
    body=DecisionIn,
    response=ApprovalOut,
    responses={404: "No such approval", 409: "Already decided, or the approver is the maker"},
)
async def reject_api(request: web.Request, body: DecisionIn) -> web.Response:
    approval_id = path_id(request, "approval_id")
    async with request.app[POOL].acquire() as conn:
        decided = await reject(conn, approval_id, principal_of(request).actor, body.note)
    return json_response(approval_out(decided))


async def _approvals_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        pending = await approvals_list(conn, state="pending")
        recent = await approvals_list(conn, state="decided", limit=20)
    return render_html(
        request,
        "core/approvals.html",
        status=status,
        form=form,
        pending=pending,
        recent=recent,
        now=datetime.now().astimezone(),
        saved=request.query.get("saved") == "1" and not form.failed,
    )


@routes.get("/approvals", access=READERS, summary="Approvals page", in_openapi=False, produces="text/html")
async def approvals_page(request: web.Request) -> web.Response:
    return await _approvals_page(request)


@routes.form_post(
    f"/approvals/{ID_PATH}/approve",
    access=DECIDERS,
    summary="Approve (form)",
    form=DecisionIn,
    page=_approvals_page,
)
async def approve_form(request: web.Request, form: DecisionIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await approve(conn, path_id(request, "approval_id"), principal_of(request).actor, form.note)
    raise web.HTTPSeeOther("/approvals?saved=1")


@routes.form_post(
    f"/approvals/{ID_PATH}/reject",
    access=DECIDERS,
    summary="Reject (form)",
    form=DecisionIn,
    page=_approvals_page,
)
async def reject_form(request: web.Request, form: DecisionIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await reject(conn, path_id(request, "approval_id"), principal_of(request).actor, form.note)
    raise web.HTTPSeeOther("/approvals?saved=1")
