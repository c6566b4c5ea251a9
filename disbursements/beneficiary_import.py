"""Beneficiaries from a CSV file: good rows in, bad rows reported so a person can fix and re-upload them.

One row per (person, programme):

    national_id,full_name,birth_date,programme,monthly_amount,bank_bin,account_number
    001088001234,Nguyễn Văn An,1988-05-01,pension,3500000,970436,0011000456789

UTF-8 (a BOM is fine), comma or semicolon separated; `monthly_amount` may be empty (the programme's default)
and may group thousands with dots or commas (3.500.000); `birth_date` is YYYY-MM-DD or DD/MM/YYYY. Vietnamese
headers are accepted too (so_cccd, ho_ten, ngay_sinh, chuong_trinh, so_tien, ma_ngan_hang, so_tai_khoan).

Each row is checked with the same rules as the API (`check_new_beneficiary`) and written in its own
savepoint (a hundred rows per transaction): a good row is in whatever the others hold. Re-uploading the same
file changes nothing: a row already enrolled with the same amount is `unchanged`, not an error. A bad row
is answered with its line number, the field and a message, and comes back in a CSV of the failed rows with an
`error` column — the uploader's own values, echoed once in the answer to that upload, never stored or logged.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from core.csv_download import csv_text
from core.errors import Problem, ValidationFailed
from core.i18n import translate
from core.keys import AppKeys
from disbursements.beneficiaries import FieldError, NewBeneficiary, check_new_beneficiary, enrol_beneficiary
from disbursements.programmes import programmes

MAX_ROWS = 50_000
COLUMNS = (
    "national_id",
    "full_name",
    "birth_date",
    "programme",
    "monthly_amount",
    "bank_bin",
    "account_number",
)
REQUIRED = ("national_id", "full_name", "birth_date", "programme", "bank_bin", "account_number")
ALIASES = {
    "so_cccd": "national_id",
    "cccd": "national_id",
    "ho_ten": "full_name",
    "ngay_sinh": "birth_date",
    "chuong_trinh": "programme",
    "programmes": "programme",
    "so_tien": "monthly_amount",
    "so_tien_hang_thang": "monthly_amount",
    "ma_ngan_hang": "bank_bin",
    "bin": "bank_bin",
    "so_tai_khoan": "account_number",
}
CHUNK_ROWS = 100
RACED = FieldError(
    "national_id",
    "Người này vừa được thêm cùng lúc ở nơi khác; tải lại tệp để kiểm tra.",
    "Added at the same moment elsewhere; upload again to check.",
)
_GROUPED = re.compile(r"^[0-9]{1,3}([.,][0-9]{3})+$")


@dataclass
class RowReport:
    line: int
    outcome: str  # created | enrolled | unchanged | failed
    beneficiary_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    rows: list[RowReport]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def failed(self) -> list[RowReport]:
        return [r for r in self.rows if r.outcome == "failed"]

    def failed_csv(self, lang: str = "vi") -> str:
        """The failed rows as the uploader sent them, with an `error` column; BOM first (Excel reads UTF-8),
        every cell spreadsheet-safe (no formula runs when opened)."""
        return csv_text(
            [*COLUMNS, "line", "error"],
            (
                [r.values.get(c, "") for c in COLUMNS]
                + [r.line, "; ".join(f"{e.field}: {e.message(lang)}" for e in r.errors)]
                for r in self.failed
            ),
        )


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file is not UTF-8 text (save the spreadsheet as 'CSV UTF-8')",
            field="file",
            message="disb.import.not_utf8",
        ) from None
    if "\x00" in text:
        raise ValidationFailed(
            "the file holds NUL characters: not a CSV text file", field="file", message="disb.import.nul"
        )
    return text


def _header(raw: list[str]) -> list[str]:
    names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in raw]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ValidationFailed(
            f"the header row lacks {', '.join(missing)} (expected: {','.join(COLUMNS)})",
            field="file",
            message="disb.import.header_missing",
            missing=", ".join(missing),
            expected=",".join(COLUMNS),
        )
    dup = sorted({n for n in names if names.count(n) > 1 and n in COLUMNS})
    if dup:
        raise ValidationFailed(
            f"the header row names {dup[0]} twice",
            field="file",
            message="disb.import.header_twice",
            column=dup[0],
        )
    return names


def _date(raw: str) -> date | None:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def _amount(raw: str) -> int | str | None:
    """None: empty (the default); an int; or the raw text when it is no whole number of đồng."""
    raw = raw.strip().replace(" ", "")
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) <= 15:
        return int(raw)
    if _GROUPED.match(raw) and len(raw) <= 20 and len({ch for ch in raw if not ch.isdigit()}) == 1:
        return int(re.sub(r"[.,]", "", raw))
    return raw


def parse_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, values by column) for every non-empty data row; a file-level problem is a 422."""
    text = _decode(data)
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header_row = next(reader, None)
        if header_row is None:
            raise ValidationFailed("the file is empty", field="file", message="disb.import.empty")
        names = _header(header_row)
        rows: list[tuple[int, dict[str, str]]] = []
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue
            if len(rows) >= MAX_ROWS:
                raise ValidationFailed(
                    f"at most {MAX_ROWS} rows per file",
                    field="file",
                    message="disb.import.too_many_rows",
                    max_rows=MAX_ROWS,
                )
            values = {names[i]: cell for i, cell in enumerate(raw[: len(names)]) if names[i] in COLUMNS}
            if len(raw) > len(names):
                values["_extra"] = "1"
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise ValidationFailed(
            f"line {reader.line_num}: not readable as CSV ({exc})",
            field="file",
            message="disb.import.unreadable",
            line=reader.line_num,
        ) from None
    return rows


async def import_beneficiaries(
    pool: asyncpg.Pool, keys: AppKeys, data: bytes, *, actor: str, today: date
) -> ImportReport:
    rows = parse_rows(data)
    async with pool.acquire() as conn:
        known = await programmes(conn)
    defaults = {code: p.default_monthly_amount for code, p in known.items()}
    reports: list[RowReport] = []
    checked: list[tuple[RowReport, NewBeneficiary]] = []
    for line, values in rows:
        shown = {k: v for k, v in values.items() if k in COLUMNS}
        problems: list[FieldError] = []
        if values.get("_extra"):
            problems.append(
                FieldError(
                    "row", "Dòng có nhiều cột hơn dòng tiêu đề.", "The row has more cells than the header."
                )
            )
        born = _date(values.get("birth_date", ""))
        bad_date = born is None and bool(values.get("birth_date", "").strip())
        if bad_date:
            problems.append(
                FieldError(
                    "birth_date",
                    "Ngày sinh viết dạng YYYY-MM-DD hoặc DD/MM/YYYY.",
                    "Write the birth date as YYYY-MM-DD or DD/MM/YYYY.",
                )
            )
        programme = values.get("programme", "").strip()
        amount = _amount(values.get("monthly_amount", ""))
        amounts: dict[str, int] = {}
        if isinstance(amount, str):
            problems.append(
                FieldError(
                    "monthly_amount",
                    "Số tiền là số nguyên đồng (ví dụ 3500000 hoặc 3.500.000).",
                    "The amount is a whole number of đồng (e.g. 3500000 or 3.500.000).",
                )
            )
        elif amount is not None:
            amounts[programme] = amount
        new, found = check_new_beneficiary(
            national_id=values.get("national_id", ""),
            full_name=values.get("full_name", ""),
            birth_date=born,
            programmes=[programme] if programme else [],
            monthly_amounts=amounts,
            bank_bin=values.get("bank_bin", ""),
            account_number=values.get("account_number", ""),
            defaults=defaults,
            today=today,
        )
        problems += [
            FieldError(
                "monthly_amount" if p.field.startswith("monthly_amounts") else p.field,
                p.message_vi,
                p.message_en,
            )
            for p in found
            if not (bad_date and p.field == "birth_date")
        ]
        if problems or new is None:
            reports.append(RowReport(line, "failed", errors=problems, values=shown))
        else:
            reports.append(RowReport(line, "pending", values=shown))
            checked.append((reports[-1], new))
    # Written a chunk of rows per transaction (one commit per chunk), each row in its own savepoint: a row
    # refused by the service or the database rolls back alone.
    for start in range(0, len(checked), CHUNK_ROWS):
        async with pool.acquire() as conn, conn.transaction():
            for report, new in checked[start : start + CHUNK_ROWS]:
                try:
                    async with conn.transaction():
                        result = await enrol_beneficiary(conn, keys, new, actor=actor, idempotent=True)
                except Problem as exc:
                    report.outcome, report.errors = "failed", [_problem_error(exc)]
                    continue
                except asyncpg.UniqueViolationError:  # the same person added at this moment elsewhere
                    report.outcome, report.errors = "failed", [RACED]
                    continue
                report.outcome, report.beneficiary_id, report.values = (
                    result.outcome,
                    result.beneficiary_id,
                    {},
                )
    return ImportReport(reports)


def _problem_error(exc: Problem) -> FieldError:
    """A refusal from the service (a conflict with the registered person) as a row's error."""
    where = exc.field or "row"
    if where.startswith("monthly_amounts"):
        where = "monthly_amount"
    vi = translate(exc.message, "vi") if exc.message else exc.title_vi
    return FieldError(where, vi, exc.detail or exc.title_en)
