"""Statements in, for finance: `POST /api/v1/reconciliation/statements` (the file as the body, or a multipart
upload from the page), `GET /api/v1/reconciliation/statements` and the `/reconciliation/statements` page with
its upload form (reconciliation/static/upload.js sends the file and shows the progress); and fetching a past
day's statements from the banks now (`POST /api/v1/reconciliation/statements/fetch` and the page's form), as
the daily fetch does (reconciliation/fetch.py).

The body is read in chunks into a buffer bounded by CITYPAY_STATEMENT_MAX_BYTES, the upload's own limit
(statements run to tens of MB; every other body stays within CITYPAY_MAX_BODY_BYTES): above it the answer
is a 413 and nothing is stored."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from core.api import Routes, path_id, staff
from core.appkeys import CLOCK, KEYS, POOL, SETTINGS
from core.auth import principal_of
from core.errors import NotFound, PayloadTooLarge, ValidationFailed
from core.forms import EMPTY_FORM, FormState
from core.money import LOCAL_TZ
from core.pages import render_html
from core.responses import ResponseModel, Timestamp, json_response
from core.text import FreeText
from core.timebounds import BoundedDate
from core.uploads import read_file_upload
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)
from reconciliation.fetch import FetchReport, fetch_statements
from reconciliation.importer import (
    ImportedStatement,
    ImportResult,
    StatementRow,
    import_statement_file,
    recent_statements,
    statement_counts,
)

routes = Routes(tags=("reconciliation",))
IMPORTERS = staff("finance", "admin", scopes=("reconciliation:write",))
READERS = staff("finance", "admin", scopes=("reconciliation:read",))

# What the Content-Type says about the format, as a file name would (the parsers also sniff the content).
_EXTENSION_BY_TYPE = {
    "application/xml": ".xml",
    "text/xml": ".xml",
    "text/plain": ".sta",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/octet-stream": "",
}
MappingName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,40}$")]
AccountNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,34}$")]
# Shown on the statements page: FreeText refuses bidi overrides and zero-width characters in it.
FileName = Annotated[FreeText, Field(pattern=r"^[^\x00-\x1f\x7f/\\]{1,255}$")]


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mapping: MappingName | None = Field(default=None, description="CSV/Excel column mapping, e.g. banksim")
    account: AccountNumber | None = Field(
        default=None, description="The account of a CSV/Excel export that does not print it"
    )
    filename: FileName | None = Field(default=None, description="The file's name, kept with the import")


class ImportedStatementOut(ResponseModel):
    id: int | None = Field(description="null: this statement was imported before, from another file")
    bin: str
    account_number: str
    statement_ref: str
    sequence: int | None
    from_date: date
    to_date: date
    opening_balance: int | None
    closing_balance: int | None
    lines: int
    new_lines: int
    duplicate_lines: int = Field(description="Lines already known (an overlapping statement, another format)")
    sequence_gap: str | None
    already_imported: bool


class ImportOut(ResponseModel):
    file_id: int
    sha256: str
    format: str
    filename: str | None
    statements: list[ImportedStatementOut]
    new_lines: int
    duplicate_lines: int
    sequence_gaps: list[str]


class StatementOut(ResponseModel):
    id: int
    file_id: int
    bin: str
    account_number: str
    statement_ref: str
    sequence: int | None
    from_date: date
    to_date: date
    opening_balance: int | None
    closing_balance: int | None
    lines: int
    new_lines: int
    sequence_gap: str | None
    filename: str | None
    source: str
    imported_by: str
    imported_at: Timestamp


class StatementsOut(ResponseModel):
    statements: list[StatementOut]


class FetchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    business_date: BoundedDate


class FetchOut(ResponseModel):
    business_date: date
    imported: list[str] = Field(description="Accounts whose statement came in, with the new lines")
    already_in: list[str]
    not_offered: list[str] = Field(description="The bank offers no download (or has no address)")
    failed: list[str] = Field(description="The bank did not answer, or the statement was refused")


class StatementDetailOut(StatementOut):
    lines_by_state: dict[str, int] = Field(description="unmatched / matched / proposed / exception")
    open_exceptions: int


def _imported_out(s: ImportedStatement) -> ImportedStatementOut:
    return ImportedStatementOut(
        id=s.id,
        bin=s.bin,
        account_number=s.account_number,
        statement_ref=s.statement_ref,
        sequence=s.sequence,
        from_date=s.from_date,
        to_date=s.to_date,
        opening_balance=s.opening_balance,
        closing_balance=s.closing_balance,
        lines=s.line_count,
        new_lines=s.new_lines,
        duplicate_lines=s.duplicate_lines,
        sequence_gap=s.sequence_gap,
        already_imported=s.already_imported,
    )


def import_out(result: ImportResult) -> ImportOut:
    return ImportOut(
        file_id=result.file_id,
        sha256=result.sha256,
        format=result.format,
        filename=result.filename,
        statements=[_imported_out(s) for s in result.statements],
        new_lines=result.new_lines,
        duplicate_lines=result.duplicate_lines,
        sequence_gaps=result.sequence_gaps,
    )


def _statement_fields(s: StatementRow) -> dict:
    return {
        "id": s.id,
        "file_id": s.file_id,
        "bin": s.bin,
        "account_number": s.account_number,
        "statement_ref": s.statement_ref,
        "sequence": s.sequence,
        "from_date": s.from_date,
        "to_date": s.to_date,
        "opening_balance": s.opening_balance,
        "closing_balance": s.closing_balance,
        "lines": s.line_count,
        "new_lines": s.new_lines,
        "sequence_gap": s.sequence_gap,
        "filename": s.filename,
        "source": s.source,
        "imported_by": s.imported_by,
        "imported_at": s.imported_at,
    }


# Reading the upload ---------------------------------------------------------------------------------------


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a statement file may be at most {limit} bytes (CITYPAY_STATEMENT_MAX_BYTES)",
        field="file",
        message="recon.import.too_large",
    )


class Upload:
    def __init__(self, data: bytes, filename: str | None, mapping: str | None, account: str | None) -> None:
        self.data, self.filename, self.mapping, self.account = data, filename, mapping, account


async def read_upload(request: web.Request, query: ImportQuery, limit: int) -> Upload:
    """The file from a raw body (its format from Content-Type) or a multipart form (fields `file`, and
    optionally `mapping`, `account`), never more than `limit` bytes held."""
    sent = await read_file_upload(
        request,
        limit=limit,
        too_large=lambda: _too_large(limit),
        raw_types=_EXTENSION_BY_TYPE,
        small_fields=("mapping", "account"),
    )
    if sent.content_type != "multipart/form-data":
        extension = _EXTENSION_BY_TYPE[sent.content_type]
        filename = query.filename or (f"upload{extension}" if extension else None)
        return Upload(sent.data, filename, query.mapping, query.account)
    # The form's fields pass the same checks as the query's.
    checked = ImportQuery.model_validate(
        {
            "mapping": sent.fields.get("mapping") or query.mapping,
            "account": sent.fields.get("account") or query.account,
        }
    )
    return Upload(sent.data, query.filename or sent.filename, checked.mapping, checked.account)


# Routes ---------------------------------------------------------------------------------------------------


@routes.post(
    "/api/v1/reconciliation/statements",
    access=IMPORTERS,
    summary="Import a bank statement file (camt.053/054 XML, MT940, CSV/Excel export)",
    query=ImportQuery,
    response=ImportOut,
    status=201,
    responses={
        409: "This file (or every statement in it) was imported before",
        413: "Above CITYPAY_STATEMENT_MAX_BYTES",
        415: "Not a statement content type",
        422: "Unreadable, unbalanced, not VND, or not a collection account of the city",
    },
)
async def import_statement_api(request: web.Request, query: ImportQuery) -> web.Response:
    from pydantic import ValidationError

    from core.api import validation_problem

    settings = request.app[SETTINGS]
    try:
        upload = await read_upload(request, query, settings.statement_max_bytes)
    except ValidationError as exc:
        raise validation_problem(exc) from None
    result = await import_statement_file(
        request.app[POOL],
        request.app[KEYS],
        upload.data,
        filename=upload.filename,
        source="upload",
        actor=principal_of(request).actor,
        mapping=upload.mapping,
        account=upload.account,
        match_window_days=settings.recon_date_window_days,
    )
    return json_response(import_out(result), status=201)


@routes.get(
    "/api/v1/reconciliation/statements",
    access=READERS,
    summary="Imported statements, newest first",
    response=StatementsOut,
)
async def list_statements_api(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await recent_statements(conn)
    return json_response(StatementsOut(statements=[StatementOut(**_statement_fields(r)) for r in rows]))


@routes.get(
    "/api/v1/reconciliation/statements/{id:[0-9]{1,18}}",
    access=READERS,
    summary="One imported statement with its lines by match state and its open exceptions",
    response=StatementDetailOut,
)
async def statement_api(request: web.Request) -> web.Response:
    statement_id = path_id(request, "id")
    async with request.app[POOL].acquire() as conn:
        found = await statement_counts(conn, statement_id)
    if found is None:
        raise NotFound("no such statement", field="id")
    row, by_state, open_exceptions = found
    return json_response(
        StatementDetailOut(**_statement_fields(row), lines_by_state=by_state, open_exceptions=open_exceptions)
    )


async def _fetch_day(request: web.Request, day: date) -> FetchReport:
    today = request.app[CLOCK].now().astimezone(LOCAL_TZ).date()
    if day >= today:
        # Today's statement is not final: taken in now, the full one (same statement id) would be skipped.
        raise ValidationFailed(
            f"{day} has not ended in Hà Nội: its statement is not final yet",
            field="business_date",
            message="recon.import.fetch_not_over",
        )
    return await fetch_statements(request.app[POOL], request.app[KEYS], request.app[SETTINGS], day)


@routes.post(
    "/api/v1/reconciliation/statements/fetch",
    access=IMPORTERS,
    summary="Fetch a past day's statements now from every bank that offers them (as the daily fetch does)",
    body=FetchIn,
    response=FetchOut,
)
async def fetch_statements_api(request: web.Request, body: FetchIn) -> web.Response:
    report = await _fetch_day(request, body.business_date)
    return json_response(
        FetchOut(
            business_date=report.day,
            imported=[f"{label}: {report.new_lines.get(label, 0)} new lines" for label in report.imported],
            already_in=report.already_in,
            not_offered=report.not_offered,
            failed=report.failed,
        )
    )


async def _statements_page(
    request: web.Request,
    *,
    form: FormState = EMPTY_FORM,
    status: int = 200,
    report: FetchReport | None = None,
) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await recent_statements(conn)
    settings = request.app[SETTINGS]
    return render_html(
        request,
        "reconciliation/statements.html",
        status=status,
        form=form,
        report=report,
        statements=rows,
        max_mb=settings.statement_max_bytes // (1024 * 1024),
        upload={"url": "/api/v1/reconciliation/statements", "max_bytes": settings.statement_max_bytes},
    )


@routes.get(
    "/reconciliation/statements",
    access=IMPORTERS,
    summary="Statements page: upload with progress, fetch a day, imported statements",
    in_openapi=False,
    produces="text/html",
)
async def statements_page(request: web.Request) -> web.Response:
    return await _statements_page(request)


@routes.form_post(
    "/reconciliation/statements/fetch",
    access=IMPORTERS,
    summary="Fetch a past day's statements from the banks (form)",
    form=FetchIn,
    page=_statements_page,
)
async def fetch_statements_form(request: web.Request, form: FetchIn) -> web.Response:
    report = await _fetch_day(request, form.business_date)
    return await _statements_page(request, report=report)
