"""Finance's beneficiary pages (Vietnamese first): the list (masked; search by CCCD or account number, filter
by hold reason and programme; CSV export, formula-safe with a BOM; "verify all"), one beneficiary
(enrolments, accounts with their verification history, verify, change account, propose a decision on a
mismatch or the resumption of a stopped beneficiary), the CSV import with its progress bar and per-row report
(disbursements/static/beneficiary_import.js), and the mismatch review list. Forms post to the same services
as the JSON API (disbursements/beneficiary_routes.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.api import Routes, path_id, staff
from core.appkeys import KEYS, POOL, SETTINGS
from core.approvals import approvals_list
from core.auth import principal_of
from core.csv_download import csv_download
from core.forms import EMPTY_FORM, FormState
from core.i18n import request_language
from core.pages import render_html
from disbursements import messages as _messages  # noqa: F401  (registers the package's texts)
from disbursements.beneficiaries import HOLD_REASONS, beneficiary_detail, list_beneficiaries
from disbursements.beneficiary_routes import (
    BASE,
    ID_PATH,
    IMPORT_MAX_BYTES,
    AccountIn,
    ResumeIn,
    ReviewIn,
    change_account_answer,
)
from disbursements.demo import SAMPLE_CSV
from disbursements.programmes import PROGRAMMES, programmes
from disbursements.verification import (
    ACCEPT_KIND,
    REJECT_KIND,
    RESUME_KIND,
    propose_mismatch_decision,
    propose_resume_payments,
    queue_verifications,
    verify_beneficiary,
)

routes = Routes(tags=("disbursements",))
WRITERS = staff("finance", "admin")
READERS = staff("finance", "admin", "approver")
PAGE = "/disbursements/beneficiaries"
PER_PAGE = 50
EXPORT_MAX_ROWS = 100_000
STATE_FILTERS = ("payable", "verified", *HOLD_REASONS)


class ListFilter(BaseModel):
    """The list page's query: anything unreadable is simply ignored (a page, not an API)."""

    model_config = ConfigDict(extra="ignore")
    q: str | None = Field(default=None, max_length=40)
    state: str | None = None
    programme: str | None = None
    page: int = Field(default=1, ge=1, le=100_000)


def _filters(request: web.Request) -> ListFilter:
    raw = {k: v for k, v in request.query.items() if v}
    try:
        f = ListFilter.model_validate(raw)
    except ValidationError:
        f = ListFilter()
    if f.state not in STATE_FILTERS:
        f.state = None
    if f.programme not in PROGRAMMES:
        f.programme = None
    return f


async def _list_page(
    request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200, search: str | None = None
) -> web.Response:
    f = _filters(request)
    if search is not None:
        f = ListFilter(q=search)
    async with request.app[POOL].acquire() as conn:
        rows, total = await list_beneficiaries(
            conn,
            request.app[KEYS],
            q=f.q,
            state=f.state,
            programme=f.programme,
            limit=PER_PAGE,
            offset=(f.page - 1) * PER_PAGE,
        )
        known = await programmes(conn)
    # the links (next page, CSV) carry the filters, never a searched number
    query = {k: v for k, v in (("state", f.state), ("programme", f.programme)) if v}
    return render_html(
        request,
        "disbursements/beneficiaries.html",
        status=status,
        form=form,
        rows=rows,
        total=total,
        page=f.page,
        pages=max(1, -(-total // PER_PAGE)),
        filters=f,
        query=query,
        states=STATE_FILTERS,
        programmes=known,
        queued=request.query.get("queued"),
        searched=f.q is not None,
    )


class SearchForm(BaseModel):
    """The search box posts: a CCCD or account number never goes into a URL, a browser history or a log."""

    model_config = ConfigDict(extra="ignore")
    q: str = Field(min_length=1, max_length=40)


@routes.get(PAGE, access=READERS, summary="Beneficiaries page", in_openapi=False, produces="text/html")
async def beneficiaries_page(request: web.Request) -> web.Response:
    return await _list_page(request)


@routes.form_post(f"{PAGE}/search", access=READERS, summary="Search (form)", form=SearchForm, page=_list_page)
async def search_form(request: web.Request, form: SearchForm) -> web.Response:
    return await _list_page(request, search=form.q)


@routes.get(
    f"{PAGE}.csv",
    access=READERS,
    summary="Beneficiaries as CSV (masked; the list page's filters)",
    in_openapi=False,
    produces="text/csv",
)
async def beneficiaries_csv(request: web.Request) -> web.Response:
    f = _filters(request)
    lang = request_language(request)
    async with request.app[POOL].acquire() as conn:
        rows, _ = await list_beneficiaries(
            conn, request.app[KEYS], q=f.q, state=f.state, programme=f.programme, limit=EXPORT_MAX_ROWS
        )
    vi = lang == "vi"
    header = (
        [
            "id",
            "so_cccd",
            "ho_ten",
            "ngay_sinh",
            "ma_ngan_hang",
            "so_tai_khoan",
            "trang_thai",
            "chuong_trinh",
            "ly_do_giu",
        ]
        if vi
        else [
            "id",
            "national_id",
            "full_name",
            "birth_date",
            "bank_bin",
            "account_number",
            "state",
            "programmes",
            "held_for",
        ]
    )
    return csv_download(
        "nguoi-huong.csv" if vi else "beneficiaries.csv",
        header,
        (
            [
                r.id,
                r.national_id_masked,
                r.full_name_masked,
                r.birth_date.isoformat(),
                r.bank_bin,
                r.account_masked,
                r.account_state,
                " ".join(r.programmes),
                " ".join(r.hold_reasons),
            ]
            for r in rows
        ),
    )


@routes.form_post(f"{PAGE}/verify-all", access=WRITERS, summary="Verify all (form)", page=_list_page)
async def verify_all_form(request: web.Request, form: BaseModel) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        queued = await queue_verifications(conn, actor=principal_of(request).actor)
    raise web.HTTPSeeOther(f"{PAGE}?queued={queued}")


# One beneficiary --------------------------------------------------------------------------------------------


async def _one_page(request: web.Request, *, form: FormState = EMPTY_FORM, status: int = 200) -> web.Response:
    beneficiary_id = path_id(request, "beneficiary_id")
    async with request.app[POOL].acquire() as conn:
        detail = await beneficiary_detail(conn, beneficiary_id)
        known = await programmes(conn)
        pending = [
            a
            for kind in (ACCEPT_KIND, REJECT_KIND, RESUME_KIND)
            for a in await approvals_list(conn, state="pending", kind=kind)
            if a.payload.get("beneficiary_id") == beneficiary_id
        ]
    active = next((a for a in detail["accounts"] if a["active"]), None)
    return render_html(
        request,
        "disbursements/beneficiary.html",
        status=status,
        form=form,
        b=detail,
        active=active,
        programmes=known,
        pending=pending,
        saved=request.query.get("saved"),
    )


@routes.get(
    f"{PAGE}/{ID_PATH}", access=READERS, summary="Beneficiary page", in_openapi=False, produces="text/html"
)
async def beneficiary_page(request: web.Request) -> web.Response:
    return await _one_page(request)


def _back(request: web.Request, saved: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PAGE}/{path_id(request, 'beneficiary_id')}?saved={saved}")


@routes.form_post(
    f"{PAGE}/{ID_PATH}/verify", access=WRITERS, summary="Verify the account (form)", page=_one_page
)
async def verify_form(request: web.Request, form: BaseModel) -> web.Response:
    await verify_beneficiary(
        request.app[POOL],
        request.app[KEYS],
        request.app[SETTINGS],
        path_id(request, "beneficiary_id"),
        actor=principal_of(request).actor,
    )
    raise _back(request, "verified")


@routes.form_post(
    f"{PAGE}/{ID_PATH}/account",
    access=WRITERS,
    summary="Change the account (form)",
    form=AccountIn,
    page=_one_page,
)
async def account_form(request: web.Request, form: AccountIn) -> web.Response:
    await change_account_answer(request, form)
    raise _back(request, "account")


@routes.form_post(
    f"{PAGE}/{ID_PATH}/review",
    access=WRITERS,
    summary="Propose a mismatch decision (form)",
    form=ReviewIn,
    page=_one_page,
)
async def review_form(request: web.Request, form: ReviewIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await propose_mismatch_decision(
            conn,
            path_id(request, "beneficiary_id"),
            decision=form.decision,
            note=form.note,
            maker=principal_of(request).actor,
        )
    raise _back(request, "proposed")


@routes.form_post(
    f"{PAGE}/{ID_PATH}/resume",
    access=WRITERS,
    summary="Propose resuming payments (form)",
    form=ResumeIn,
    page=_one_page,
)
async def resume_form(request: web.Request, form: ResumeIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await propose_resume_payments(
            conn, path_id(request, "beneficiary_id"), note=form.note, maker=principal_of(request).actor
        )
    raise _back(request, "proposed")


# Import and review ------------------------------------------------------------------------------------------


@routes.get(
    f"{PAGE}/import", access=WRITERS, summary="CSV import page", in_openapi=False, produces="text/html"
)
async def import_page(request: web.Request) -> web.Response:
    return render_html(
        request,
        "disbursements/beneficiaries_import.html",
        upload={"url": f"{BASE}/import", "max_bytes": IMPORT_MAX_BYTES},
        max_mb=IMPORT_MAX_BYTES // (1024 * 1024),
    )


@routes.get(
    f"{PAGE}/sample.csv",
    access=WRITERS,
    summary="A sample import file",
    in_openapi=False,
    produces="text/csv",
)
async def sample_csv(request: web.Request) -> web.Response:
    """The demo's beneficiaries (disbursements/demo_beneficiaries.csv), as the import reads them."""
    resp = web.Response(
        body=b"\xef\xbb\xbf" + SAMPLE_CSV.read_bytes(), content_type="text/csv", charset="utf-8"
    )
    resp.headers["Content-Disposition"] = 'attachment; filename="mau-nguoi-huong.csv"'
    return resp


@routes.get(
    f"{PAGE}/review", access=READERS, summary="Mismatch review page", in_openapi=False, produces="text/html"
)
async def review_page(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        undecided, _ = await list_beneficiaries(conn, request.app[KEYS], state="mismatch", limit=500)
        stopped_ac04, _ = await list_beneficiaries(conn, request.app[KEYS], state="stopped_ac04", limit=500)
        stopped_md07, _ = await list_beneficiaries(conn, request.app[KEYS], state="stopped_md07", limit=500)
        pending = [
            a
            for kind in (ACCEPT_KIND, REJECT_KIND, RESUME_KIND)
            for a in await approvals_list(conn, kind=kind)
        ]
    return render_html(
        request,
        "disbursements/beneficiaries_review.html",
        mismatches=undecided,
        stopped=[*stopped_ac04, *stopped_md07],
        pending=pending,
    )
