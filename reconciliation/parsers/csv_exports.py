"""Banks' CSV and Excel (.xlsx) exports, read through a per-bank `ColumnMapping` — data, not code: adding a
bank is adding a mapping to `MAPPINGS`.

A mapping finds the header row by its cells, then reads each following row whose date cell is filled as a
line; a row starting with a footer label ("Tổng cộng") ends the table. Amounts are either one signed column,
or separate debit and credit columns (exactly one filled per row), or an amount column with a direction
column. Numbers follow the bank's grouping ("1.234.567" or "1,234,567"); a fraction other than zeros is
refused. Opening and closing balances come from rows of a kind column (the simulated bank: OPENING/CLOSING
with a balance column) or from label rows ("Số dư đầu kỳ" followed by the amount), or are absent (None).
The account number is read from a labelled cell above the header, or given by the caller.

Text a spreadsheet could run as a formula is exported with a leading apostrophe (banksim's `_cell`); the
apostrophe is dropped again here. The statement id is derived from the file: account, last day and the first
12 hex digits of the file's SHA-256, so the same file gives the same id.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from reconciliation.parsers.amounts import NumberStyle, check_currency, grouped_amount, whole_dong
from reconciliation.parsers.safe_xml import check_size
from reconciliation.statement import Direction, Statement, StatementLine, StatementRefused

XLSX_MAGIC = b"PK\x03\x04"
MAX_XLSX_UNPACKED = 200 * 1024 * 1024  # a zip bomb stops here, before openpyxl inflates anything


@dataclass(frozen=True)
class ColumnMapping:
    """How one bank lays out its export. Column names are matched without regard to case, accents in
    Unicode composed/decomposed form, or repeated spaces."""

    name: str
    header: tuple[str, ...]  # cells that must all be in the header row (the first row holding them all)
    date: str
    bank_ref: str
    narrative: str
    amount: str | None = None  # one signed column ("-50.000" is a debit) …
    debit: str | None = None  # … or a debit and a credit column …
    credit: str | None = None
    direction: str | None = None  # … or `amount` unsigned plus a column holding one of the marks below
    credit_marks: tuple[str, ...] = ("C", "CR", "CRDT", "Có", "Ghi có")
    debit_marks: tuple[str, ...] = ("D", "DR", "DBIT", "Nợ", "Ghi nợ")
    date_formats: tuple[str, ...] = ("%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
    number_style: NumberStyle = "1.234.567"
    value_date: str | None = None
    end_to_end_id: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    currency: str = "VND"
    currency_column: str | None = None
    account_label: str | None = None  # a cell above the header: "Số tài khoản:" (number after it or beside)
    kind_column: str | None = None  # a column telling entries from balance rows …
    entry_kinds: tuple[str, ...] = ("ENTRY",)
    opening_kind: str = "OPENING"
    closing_kind: str = "CLOSING"
    balance_column: str | None = None  # … whose balance is in this column
    opening_label: str | None = None  # or label rows: "Số dư đầu kỳ" and the amount in a later cell
    closing_label: str | None = None
    footer_labels: tuple[str, ...] = ()
    delimiter: str | None = None  # None: sniffed among , ; and tab


BANKSIM = ColumnMapping(
    name="banksim",
    header=("record_type", "booking_date", "bank_txn_id", "debit", "credit", "narrative"),
    date="booking_date",
    bank_ref="bank_txn_id",
    narrative="narrative",
    debit="debit",
    credit="credit",
    date_formats=("%Y-%m-%d",),
    end_to_end_id="end_to_end_id",
    counterparty_name="counterparty_name",
    counterparty_account="counterparty_account",
    currency_column="currency",
    kind_column="record_type",
    balance_column="balance",
    delimiter=",",
)

# The shape of Vietcombank's "Sao kê tài khoản" export (VCB Digibiz): a title block with the account, a
# header row, one row per transaction with separate debit/credit columns, balances in labelled rows.
VIETCOMBANK = ColumnMapping(
    name="vietcombank",
    header=("Ngày giao dịch", "Số tham chiếu", "Số tiền ghi nợ", "Số tiền ghi có", "Mô tả"),
    date="Ngày giao dịch",
    bank_ref="Số tham chiếu",
    narrative="Mô tả",
    debit="Số tiền ghi nợ",
    credit="Số tiền ghi có",
    number_style="1,234,567",
    account_label="Số tài khoản",
    opening_label="Số dư đầu kỳ",
    closing_label="Số dư cuối kỳ",
    footer_labels=("Tổng cộng", "Tổng số", "Total"),
)

MAPPINGS: dict[str, ColumnMapping] = {m.name: m for m in (BANKSIM, VIETCOMBANK)}

Cell = str | int | float | Decimal | date | datetime | None


def _norm(text: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text)).casefold().split()).rstrip(":").strip()


def _text(value: Cell) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        text = text[1:]  # the exporter's guard against formulas (banksim's `_cell`)
    return text


# --- reading rows out of the file -------------------------------------------------------------------------


def csv_rows(data: bytes, delimiter: str | None = None) -> list[list[Cell]]:
    check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1258")  # Vietnamese Windows exports
        except UnicodeDecodeError:
            raise StatementRefused("CSV that is neither UTF-8 nor Windows-1258 text") from None
    text = unicodedata.normalize("NFC", text)
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise StatementRefused(f"unreadable CSV: {exc}") from None


def xlsx_rows(data: bytes, sheet: str | None = None) -> list[list[Cell]]:
    """Values only (formulas are never evaluated: openpyxl gives the cached values) of the first sheet."""
    import openpyxl  # imported here: only Excel uploads pay for it

    check_size(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise StatementRefused("not a readable .xlsx file (bad zip)") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise StatementRefused(f"the .xlsx unpacks to {unpacked:,} bytes, over the limit")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on broken files
        raise StatementRefused(f"not a readable .xlsx file: {exc}") from None
    try:
        worksheet = book[sheet] if sheet else book.worksheets[0]
        return [
            [_unrich(value) for value in row]
            for row in worksheet.iter_rows(values_only=True)
            if row is not None
        ]
    finally:
        book.close()


def _unrich(value: object) -> Cell:
    if value is None or isinstance(value, str | int | float | Decimal | date | datetime):
        return value
    return str(value)


# --- reading the rows through a mapping -------------------------------------------------------------------


def _find_header(rows: Sequence[Sequence[Cell]], mapping: ColumnMapping) -> int | None:
    wanted = {_norm(h) for h in mapping.header}
    for index, row in enumerate(rows[:200]):
        if wanted <= {_norm(c) for c in row if c is not None}:
            return index
    return None


def detect_mapping(rows: Sequence[Sequence[Cell]]) -> ColumnMapping | None:
    found = [m for m in MAPPINGS.values() if _find_header(rows, m) is not None]
    return found[0] if len(found) == 1 else None


def _labelled_value(row: Sequence[Cell], label: str) -> Cell:
    """The value after a label cell: in the same cell ("Số tài khoản: 0071…") or the next non-empty one."""
    cells = list(row)
    for i, cell in enumerate(cells):
        text = _norm(cell) if cell is not None else ""
        wanted = _norm(label)
        if text == wanted:
            return next((c for c in cells[i + 1 :] if c not in (None, "")), None)
        if text.startswith(wanted):
            rest = str(cell).strip()[len(label) :].lstrip(" :")
            return rest or next((c for c in cells[i + 1 :] if c not in (None, "")), None)
    return None


def _balance_label(row: Sequence[Cell], mapping: ColumnMapping) -> tuple[str, Cell] | None:
    """("opening"|"closing", the amount cell) when the row's first filled cell is a balance label."""
    first = next((c for c in row if c not in (None, "")), None)
    if first is None:
        return None
    for label, which in ((mapping.opening_label, "opening"), (mapping.closing_label, "closing")):
        if label and _norm(first).startswith(_norm(label)):
            value = _labelled_value(row, label)
            if value is not None:
                return which, value
    return None


def _day(value: Cell, formats: tuple[str, ...], *, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise StatementRefused(f"date {text!r} is not in the form {' or '.join(formats)}", where=where)


def _amount(value: Cell, mapping: ColumnMapping, *, where: str) -> int | None:
    """Signed đồng, or None for an empty cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise StatementRefused(f"amount {value!r} is not a number", where=where)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return whole_dong(Decimal(str(value)), where=where)
    return grouped_amount(_text(value), mapping.number_style, where=where)


class _Columns:
    def __init__(self, header: Sequence[Cell], mapping: ColumnMapping) -> None:
        self.index = {_norm(c): i for i, c in reversed(list(enumerate(header))) if c not in (None, "")}
        for name in (
            mapping.date,
            mapping.bank_ref,
            mapping.narrative,
            mapping.amount,
            mapping.debit,
            mapping.credit,
            mapping.direction,
            mapping.value_date,
            mapping.end_to_end_id,
            mapping.counterparty_name,
            mapping.counterparty_account,
            mapping.currency_column,
            mapping.kind_column,
            mapping.balance_column,
        ):
            if name is not None and _norm(name) not in self.index:
                raise StatementRefused(f"the header has no column {name!r} (mapping {mapping.name})")

    def get(self, row: Sequence[Cell], name: str | None) -> Cell:
        if name is None:
            return None
        i = self.index[_norm(name)]
        return row[i] if i < len(row) else None


def _check_mapping(mapping: ColumnMapping) -> None:
    ways = [mapping.debit is not None and mapping.credit is not None, mapping.amount is not None]
    if sum(ways) != 1 or (mapping.direction is not None and mapping.amount is None):
        raise ValueError(f"mapping {mapping.name}: give amount (and maybe direction), or debit and credit")


def _signed(row: Sequence[Cell], cols: _Columns, m: ColumnMapping, *, where: str) -> tuple[Direction, int]:
    if m.debit is not None and m.credit is not None:
        debit = _amount(cols.get(row, m.debit), m, where=where) or 0
        credit = _amount(cols.get(row, m.credit), m, where=where) or 0
        if debit < 0 or credit < 0 or (debit > 0) == (credit > 0):
            raise StatementRefused("a line needs exactly one of its debit and credit amounts", where=where)
        return ("credit", credit) if credit else ("debit", debit)
    amount = _amount(cols.get(row, m.amount), m, where=where)
    if not amount:
        raise StatementRefused("line without an amount", where=where)
    if m.direction is None:
        return ("credit", amount) if amount > 0 else ("debit", -amount)
    if amount < 0:
        raise StatementRefused("a signed amount in a column with a direction beside it", where=where)
    mark = _norm(_text(cols.get(row, m.direction)))
    if mark in {_norm(x) for x in m.credit_marks}:
        return "credit", amount
    if mark in {_norm(x) for x in m.debit_marks}:
        return "debit", amount
    raise StatementRefused(f"direction {mark!r} is neither credit nor debit", where=where)


def read_rows(
    rows: Sequence[Sequence[Cell]], mapping: ColumnMapping, *, data: bytes, account: str | None = None
) -> Statement:
    _check_mapping(mapping)
    header_at = _find_header(rows, mapping)
    if header_at is None:
        raise StatementRefused(f"no header row with {', '.join(mapping.header)} (mapping {mapping.name})")
    cols = _Columns(rows[header_at], mapping)
    if account is None and mapping.account_label is not None:
        for row in rows[:header_at]:
            found = _labelled_value(row, mapping.account_label)
            if found is not None:
                account = _text(found).replace(" ", "")
                break
    if not account:
        raise StatementRefused(f"no account number in the file (mapping {mapping.name}): give it")
    currency = check_currency(mapping.currency, where=mapping.name)
    opening: int | None = None
    closing: int | None = None
    balance_days: list[date] = []
    lines: list[StatementLine] = []
    footers = [_norm(f) for f in mapping.footer_labels]
    dated: dict[bool, date] = {}  # the balance rows' days: True the opening's, False the closing's
    ended = False
    for number, row in enumerate(rows, start=1):
        where = f"row {number}"
        label = _balance_label(row, mapping)
        if label is not None:
            which, value = label
            if which == "opening":
                opening = _amount(value, mapping, where=where)
            else:
                closing = _amount(value, mapping, where=where)
            continue
        if number <= header_at + 1 or ended:
            continue
        first = next((_norm(c) for c in row if c not in (None, "")), None)
        if first is None:
            continue
        if any(first.startswith(f) for f in footers):
            ended = True
            continue
        kind = _text(cols.get(row, mapping.kind_column)) if mapping.kind_column else None
        if kind is not None and kind not in mapping.entry_kinds:
            if kind not in (mapping.opening_kind, mapping.closing_kind):
                raise StatementRefused(f"row kind {kind!r} is unknown", where=where)
            value = _amount(cols.get(row, mapping.balance_column), mapping, where=where)
            if value is None:
                raise StatementRefused("balance row without a balance", where=where)
            if (opening if kind == mapping.opening_kind else closing) is not None:
                raise StatementRefused(f"a second {kind} row: which balance holds is a guess", where=where)
            if cols.get(row, mapping.date) not in (None, ""):
                day = _day(cols.get(row, mapping.date), mapping.date_formats, where=where)
                balance_days.append(day)
                dated[kind == mapping.opening_kind] = day
                if True in dated and False in dated and dated[True] > dated[False]:
                    raise StatementRefused(
                        f"the opening balance ({dated[True]}) is dated after the closing ({dated[False]})",
                        where=where,
                    )
            if kind == mapping.opening_kind:
                opening = value
            else:
                closing = value
            continue
        if cols.get(row, mapping.date) in (None, ""):
            continue  # a sub-total or a note between lines
        if mapping.currency_column:
            check_currency(_text(cols.get(row, mapping.currency_column)) or currency, where=where)
        lines.append(_row_line(row, cols, mapping, where=where))
    days = [line.booking_date for line in lines] + balance_days
    if not days:
        raise StatementRefused(f"no dated line or balance in the file (mapping {mapping.name})")
    digest = hashlib.sha256(data).hexdigest()[:12]
    return Statement(
        format=f"csv:{mapping.name}",
        statement_id=f"{account}-{max(days):%Y%m%d}-{digest}",
        account=account,
        currency=currency,
        from_date=min(days),
        to_date=max(days),
        opening_balance=opening,
        closing_balance=closing,
        lines=lines,
    )


def _row_line(row: Sequence[Cell], cols: _Columns, m: ColumnMapping, *, where: str) -> StatementLine:
    way, amount = _signed(row, cols, m, where=where)
    bank_ref = _text(cols.get(row, m.bank_ref))
    if not bank_ref:
        raise StatementRefused("line without a bank reference", where=where)
    value = cols.get(row, m.value_date) if m.value_date else None
    e2e = _text(cols.get(row, m.end_to_end_id)) if m.end_to_end_id else ""
    return StatementLine(
        bank_ref=bank_ref,
        booking_date=_day(cols.get(row, m.date), m.date_formats, where=where),
        direction=way,
        amount=amount,
        narrative=" ".join(_text(cols.get(row, m.narrative)).split()),
        value_date=_day(value, m.date_formats, where=where) if value not in (None, "") else None,
        end_to_end_id=e2e or None,
        counterparty_name=_text(cols.get(row, m.counterparty_name)) or None if m.counterparty_name else None,
        counterparty_account=_text(cols.get(row, m.counterparty_account)) or None
        if m.counterparty_account
        else None,
    )


def parse_export(
    data: bytes,
    *,
    mapping: str | ColumnMapping | None = None,
    account: str | None = None,
    excel: bool | None = None,
) -> list[Statement]:
    """A CSV (or, when `excel` or the bytes are a zip, an .xlsx) export → its one statement."""
    is_excel = data[:4] == XLSX_MAGIC if excel is None else excel
    chosen = MAPPINGS.get(mapping) if isinstance(mapping, str) else mapping
    if isinstance(mapping, str) and chosen is None:
        raise StatementRefused(f"no column mapping named {mapping!r} (known: {', '.join(MAPPINGS)})")
    rows = xlsx_rows(data) if is_excel else csv_rows(data, chosen.delimiter if chosen else None)
    if chosen is None:
        chosen = detect_mapping(rows)
        if chosen is None:
            raise StatementRefused(
                f"no known bank layout in this export: name its mapping ({', '.join(MAPPINGS)})"
            )
    return [read_rows(rows, chosen, data=data, account=account)]
