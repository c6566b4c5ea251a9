"""Read a bank's statement file into `reconciliation.statement.Statement`s, whatever its format.

`parse_statement(data, filename=…, mapping=…)` sniffs the format and dispatches:

- XML (camt053.py, camt054.py): ISO 20022 camt.053 statements and camt.054 notifications, any .001.NN
  version, read safely (safe_xml.py: no DOCTYPE/entities, no network, size/depth/element limits);
- MT940 (mt940.py): a file starting with ":20:" (or a SWIFT "{1:" envelope);
- CSV / Excel exports (csv_exports.py): through a named `ColumnMapping`, or the one known mapping whose
  header the file holds.

Parsers read; they do not judge. Whether opening + lines = closing is the importer's check
(`balance_difference` helps), as are sequence gaps and files imported twice. Every refusal is a
`StatementRefused` saying what and where. Amounts are whole đồng (amounts.py: ".00" accepted, any other
fraction refused).
"""

from __future__ import annotations

from reconciliation.parsers.camt import message_kind
from reconciliation.parsers.camt053 import parse_camt053, read_camt053
from reconciliation.parsers.camt054 import parse_camt054, read_camt054
from reconciliation.parsers.csv_exports import MAPPINGS, XLSX_MAGIC, ColumnMapping, parse_export
from reconciliation.parsers.limits import check_limits
from reconciliation.parsers.mt940 import looks_like_mt940, parse_mt940
from reconciliation.parsers.safe_xml import MAX_TEXT_BYTES, check_size, parse_xml
from reconciliation.statement import Statement, StatementRefused

__all__ = [
    "MAPPINGS",
    "ColumnMapping",
    "balance_difference",
    "parse_camt053",
    "parse_camt054",
    "parse_export",
    "parse_mt940",
    "parse_statement",
]

_CSV_EXTENSIONS = (".csv", ".txt", ".tsv")


def parse_statement(
    data: bytes, *, filename: str | None = None, mapping: str | None = None, account: str | None = None
) -> list[Statement]:
    """Every statement in the file. `mapping` names a CSV/Excel column mapping (else it is recognised by its
    header); `account` gives the account number to an export that does not print it. Each is checked against
    limits.py: dates in 2000–2100, its period in order, references and amounts that fit."""
    statements = _parse(data, filename=filename, mapping=mapping, account=account)
    for n, statement in enumerate(statements, start=1):
        check_limits(statement, f"statement {n} ({statement.statement_id[:40]})")
    return statements


def _parse(data: bytes, *, filename: str | None, mapping: str | None, account: str | None) -> list[Statement]:
    check_size(data, limit=MAX_TEXT_BYTES)  # XML and CSV/Excel check their own, lower, limit again
    name = (filename or "").lower()
    if data[:4] == XLSX_MAGIC or name.endswith(".xlsx"):
        return parse_export(data, mapping=mapping, account=account, excel=True)
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or name.endswith(".xml"):
        root = parse_xml(data)
        kind = message_kind(root)
        if kind is None:
            raise StatementRefused(f"XML that is not a camt.053 or camt.054 message (root {root.tag})")
        return read_camt053(root) if kind[0] == "camt.053" else read_camt054(root)
    text_head = head.decode("utf-8", errors="ignore")  # 512 bytes may end mid-character
    if looks_like_mt940(text_head) or name.endswith((".sta", ".mt940", ".940")):
        return parse_mt940(data)
    if mapping is not None or name.endswith(_CSV_EXTENSIONS) or _looks_like_csv(text_head):
        return parse_export(data, mapping=mapping, account=account, excel=False)
    raise StatementRefused("unknown statement format: not camt.053/054 XML, MT940, CSV or .xlsx")


def _looks_like_csv(head: str) -> bool:
    first = head.splitlines()[0] if head else ""
    return any(first.count(d) >= 2 for d in (",", ";", "\t"))


def balance_difference(statement: Statement) -> int | None:
    """closing − (opening + lines), in đồng: 0 when the statement adds up, None without balances."""
    if statement.opening_balance is None or statement.closing_balance is None:
        return None
    return statement.closing_balance - (statement.opening_balance + statement.net())
