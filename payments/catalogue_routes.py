"""HTTP face of the fee catalogue, subsidy programmes, collection accounts and bank BINs (admin API and
pages), and the finance page of payment requests and money to refund."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.api import Routes, staff
from core.appkeys import CLOCK, POOL, SETTINGS
from core.auth import principal_of
from core.errors import NotFound, ValidationFailed
from core.i18n import register_messages
from core.money import LOCAL_TZ
from core.pages import render_html, run_form_action
from ledger.accounts import fee_revenue
from payments import catalogue
from payments.callback_issues import callback_issues
from payments.catalogue import (
    FEE_CODE,
    REFUND_OUTCOMES,
    REQUEST_STATUSES,
    BankChange,
    CollectionAccountChange,
    CollectionAccountIn,
    FeeChange,
    FeeIn,
    SubsidyChange,
    SubsidyIn,
    jsonable,
)

routes = Routes(tags=("catalogue",))
ADMIN = staff("admin")
READERS = staff("admin", "finance")
FINANCE = staff("finance", "admin")
_FEE = "{code:[A-Z0-9][A-Z0-9_-]{1,30}}"
_PROGRAMME = "{code:[a-z0-9][a-z0-9_-]{1,40}}"
_ACCOUNT = "{code:[a-z0-9][a-z0-9_-]{1,40}}"

# Response models --------------------------------------------------------------------------------------------


class FeeOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    amount: int
    agency: str
    revenue_account: str
    collection_account_code: str
    active_from: datetime
    active_until: datetime | None
    created_at: datetime
    active_now: bool


class FeeList(BaseModel):
    items: list[FeeOut]


class SubsidyOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    fee_code: str
    channel: str | None
    per_request: int
    budget_cap: int
    budget_used: int
    budget_remaining: int
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    open_now: bool


class SubsidyList(BaseModel):
    items: list[SubsidyOut]


class CollectionAccountOut(BaseModel):
    code: str
    bin: str
    bank_name: str
    account_number: str
    holder_name: str
    active: bool


class CollectionAccountList(BaseModel):
    items: list[CollectionAccountOut]


class BankOut(BaseModel):
    bin: str
    short_name: str
    name: str
    active: bool
    updated_at: datetime


class BankList(BaseModel):
    items: list[BankOut]


def _fee_out(fee: dict[str, Any], now: datetime) -> dict[str, Any]:
    return jsonable({**fee, "active_now": catalogue.fee_is_active(fee, now)})


def _subsidy_out(programme: dict[str, Any], now: datetime) -> dict[str, Any]:
    return jsonable(
        {
            **programme,
            "budget_remaining": programme["budget_cap"] - programme["budget_used"],
            "open_now": programme["valid_from"] <= now < programme["valid_until"],
        }
    )


def _actor(request: web.Request) -> str:
    return principal_of(request).actor


def _cap(request: web.Request) -> int:
    return request.app[SETTINGS].amount_cap


# Fee catalogue API ------------------------------------------------------------------------------------------


@routes.get("/api/v1/admin/fees", access=READERS, summary="List the fee catalogue", response=FeeList)
async def get_fees(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fees = await catalogue.fee_list(conn)
    return web.json_response({"items": [_fee_out(f, now) for f in fees]})


@routes.post(
    "/api/v1/admin/fees",
    access=ADMIN,
    summary="Add a fee to the catalogue",
    body=FeeIn,
    response=FeeOut,
    status=201,
    responses={409: "Code taken"},
)
async def post_fee(request: web.Request, body: FeeIn) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fee = await catalogue.create_fee(conn, body, actor=_actor(request), amount_cap=_cap(request), now=now)
    return web.json_response(_fee_out(fee, now), status=201)


@routes.put(
    f"/api/v1/admin/fees/{_FEE}",
    access=ADMIN,
    summary="Change a fee (requests already issued keep their amount)",
    body=FeeChange,
    response=FeeOut,
)
async def put_fee(request: web.Request, body: FeeChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        fee = await catalogue.update_fee(
            conn, request.match_info["code"], body, actor=_actor(request), amount_cap=_cap(request)
        )
    return web.json_response(_fee_out(fee, request.app[CLOCK].now()))


# Subsidy programmes API -------------------------------------------------------------------------------------


@routes.get(
    "/api/v1/admin/subsidies", access=READERS, summary="List subsidy programmes", response=SubsidyList
)
async def get_subsidies(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        programmes = await catalogue.subsidy_list(conn)
    return web.json_response({"items": [_subsidy_out(p, now) for p in programmes]})


@routes.post(
    "/api/v1/admin/subsidies",
    access=ADMIN,
    summary="Create a subsidy programme",
    body=SubsidyIn,
    response=SubsidyOut,
    status=201,
    responses={409: "Code taken"},
)
async def post_subsidy(request: web.Request, body: SubsidyIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        programme = await catalogue.create_subsidy(
            conn, body, actor=_actor(request), amount_cap=_cap(request)
        )
    return web.json_response(_subsidy_out(programme, request.app[CLOCK].now()), status=201)


@routes.put(
    f"/api/v1/admin/subsidies/{_PROGRAMME}",
    access=ADMIN,
    summary="Change a subsidy programme (the cap never below the budget used)",
    body=SubsidyChange,
    response=SubsidyOut,
    responses={409: "Cap below the budget already used"},
)
async def put_subsidy(request: web.Request, body: SubsidyChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        programme = await catalogue.update_subsidy(
            conn, request.match_info["code"], body, actor=_actor(request), amount_cap=_cap(request)
        )
    return web.json_response(_subsidy_out(programme, request.app[CLOCK].now()))


# Collection accounts and banks API --------------------------------------------------------------------------


@routes.get(
    "/api/v1/admin/collection-accounts",
    access=READERS,
    summary="List the city's collection accounts",
    response=CollectionAccountList,
)
async def get_collection_accounts(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        return web.json_response({"items": await catalogue.collection_account_list(conn)})


@routes.post(
    "/api/v1/admin/collection-accounts",
    access=ADMIN,
    summary="Register a collection account",
    body=CollectionAccountIn,
    response=CollectionAccountOut,
    status=201,
    responses={409: "Code or account already registered"},
)
async def post_collection_account(request: web.Request, body: CollectionAccountIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        account = await catalogue.create_collection_account(conn, body, actor=_actor(request))
    return web.json_response(account, status=201)


@routes.put(
    f"/api/v1/admin/collection-accounts/{_ACCOUNT}",
    access=ADMIN,
    summary="Rename the holder of, deactivate or reactivate a collection account",
    body=CollectionAccountChange,
    response=CollectionAccountOut,
    responses={409: "Its bank is inactive"},
)
async def put_collection_account(request: web.Request, body: CollectionAccountChange) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        account = await catalogue.update_collection_account(
            conn, request.match_info["code"], body, actor=_actor(request)
        )
    return web.json_response(account)


@routes.get("/api/v1/admin/banks", access=READERS, summary="List bank BINs", response=BankList)
async def get_banks(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        banks = await catalogue.bank_list(conn)
    return web.json_response({"items": [jsonable(b) for b in banks]})


@routes.put(
    "/api/v1/admin/banks/{bin:[0-9]+}",
    access=ADMIN,
    summary="Rename, deactivate or reactivate a bank BIN",
    body=BankChange,
    response=BankOut,
    responses={409: "Active collection accounts use the bank"},
)
async def put_bank(request: web.Request, body: BankChange) -> web.Response:
    bin_ = request.match_info["bin"]
    if not re.fullmatch(r"[0-9]{6}", bin_):
        raise NotFound("no bank with this BIN", field="bin")
    async with request.app[POOL].acquire() as conn:
        bank = await catalogue.update_bank(conn, bin_, body, actor=_actor(request))
    return web.json_response(jsonable(bank))


# Pages ------------------------------------------------------------------------------------------------------

register_messages(
    {
        "admin.fees.link": ("Danh mục phí, lệ phí", "Fee catalogue"),
        "admin.fees.title": ("Danh mục phí, lệ phí", "Fee catalogue"),
        "admin.fees.code": ("Mã", "Code"),
        "admin.fees.name": ("Tên", "Name"),
        "admin.fees.name_vi": ("Tên tiếng Việt", "Vietnamese name"),
        "admin.fees.name_en": ("Tên tiếng Anh", "English name"),
        "admin.fees.amount": ("Số tiền (đồng)", "Amount (đồng)"),
        "admin.fees.agency": ("Cơ quan thu", "Collecting agency"),
        "admin.fees.revenue_account": ("Tài khoản doanh thu", "Revenue account"),
        "admin.fees.revenue_hint": (
            f"Để trống: {fee_revenue('<mã>')}",
            f"Leave empty for {fee_revenue('<code>')}",
        ),
        "admin.fees.collection_account": ("Tài khoản thu", "Collection account"),
        "admin.fees.window": ("Thời gian áp dụng", "Active window"),
        "admin.fees.active_from": ("Áp dụng từ (giờ Hà Nội)", "Active from (Hà Nội time)"),
        "admin.fees.active_until": (
            "Áp dụng đến (giờ Hà Nội, để trống: không thời hạn)",
            "Active until (Hà Nội time, empty: open-ended)",
        ),
        "admin.fees.open_ended": ("không thời hạn", "open-ended"),
        "admin.fees.state": ("Trạng thái", "State"),
        "admin.fees.state_active": ("đang áp dụng", "active"),
        "admin.fees.state_inactive": ("không áp dụng", "not active"),
        "admin.fees.create": ("Thêm khoản phí", "Add a fee"),
        "admin.fees.edit": ("Sửa", "Edit"),
        "admin.fees.save": ("Lưu", "Save"),
        "admin.fees.saved": ("Đã lưu.", "Saved."),
        "admin.fees.empty": ("Chưa có khoản phí nào.", "No fees yet."),
        "admin.fees.edit_note": (
            "Yêu cầu thanh toán đã phát hành giữ nguyên số tiền cũ.",
            "Payment requests already issued keep their amount.",
        ),
        "admin.accounts.title": ("Tài khoản thu của thành phố", "The city's collection accounts"),
        "admin.accounts.code": ("Mã", "Code"),
        "admin.accounts.bank": ("Ngân hàng", "Bank"),
        "admin.accounts.number": ("Số tài khoản", "Account number"),
        "admin.accounts.holder": ("Tên chủ tài khoản (chữ in hoa không dấu)", "Holder name (ASCII capitals)"),
        "admin.accounts.active": ("đang dùng", "in use"),
        "admin.accounts.inactive": ("ngừng dùng", "not in use"),
        "admin.accounts.create": ("Thêm tài khoản thu", "Add a collection account"),
        "admin.subsidies.link": ("Chương trình hỗ trợ phí", "Subsidy programmes"),
        "admin.subsidies.title": ("Chương trình hỗ trợ phí", "Subsidy programmes"),
        "admin.subsidies.code": ("Mã", "Code"),
        "admin.subsidies.name": ("Tên", "Name"),
        "admin.subsidies.fee": ("Khoản phí", "Fee"),
        "admin.subsidies.channel": ("Kênh (để trống: mọi kênh)", "Channel (empty: every channel)"),
        "admin.subsidies.any_channel": ("mọi kênh", "every channel"),
        "admin.subsidies.per_request": ("Hỗ trợ mỗi yêu cầu (đồng)", "Paid per request (đồng)"),
        "admin.subsidies.each": ("mỗi yêu cầu", "per request"),
        "admin.subsidies.budget_cap": ("Hạn mức ngân sách (đồng)", "Budget cap (đồng)"),
        "admin.subsidies.used": ("Đã dùng", "Used"),
        "admin.subsidies.cap": ("Hạn mức", "Cap"),
        "admin.subsidies.remaining": ("Còn lại", "Remaining"),
        "admin.subsidies.window": ("Thời gian hiệu lực", "Validity"),
        "admin.subsidies.valid_from": ("Hiệu lực từ (giờ Hà Nội)", "Valid from (Hà Nội time)"),
        "admin.subsidies.valid_until": ("Hiệu lực đến (giờ Hà Nội)", "Valid until (Hà Nội time)"),
        "admin.subsidies.open": ("đang hiệu lực", "open"),
        "admin.subsidies.closed": ("hết/chưa hiệu lực", "not open"),
        "admin.subsidies.create": ("Tạo chương trình hỗ trợ", "Create a programme"),
        "admin.subsidies.empty": ("Chưa có chương trình nào.", "No programmes yet."),
        "admin.subsidies.cap_note": (
            "Hạn mức không thể thấp hơn số đã dùng.",
            "The cap cannot go below what has been used.",
        ),
        "finance.payments.link": ("Yêu cầu thanh toán và tiền chờ hoàn", "Payment requests and refunds"),
        "finance.payments.title": ("Yêu cầu thanh toán", "Payment requests"),
        "finance.payments.status": ("Trạng thái", "Status"),
        "finance.payments.all": ("Tất cả", "All"),
        "finance.payments.fee": ("Khoản phí", "Fee"),
        "finance.payments.date_from": ("Từ ngày", "From"),
        "finance.payments.date_to": ("Đến ngày", "To"),
        "finance.payments.underpaid": (
            "Chỉ yêu cầu trả thiếu đang tạm giữ",
            "Only underpaid requests on hold",
        ),
        "finance.payments.show": ("Lọc", "Filter"),
        "finance.payments.reference": ("Mã thanh toán", "Reference"),
        "finance.payments.purpose": ("Nội dung", "Purpose"),
        "finance.payments.amount_due": ("Phải trả", "Due"),
        "finance.payments.subsidised": ("ngân sách hỗ trợ {amount}", "{amount} paid by the city"),
        "finance.payments.received": ("Đã nhận", "Received"),
        "finance.payments.created": ("Tạo lúc", "Created"),
        "finance.payments.count": ("{shown} / {total} yêu cầu", "{shown} of {total} requests"),
        "finance.payments.empty": ("Không có yêu cầu nào phù hợp.", "No matching requests."),
        "finance.payments.status.pending": ("chờ thanh toán", "pending"),
        "finance.payments.status.paid": ("đã thanh toán", "paid"),
        "finance.payments.status.expired": ("hết hạn", "expired"),
        "finance.payments.status.cancelled": ("đã hủy", "cancelled"),
        "finance.payments.status.underpaid": ("trả thiếu, đang giữ", "underpaid, held"),
        "finance.payments.cancelled_by": ("{actor} hủy", "cancelled by {actor}"),
        "finance.payments.refunds_title": (
            "Tiền treo và tiền chờ hoàn trả",
            "Money in suspense and to refund",
        ),
        "finance.payments.refunds_note": (
            "Các khoản tiền ngân hàng báo có nhưng không thể ghi nhận cho một yêu cầu đang chờ.",
            "Credits the bank reported that could not settle a pending request.",
        ),
        "finance.payments.amount": ("Số tiền", "Amount"),
        "finance.payments.to_refund": ("Phải hoàn", "To refund"),
        "finance.payments.bank_txn": ("Mã giao dịch ngân hàng", "Bank transaction id"),
        "finance.payments.narrative": ("Nội dung chuyển khoản", "Transfer note"),
        "finance.payments.outcome": ("Kết quả", "Outcome"),
        "finance.payments.booked": ("Ghi có lúc", "Booked"),
        "finance.payments.refunds_total": ("Tổng phải hoàn", "Total to refund"),
        "finance.payments.refunds_empty": ("Không có khoản nào.", "None."),
        "finance.payments.outcome.late": ("trả sau khi hết hạn", "paid after expiry"),
        "finance.payments.outcome.cancelled": ("trả cho yêu cầu đã hủy", "paid a cancelled request"),
        "finance.payments.outcome.already_paid": ("trả lần nữa", "paid twice"),
        "finance.payments.outcome.unknown_reference": ("không rõ mã thanh toán", "unknown reference"),
        "finance.payments.outcome.overpaid": ("trả thừa", "overpaid"),
        "finance.payments.limit_note": (
            "Hiển thị tối đa {limit} dòng mới nhất.",
            "Showing at most the newest {limit} rows.",
        ),
    }
)

PAGE_LIMIT = 200
_GROUPED_AMOUNT = re.compile(r"^[0-9]{1,3}([. ][0-9]{3})+$")


def _local_input(moment: datetime | None) -> str:
    """The value of an <input type="datetime-local"> in Hà Nội time."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _form_text(form, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    return str(value).strip() or None


def _form_amount(form, name: str) -> int | None:
    """Whole đồng as people type them: 200000, 200.000 or 200 000."""
    raw = _form_text(form, name)
    if raw is None:
        return None
    if _GROUPED_AMOUNT.match(raw):
        raw = raw.replace(".", "").replace(" ", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("a whole number of đồng, e.g. 200000 or 200.000", field=name)
    return int(raw)


def _form_moment(form, name: str) -> datetime | None:
    """A datetime-local value, read as Hà Nội time."""
    raw = _form_text(form, name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("a date and time, e.g. 2025-01-01T00:00", field=name) from None
    if not 2000 <= moment.year <= 2999:
        raise ValidationFailed("a year between 2000 and 2999", field=name)
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


async def _run_form(
    request: web.Request, action, page, back: str, *, keep_values: bool = False
) -> web.Response:
    return await run_form_action(request, action, page=page, back=back, keep_values=keep_values)


# Fee catalogue page -----------------------------------------------------------------------------------------


async def _fees_page(
    request: web.Request, *, error: str | None = None, status: int = 200, values=None
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        fees = await catalogue.fee_list(conn)
        accounts = await catalogue.collection_account_list(conn)
    for fee in fees:
        fee["active_now"] = catalogue.fee_is_active(fee, now)
        fee["active_from_input"] = _local_input(fee["active_from"])
        fee["active_until_input"] = _local_input(fee["active_until"])
    return render_html(
        request,
        "payments/admin_fees.html",
        status=status,
        fees=fees,
        accounts=accounts,
        error=error,
        saved=request.query.get("saved") == "1" and error is None,
        values=values or {},
    )


@routes.get("/admin/fees", access=ADMIN, summary="Fee catalogue page", in_openapi=False, produces="text/html")
async def fees_page(request: web.Request) -> web.Response:
    return await _fees_page(request)


@routes.post(
    "/admin/fees", access=ADMIN, summary="Add a fee (form)", in_openapi=False, form=True, produces="text/html"
)
async def fees_create_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        fee = FeeIn.model_validate(
            _present(
                {
                    "code": _form_text(form, "code"),
                    "name_vi": _form_text(form, "name_vi"),
                    "name_en": _form_text(form, "name_en"),
                    "amount": _form_amount(form, "amount"),
                    "agency": _form_text(form, "agency"),
                    "revenue_account": _form_text(form, "revenue_account"),
                    "collection_account_code": _form_text(form, "collection_account_code"),
                    "active_from": _form_moment(form, "active_from"),
                    "active_until": _form_moment(form, "active_until"),
                }
            )
        )
        await catalogue.create_fee(
            conn, fee, actor=_actor(request), amount_cap=_cap(request), now=request.app[CLOCK].now()
        )

    return await _run_form(request, action, _fees_page, "/admin/fees", keep_values=True)


@routes.post(
    f"/admin/fees/{_FEE}",
    access=ADMIN,
    summary="Change a fee (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def fees_edit_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        # Every field is on the form: an empty "until" makes the fee open-ended, an empty "from" keeps it.
        change = FeeChange.model_validate(
            {
                **_present(
                    {
                        "name_vi": _form_text(form, "name_vi"),
                        "name_en": _form_text(form, "name_en"),
                        "amount": _form_amount(form, "amount"),
                        "agency": _form_text(form, "agency"),
                        "collection_account_code": _form_text(form, "collection_account_code"),
                        "active_from": _form_moment(form, "active_from"),
                    }
                ),
                "active_until": _form_moment(form, "active_until"),
            }
        )
        await catalogue.update_fee(
            conn, request.match_info["code"], change, actor=_actor(request), amount_cap=_cap(request)
        )

    return await _run_form(request, action, _fees_page, "/admin/fees")


@routes.post(
    "/admin/collection-accounts",
    access=ADMIN,
    summary="Register a collection account (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def collection_account_create_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        account = CollectionAccountIn.model_validate(
            _present({k: _form_text(form, k) for k in ("code", "bin", "account_number", "holder_name")})
        )
        await catalogue.create_collection_account(conn, account, actor=_actor(request))

    return await _run_form(request, action, _fees_page, "/admin/fees")


# Subsidy programmes page ------------------------------------------------------------------------------------


async def _subsidies_page(
    request: web.Request, *, error: str | None = None, status: int = 200, values=None
) -> web.Response:
    now = request.app[CLOCK].now()
    async with request.app[POOL].acquire() as conn:
        programmes = await catalogue.subsidy_list(conn)
        fees = await catalogue.fee_list(conn)
    for p in programmes:
        p["budget_remaining"] = p["budget_cap"] - p["budget_used"]
        p["used_percent"] = round(100 * p["budget_used"] / p["budget_cap"], 1)
        p["open_now"] = p["valid_from"] <= now < p["valid_until"]
        p["valid_from_input"] = _local_input(p["valid_from"])
        p["valid_until_input"] = _local_input(p["valid_until"])
    return render_html(
        request,
        "payments/admin_subsidies.html",
        status=status,
        programmes=programmes,
        fees=fees,
        error=error,
        saved=request.query.get("saved") == "1" and error is None,
        values=values or {},
    )


@routes.get(
    "/admin/subsidies",
    access=ADMIN,
    summary="Subsidy programmes page",
    in_openapi=False,
    produces="text/html",
)
async def subsidies_page(request: web.Request) -> web.Response:
    return await _subsidies_page(request)


@routes.post(
    "/admin/subsidies",
    access=ADMIN,
    summary="Create a subsidy programme (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def subsidies_create_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        programme = SubsidyIn.model_validate(
            _present(
                {
                    "code": _form_text(form, "code"),
                    "name_vi": _form_text(form, "name_vi"),
                    "name_en": _form_text(form, "name_en"),
                    "fee_code": _form_text(form, "fee_code"),
                    "channel": _form_text(form, "channel"),
                    "per_request": _form_amount(form, "per_request"),
                    "budget_cap": _form_amount(form, "budget_cap"),
                    "valid_from": _form_moment(form, "valid_from"),
                    "valid_until": _form_moment(form, "valid_until"),
                }
            )
        )
        await catalogue.create_subsidy(conn, programme, actor=_actor(request), amount_cap=_cap(request))

    return await _run_form(request, action, _subsidies_page, "/admin/subsidies", keep_values=True)


@routes.post(
    f"/admin/subsidies/{_PROGRAMME}",
    access=ADMIN,
    summary="Change a subsidy programme (form)",
    in_openapi=False,
    form=True,
    produces="text/html",
)
async def subsidies_edit_form(request: web.Request) -> web.Response:
    async def action(conn, form):
        change = SubsidyChange.model_validate(
            {
                **_present(
                    {
                        "name_vi": _form_text(form, "name_vi"),
                        "name_en": _form_text(form, "name_en"),
                        "per_request": _form_amount(form, "per_request"),
                        "budget_cap": _form_amount(form, "budget_cap"),
                        "valid_from": _form_moment(form, "valid_from"),
                        "valid_until": _form_moment(form, "valid_until"),
                    }
                ),
                "channel": _form_text(form, "channel"),  # empty: every channel
            }
        )
        await catalogue.update_subsidy(
            conn, request.match_info["code"], change, actor=_actor(request), amount_cap=_cap(request)
        )

    return await _run_form(request, action, _subsidies_page, "/admin/subsidies")


# Finance page -----------------------------------------------------------------------------------------------


class FinancePaymentsQuery(BaseModel):
    """The filter form: empty inputs mean "any"; dates are Hà Nội calendar days, both ends included."""

    model_config = ConfigDict(extra="ignore")
    status: Literal["pending", "paid", "expired", "cancelled"] | None = None
    fee_code: str | None = Field(default=None, pattern=FEE_CODE)
    date_from: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2999, 12, 31))
    date_to: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2999, 12, 31))
    underpaid: bool = False

    @model_validator(mode="before")
    @classmethod
    def _empty_is_any(cls, data: Any) -> Any:
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data


@routes.get(
    "/finance/payments",
    access=FINANCE,
    summary="Payment requests and money to refund (page)",
    query=FinancePaymentsQuery,
    in_openapi=False,
    produces="text/html",
)
async def finance_payments_page(request: web.Request, query: FinancePaymentsQuery) -> web.Response:
    start, end = catalogue.local_day_range(query.date_from, query.date_to)
    async with request.app[POOL].acquire() as conn:
        rows, total = await catalogue.payment_requests_for_review(
            conn,
            status=query.status,
            fee_code=query.fee_code,
            created_from=start,
            created_to=end,
            underpaid_only=query.underpaid,
            limit=PAGE_LIMIT,
        )
        refunds = await catalogue.money_to_refund(conn, booked_from=start, booked_to=end, limit=PAGE_LIMIT)
        fee_codes = [f["code"] for f in await catalogue.fee_list(conn)]
        callbacks = await callback_issues(conn)
    return render_html(
        request,
        "payments/finance_payments.html",
        callbacks=callbacks,
        query=query,
        requests=rows,
        total=total,
        refunds=refunds,
        refunds_total=sum(r["to_refund"] for r in refunds),
        fee_codes=fee_codes,
        statuses=REQUEST_STATUSES,
        outcomes=REFUND_OUTCOMES,
        limit=PAGE_LIMIT,
    )
