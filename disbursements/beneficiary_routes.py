"""The beneficiaries API: enrol, list (paged, masked, searched by CCCD or account number), read one, change
the account, import a CSV; verify an account with the bank, propose a mismatch decision or the resumption of
a stopped beneficiary (an approver decides, core/approval_routes.py). Finance and admin write (or a token
with `disbursements:write`); approvers read (or a token with `disbursements:read`, an auditor's). Handlers
translate HTTP; disbursements.beneficiaries and disbursements.verification own the transactions."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import CLOCK, KEYS, POOL, SETTINGS
from core.auth import principal_of
from core.errors import PayloadTooLarge, ValidationFailed
from core.i18n import request_language
from core.money import LOCAL_TZ
from core.responses import ResponseModel, Timestamp, json_response
from core.text import MultilineText
from core.uploads import read_file_upload
from disbursements import messages as _messages  # noqa: F401  (registers the package's texts)
from disbursements.beneficiaries import (
    HOLD_REASONS,
    BeneficiaryInvalid,
    beneficiary_detail,
    change_account,
    check_new_beneficiary,
    clean_account_number,
    enrol_beneficiary,
    list_beneficiaries,
)
from disbursements.beneficiary_import import ImportReport, import_beneficiaries
from disbursements.programmes import PROGRAMMES, programmes
from disbursements.verification import (
    propose_mismatch_decision,
    propose_resume_payments,
    queue_verifications,
    verify_beneficiary,
)

routes = Routes(tags=("disbursements",))
WRITERS = staff("finance", "admin", scopes=("disbursements:write",))
READERS = staff("finance", "admin", "approver", scopes=("disbursements:read",))
ID_PATH = "{beneficiary_id:[0-9]{1,18}}"
BASE = "/api/v1/disbursements/beneficiaries"
IMPORT_MAX_BYTES = 5 * 1024 * 1024  # a CSV of ~50,000 rows

Code = Annotated[str, Field(max_length=40)]
ProgrammeCode = Literal["pension", "social_insurance", "unemployment", "social_assistance"]
AccountState = Literal["unverified", "verified", "mismatch", "not_found", "closed", "blocked", "deceased"]


class BeneficiaryIn(BaseModel):
    """The issue's contract fields, plus `monthly_amounts` (programme → đồng a month; a programme left out
    is paid its default, see GET /api/v1/disbursements/programmes)."""

    model_config = ConfigDict(extra="forbid")
    national_id: str = Field(max_length=40, description="CCCD, 12 digits")
    full_name: str = Field(max_length=200)
    birth_date: date
    programmes: list[Code] = Field(max_length=8, description=f"Programme codes: {', '.join(PROGRAMMES)}")
    monthly_amounts: dict[str, int] = Field(default_factory=dict, max_length=8)
    bank_bin: str = Field(max_length=20)
    account_number: str = Field(max_length=40)


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank_bin: str = Field(max_length=20)
    account_number: str = Field(max_length=40)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=40, description="A CCCD or account number (exact)")
    state: Literal[*HOLD_REASONS, "verified", "payable"] | None = None  # type: ignore[valid-type]
    programme: ProgrammeCode | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=200)


class EnrolmentOut(ResponseModel):
    programme: str
    monthly_amount: int
    active: bool
    hold_reason: str | None = Field(description="null: payable; else why a batch holds it")


class CheckOut(ResponseModel):
    state: str
    bank_answer: dict[str, Any]
    id_match: bool | None
    checked_by: str
    checked_at: Timestamp


class AccountOut(ResponseModel):
    id: int
    bank_bin: str
    account_number: str = Field(description="Masked (****1234)")
    active: bool
    state: AccountState
    bank_answer: dict[str, Any] | None
    id_match: bool | None
    checked_at: Timestamp | None
    verified_until: Timestamp | None
    review: Literal["accepted", "rejected"] | None
    reviewed_by: str | None
    reviewed_at: Timestamp | None
    created_at: Timestamp
    checks: list[CheckOut]


class BeneficiaryOut(ResponseModel):
    id: int
    national_id: str = Field(description="Masked (001******234)")
    full_name: str = Field(description="Masked (N*** V*** A***)")
    birth_date: date
    payments_stopped_reason: Literal["AC04", "MD07"] | None
    payments_stopped_at: Timestamp | None
    bank_bin: str | None
    account_number: str | None = Field(description="The active account, masked")
    account_state: AccountState | None
    enrolments: list[EnrolmentOut]
    accounts: list[AccountOut]
    created_at: Timestamp
    updated_at: Timestamp


class EnrolledOut(BeneficiaryOut):
    outcome: Literal["created", "enrolled"]


class AccountChangedOut(BeneficiaryOut):
    changed: bool = Field(description="false: the same account as the active one; nothing changed")


class BeneficiarySummaryOut(ResponseModel):
    id: int
    national_id: str
    full_name: str
    birth_date: date
    bank_bin: str | None
    account_number: str | None
    account_state: AccountState | None
    verified_until: Timestamp | None
    payments_stopped_reason: Literal["AC04", "MD07"] | None
    programmes: list[str]
    hold_reasons: list[str]
    created_at: Timestamp


class BeneficiaryListOut(ResponseModel):
    beneficiaries: list[BeneficiarySummaryOut]
    total: int
    page: int
    per_page: int


class RowErrorOut(ResponseModel):
    line: int
    field: str
    message: str


class ImportOut(ResponseModel):
    rows: int
    created: int
    enrolled: int
    unchanged: int
    failed: int
    errors: list[RowErrorOut] = Field(description="One per problem: the CSV line, the field, what to fix")
    failed_csv: str | None = Field(
        description="The failed rows as sent, with an `error` column, to fix and upload again (null: none)"
    )


class ProgrammeOut(ResponseModel):
    code: str
    name_vi: str
    name_en: str
    funding_account: str
    expense_account: str
    verification_valid_days: int
    default_monthly_amount: int


class ProgrammesOut(ResponseModel):
    programmes: list[ProgrammeOut]


class VerifyOut(ResponseModel):
    state: Literal["verified", "mismatch", "not_found", "closed", "blocked", "deceased"]
    checked_at: Timestamp
    verified_until: Timestamp | None
    bank_name_masked: str | None
    id_match: bool | None
    account_id: int


class VerifyAllOut(ResponseModel):
    queued: int = Field(description="Accounts queued for verification (unverified or expired)")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "reject"]
    note: Annotated[MultilineText, Field(min_length=1, max_length=2000)]


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[MultilineText, Field(min_length=1, max_length=2000)]


class ProposalOut(ResponseModel):
    approval_id: int
    kind: str
    state: Literal["pending"]


def _today(request: web.Request) -> date:
    return request.app[CLOCK].now().astimezone(LOCAL_TZ).date()


def beneficiary_out(d: dict[str, Any]) -> dict[str, Any]:
    active = next((a for a in d["accounts"] if a["active"]), None)
    return {
        "id": d["id"],
        "national_id": d["national_id_masked"],
        "full_name": d["full_name_masked"],
        "birth_date": d["birth_date"],
        "payments_stopped_reason": d["payments_stopped_reason"],
        "payments_stopped_at": d["payments_stopped_at"],
        "bank_bin": active["bank_bin"] if active else None,
        "account_number": active["account_masked"] if active else None,
        "account_state": active["state"] if active else None,
        "enrolments": [EnrolmentOut(**e) for e in d["enrolments"]],
        "accounts": [
            AccountOut(
                **{k: a[k] for k in AccountOut.model_fields if k not in ("account_number", "checks")},
                account_number=a["account_masked"],
                checks=[CheckOut(**c) for c in a["checks"]],
            )
            for a in d["accounts"]
        ],
        "created_at": d["created_at"],
        "updated_at": d["updated_at"],
    }


async def _defaults(conn) -> dict[str, int]:
    return {code: p.default_monthly_amount for code, p in (await programmes(conn)).items()}


@routes.get(
    "/api/v1/disbursements/programmes",
    access=READERS,
    summary="The programmes: accounts in the ledger, verification validity, default monthly amount",
    response=ProgrammesOut,
)
async def programmes_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await programmes(conn)
    return json_response(ProgrammesOut(programmes=[ProgrammeOut(**vars(p)) for p in found.values()]))


@routes.post(
    BASE,
    access=WRITERS,
    summary="Enrol a beneficiary (CCCD, name, birth date, programmes, bank account); answers it masked",
    body=BeneficiaryIn,
    response=EnrolledOut,
    status=201,
    responses={
        409: "The CCCD is already in one of the programmes, or registered with another name/account",
        422: "A field is invalid (each problem listed with its field)",
    },
)
async def create_beneficiary_api(request: web.Request, body: BeneficiaryIn) -> web.Response:
    keys = request.app[KEYS]
    async with request.app[POOL].acquire() as conn:
        new, problems = check_new_beneficiary(
            national_id=body.national_id,
            full_name=body.full_name,
            birth_date=body.birth_date,
            programmes=body.programmes,
            monthly_amounts=body.monthly_amounts,
            bank_bin=body.bank_bin,
            account_number=body.account_number,
            defaults=await _defaults(conn),
            today=_today(request),
        )
        if new is None:
            raise BeneficiaryInvalid(problems, lang=request_language(request))
        result = await enrol_beneficiary(conn, keys, new, actor=principal_of(request).actor)
        detail = await beneficiary_detail(conn, result.beneficiary_id)
    outcome: Literal["created", "enrolled"] = "created" if result.outcome == "created" else "enrolled"
    return json_response(EnrolledOut(**beneficiary_out(detail), outcome=outcome), status=201)


@routes.get(
    BASE,
    access=READERS,
    summary="Beneficiaries, newest first, masked; search by CCCD or account number; filter by hold reason",
    query=ListQuery,
    response=BeneficiaryListOut,
)
async def list_beneficiaries_api(request: web.Request, query: ListQuery) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows, total = await list_beneficiaries(
            conn,
            request.app[KEYS],
            q=query.q,
            state=query.state,
            programme=query.programme,
            limit=query.per_page,
            offset=(query.page - 1) * query.per_page,
        )
    return json_response(
        BeneficiaryListOut(
            beneficiaries=[
                BeneficiarySummaryOut(
                    id=r.id,
                    national_id=r.national_id_masked,
                    full_name=r.full_name_masked,
                    birth_date=r.birth_date,
                    bank_bin=r.bank_bin,
                    account_number=r.account_masked,
                    account_state=r.account_state,  # type: ignore[arg-type]
                    verified_until=r.verified_until,
                    payments_stopped_reason=r.payments_stopped_reason,  # type: ignore[arg-type]
                    programmes=r.programmes,
                    hold_reasons=r.hold_reasons,
                    created_at=r.created_at,
                )
                for r in rows
            ],
            total=total,
            page=query.page,
            per_page=query.per_page,
        )
    )


@routes.get(
    f"{BASE}/{ID_PATH}",
    access=READERS,
    summary="One beneficiary, masked: enrolments with hold reasons, accounts with their verification history",
    response=BeneficiaryOut,
    responses={404: "No such beneficiary"},
)
async def beneficiary_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        detail = await beneficiary_detail(conn, path_id(request, "beneficiary_id"))
    return json_response(BeneficiaryOut(**beneficiary_out(detail)))


def _check_account(body: AccountIn) -> tuple[str, str]:
    bin_, number = body.bank_bin.strip(), clean_account_number(body.account_number)
    problems = []
    if not (len(bin_) == 6 and bin_.isascii() and bin_.isdigit()):
        problems.append({"field": "bank_bin", "message": "The bank BIN is 6 digits."})
    if not (6 <= len(number) <= 19 and number.isascii() and number.isdigit()):
        problems.append({"field": "account_number", "message": "An account number is 6 to 19 digits."})
    if problems:
        raise ValidationFailed(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems),
            field=problems[0]["field"],
            errors=problems,
        )
    return bin_, number


async def change_account_answer(request: web.Request, body: AccountIn) -> web.Response:
    bin_, number = _check_account(body)
    beneficiary_id = path_id(request, "beneficiary_id")
    async with request.app[POOL].acquire() as conn:
        _, changed = await change_account(
            conn,
            request.app[KEYS],
            beneficiary_id,
            bank_bin=bin_,
            account_number=number,
            actor=principal_of(request).actor,
        )
        detail = await beneficiary_detail(conn, beneficiary_id)
    return json_response(AccountChangedOut(**beneficiary_out(detail), changed=changed))


_ACCOUNT_DOC: dict[str, Any] = {
    "access": WRITERS,
    "summary": "Change the beneficiary's account: a new account, unverified (paid only once verified again)",
    "body": AccountIn,
    "response": AccountChangedOut,
    "responses": {404: "No such beneficiary", 422: "Invalid BIN or account number"},
}


@routes.put(f"{BASE}/{ID_PATH}/account", **_ACCOUNT_DOC)
async def replace_account_api(request: web.Request, body: AccountIn) -> web.Response:
    return await change_account_answer(request, body)


@routes.post(f"{BASE}/{ID_PATH}/account", **_ACCOUNT_DOC)
async def change_account_api(request: web.Request, body: AccountIn) -> web.Response:
    return await change_account_answer(request, body)


# CSV import -----------------------------------------------------------------------------------------------


async def read_csv_upload(request: web.Request, limit: int = IMPORT_MAX_BYTES) -> bytes:
    """The CSV from a raw text/csv body or a multipart form's `file` field, read in chunks and never more
    than `limit` bytes held (413 above it, nothing stored)."""
    sent = await read_file_upload(
        request,
        limit=limit,
        too_large=lambda: _too_large(limit),
        raw_types=("text/csv", "text/plain", "application/octet-stream"),
    )
    return sent.data


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a beneficiary file may be at most {limit} bytes; split it",
        field="file",
        message="disb.import.too_large",
    )


def import_out(report: ImportReport, lang: str) -> ImportOut:
    return ImportOut(
        rows=len(report.rows),
        created=report.count("created"),
        enrolled=report.count("enrolled"),
        unchanged=report.count("unchanged"),
        failed=report.count("failed"),
        errors=[
            RowErrorOut(line=r.line, field=e.field, message=e.message(lang))
            for r in report.failed
            for e in r.errors
        ],
        failed_csv=report.failed_csv(lang) if report.failed else None,
    )


@routes.post(
    f"{BASE}/import",
    access=WRITERS,
    summary="Import beneficiaries from CSV: good rows in, each bad row reported (line, field, message) and "
    "returned as a CSV to fix and upload again; a row already enrolled is unchanged",
    response=ImportOut,
    responses={413: "Larger than 5 MB", 415: "Not text/csv or multipart", 422: "Not a readable CSV"},
)
async def import_beneficiaries_api(request: web.Request) -> web.Response:
    data = await read_csv_upload(request)
    report = await import_beneficiaries(
        request.app[POOL],
        request.app[KEYS],
        data,
        actor=principal_of(request).actor,
        today=_today(request),
    )
    response = json_response(import_out(report, request_language(request)))
    response.headers["Cache-Control"] = "no-store"  # the failed rows echo the uploader's values
    return response


# Verification and reviews ----------------------------------------------------------------------------------


@routes.post(
    f"{BASE}/{ID_PATH}/verify",
    access=WRITERS,
    summary="Verify the active account with the bank now (name inquiry; the CCCD where the bank holds it)",
    response=VerifyOut,
    responses={404: "No such beneficiary", 409: "No active account", 503: "The bank did not answer"},
)
async def verify_api(request: web.Request) -> web.Response:
    outcome = await verify_beneficiary(
        request.app[POOL],
        request.app[KEYS],
        request.app[SETTINGS],
        path_id(request, "beneficiary_id"),
        actor=principal_of(request).actor,
    )
    return json_response(VerifyOut(**outcome.as_dict()))


@routes.post(
    "/api/v1/disbursements/verify",
    access=WRITERS,
    summary="Queue every unverified or expired active account for verification (outbox: survives a restart)",
    response=VerifyAllOut,
)
async def verify_all_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        queued = await queue_verifications(conn, actor=principal_of(request).actor)
    return json_response(VerifyAllOut(queued=queued))


@routes.post(
    f"{BASE}/{ID_PATH}/review",
    access=WRITERS,
    summary="Propose accepting or rejecting a name mismatch; another person (an approver) decides",
    body=ReviewIn,
    response=ProposalOut,
    status=201,
    responses={404: "No such beneficiary", 409: "The account is not in mismatch, or a decision is pending"},
)
async def review_api(request: web.Request, body: ReviewIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        approval = await propose_mismatch_decision(
            conn,
            path_id(request, "beneficiary_id"),
            decision=body.decision,
            note=body.note,
            maker=principal_of(request).actor,
        )
    return json_response(
        ProposalOut(approval_id=approval.id, kind=approval.kind, state="pending"), status=201
    )


@routes.post(
    f"{BASE}/{ID_PATH}/resume",
    access=WRITERS,
    summary="Propose resuming payments to a beneficiary stopped by AC04/MD07; another person decides",
    body=ResumeIn,
    response=ProposalOut,
    status=201,
    responses={404: "No such beneficiary", 409: "Not stopped, or a decision is pending"},
)
async def resume_api(request: web.Request, body: ResumeIn) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        approval = await propose_resume_payments(
            conn, path_id(request, "beneficiary_id"), note=body.note, maker=principal_of(request).actor
        )
    return json_response(
        ProposalOut(approval_id=approval.id, kind=approval.kind, state="pending"), status=201
    )
