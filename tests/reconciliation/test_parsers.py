"""Statement parsers on the published samples, hand-made edge files and hostile input (no database)."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from reconciliation.parsers import (
    ColumnMapping,
    balance_difference,
    parse_camt053,
    parse_export,
    parse_mt940,
    parse_statement,
    safe_xml,
)
from reconciliation.parsers.safe_xml import MAX_BYTES, MAX_DEPTH
from reconciliation.statement import Statement, StatementLine, StatementRefused

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[2]
# The published reference samples; tests/banksim/data holds identical copies for a fresh checkout.
SHARED = ROOT.parent / "shared" / "data" / "iso20022"
ISO = SHARED if (SHARED / "camt053_min.xml").exists() else ROOT / "tests" / "banksim" / "data"
D31 = date(2025, 1, 31)
D01 = date(2025, 2, 1)


def sample(name: str) -> bytes:
    return (ISO / name).read_bytes()


def hand_made(name: str) -> bytes:
    return (DATA / name).read_bytes()


def camt(body: str, version: str = "02", kind: str = "053") -> bytes:
    """A camt document around <Stmt>/<Ntfctn> `body`."""
    message = "BkToCstmrStmt" if kind == "053" else "BkToCstmrDbtCdtNtfctn"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.{version}"><{message}>'
        "<GrpHdr><MsgId>M</MsgId><CreDtTm>2025-01-31T06:00:00</CreDtTm></GrpHdr>"
        f"{body}</{message}></Document>"
    ).encode()


def entry(amount: str = "200000", ref: str = "FT1", *, extra: str = "") -> str:
    return (
        f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>{extra}<Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2025-01-31</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef></Ntry>"
    )


def stmt(*entries: str, balances: str = "") -> str:
    return (
        "<Stmt><Id>S1</Id><Acct><Id><Othr><Id>0011001234567</Id></Othr></Id><Ccy>VND</Ccy></Acct>"
        f"{balances}{''.join(entries)}</Stmt>"
    )


SAMPLE_LINES = [
    StatementLine(
        bank_ref="FT25031000123",
        booking_date=D31,
        direction="credit",
        amount=200_000,
        narrative="PARKING QR-PARK-000123",
        value_date=D31,
        end_to_end_id="QR-PARK-000123",
    ),
    StatementLine(
        bank_ref="FT25031000124",
        booking_date=D31,
        direction="debit",
        amount=50_000,
        narrative="SOCIAL PAYOUT SS-PAYOUT-000045",
        value_date=D31,
        end_to_end_id="SS-PAYOUT-000045",
    ),
]


# --- the published samples, every field ---------------------------------------------------------------


def test_camt053_min_sample_every_field():
    [statement] = parse_camt053(sample("camt053_min.xml"))
    assert statement == Statement(
        format="camt.053.001.02",
        statement_id="0011001234567-20250131",
        account="0011001234567",
        currency="VND",
        from_date=D31,
        to_date=D31,
        sequence=31,
        opening_balance=10_000_000,
        closing_balance=10_150_000,
        lines=SAMPLE_LINES,
    )
    assert balance_difference(statement) == 0


def test_mt940_min_sample_every_field():
    [statement] = parse_mt940(sample("mt940_min.sta"))
    # MT940's customer reference is 16 characters: the bank printed the payout id shortened.
    lines = [
        SAMPLE_LINES[0],
        StatementLine(**{**SAMPLE_LINES[1].__dict__, "end_to_end_id": "SS-PAYOUT-0045"}),
    ]
    assert statement == Statement(
        format="mt940",
        statement_id="STMT250131",
        account="0011001234567",
        currency="VND",
        from_date=D31,
        to_date=D31,
        sequence=31,
        opening_balance=10_000_000,
        closing_balance=10_150_000,
        lines=lines,
    )
    assert balance_difference(statement) == 0


def test_parse_statement_sniffs_each_format_without_a_filename():
    assert parse_statement(sample("camt053_min.xml"))[0].format == "camt.053.001.02"
    assert parse_statement(sample("mt940_min.sta"))[0].format == "mt940"
    assert parse_statement(hand_made("camt054.xml"))[0].format == "camt.054.001.02"
    assert parse_statement(hand_made("vietcombank.csv"))[0].format == "csv:vietcombank"
    with pytest.raises(StatementRefused, match="unknown statement format"):
        parse_statement(b"%PDF-1.7 not a statement")
    with pytest.raises(StatementRefused, match=r"not a camt\.053 or camt\.054"):
        parse_statement(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>')
    with pytest.raises(StatementRefused, match="empty"):
        parse_statement(b"  \n")


# --- camt.053.001.08 and camt.054 ---------------------------------------------------------------------


def test_camt053_v08_two_statements_reversal_pending_batch():
    first, second = parse_statement(hand_made("camt053_v08.xml"), filename="stmt.xml")
    assert (first.format, first.statement_id, first.account, first.sequence) == (
        "camt.053.001.08",
        "V08-A-20250201",
        "VN12VCB0011001234567",
        32,
    )
    assert (first.from_date, first.to_date) == (D01, D01)
    # PRCD is the opening when there is no OPBD; ITBD is ignored; "10285000.00" is read as whole đồng.
    assert (first.opening_balance, first.closing_balance) == (10_150_000, 10_285_000)
    assert balance_difference(first) == 0
    paid, reversed_, batch = first.lines  # the PDNG entry is not a line
    assert paid == StatementLine(
        bank_ref="FT25032000201",
        booking_date=D01,  # 01:30Z is 08:30 in Hà Nội
        direction="credit",
        amount=150_000,
        narrative="PARKING QR-PARK-000201 LOT HOAN KIEM",
        value_date=D01,
        end_to_end_id="QR-PARK-000201",
        counterparty_name="NGUYEN VAN A",
        counterparty_account="****7890",
    )
    assert reversed_ == StatementLine(
        bank_ref="FT25032000202",  # only in TxDtls/Refs
        booking_date=D01,
        direction="debit",
        amount=35_000,
        narrative="REVERSAL OF FT25031000999",  # AddtlTxInf when there is no RmtInf
        end_to_end_id=None,  # NOTPROVIDED
        reversal=True,
        counterparty_name="TRAN THI B",  # the reversed credit's payer
        counterparty_account="VN99ACB0011000567890",
    )
    assert (batch.amount, batch.narrative, batch.end_to_end_id, batch.counterparty_name) == (
        20_000,
        "BATCH PART 1 BATCH PART 2",
        None,
        None,
    )
    assert (second.account, second.opening_balance, second.closing_balance) == ("0011009999999", -500_000, 0)
    assert second.lines[0].narrative == "NOP TIEN MAT"
    assert balance_difference(second) == 0


def test_camt054_notification_has_no_balances():
    [note] = parse_statement(hand_made("camt054.xml"))
    assert note == Statement(
        format="camt.054.001.02",
        statement_id="NTF-0011001234567-0001",
        account="0011001234567",
        currency="VND",
        from_date=D31,
        to_date=D31,
        sequence=501,
        lines=[
            StatementLine(
                bank_ref="FT25031000123",
                booking_date=D31,
                direction="credit",
                amount=200_000,
                narrative="PARKING QR-PARK-000123",
                value_date=D31,
                end_to_end_id="QR-PARK-000123",
                counterparty_name="LE VAN C",
                counterparty_account="****4321",
            )
        ],
    )
    assert balance_difference(note) is None


def test_camt_reversal_indicator():
    [s] = parse_statement(camt(stmt(entry(extra="<RvslInd>true</RvslInd>"), entry(ref="FT2"))))
    assert [(line.reversal, line.direction) for line in s.lines] == [(True, "credit"), (False, "credit")]
    with pytest.raises(StatementRefused, match="RvslInd"):
        parse_statement(camt(stmt(entry(extra="<RvslInd>maybe</RvslInd>"))))


@pytest.mark.parametrize("version", ["02", "04", "08", "10", "13"])
def test_camt053_any_namespace_version(version):
    [s] = parse_statement(camt(stmt(entry()), version=version))
    assert s.format == f"camt.053.001.{version}"
    assert s.lines[0].amount == 200_000


# --- amounts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["200000", "200000.00", "200000.0", "200000.00000"])
def test_whole_dong_with_a_zero_fraction_is_accepted(text):
    [s] = parse_statement(camt(stmt(entry(text))))
    assert s.lines[0].amount == 200_000


@pytest.mark.parametrize("text", ["1000.50", "1000.01", "0.5"])
def test_fractional_vnd_is_refused_naming_the_entry(text):
    with pytest.raises(StatementRefused, match="fraction of a đồng") as refused:
        parse_statement(camt(stmt(entry(), entry(text, ref="FT-ODD"))))
    assert refused.value.where == "Stmt S1, entry 2 (FT-ODD)"


@pytest.mark.parametrize("text", ["-200000", "2e5", "200,000", "", "1234567890123456789"])
def test_malformed_amounts_are_refused(text):
    with pytest.raises(StatementRefused, match="not an ISO 20022 amount"):
        parse_statement(camt(stmt(entry(text))))


def test_other_currencies_and_zero_entries_are_refused():
    with pytest.raises(StatementRefused, match="only VND"):
        parse_statement(camt(stmt(entry()).replace('Ccy="VND"', 'Ccy="USD"').replace(">VND<", ">USD<")))
    with pytest.raises(StatementRefused, match="0 đồng"):
        parse_statement(camt(stmt(entry("0"))))


def test_mt940_fractional_amount_refused_and_decimal_comma_zeros_accepted():
    good = sample("mt940_min.sta").replace(b"C200000,", b"C200000,00")
    assert parse_mt940(good)[0].lines[0].amount == 200_000
    bad = sample("mt940_min.sta").replace(b"C200000,", b"C200000,50")
    with pytest.raises(StatementRefused, match="fraction of a đồng") as refused:
        parse_mt940(bad)
    assert refused.value.where == "MT940 :20:STMT250131, :61: line 1"


# --- MT940: pages, reversals, envelope ----------------------------------------------------------------


def test_mt940_pages_of_one_statement_merge_and_reversals_are_marked():
    [s] = parse_statement(hand_made("mt940_pages_reversal.sta"))
    assert (s.statement_id, s.sequence, s.opening_balance, s.closing_balance) == (
        "STMT250201A",
        32,
        10_150_000,
        10_275_000,
    )
    assert [(line.bank_ref, line.direction, line.reversal, line.amount) for line in s.lines] == [
        ("FT25032000201", "credit", False, 150_000),
        ("FT25032000202", "debit", True, 35_000),  # RC: a credit taken back
        ("FT25032000203", "credit", True, 10_000),  # RD: a debit given back
    ]
    assert s.lines[1].end_to_end_id is None  # NONREF
    assert s.lines[2].end_to_end_id == "SS-PAYOUT-0046"
    assert balance_difference(s) == 0


def test_mt940_several_statements_in_one_file():
    one = sample("mt940_min.sta")
    two = one.replace(b"STMT250131", b"STMT250201").replace(b":28C:31/1", b":28C:32/1")
    first, second = parse_statement(one + two)
    assert (first.statement_id, first.sequence, second.statement_id, second.sequence) == (
        "STMT250131",
        31,
        "STMT250201",
        32,
    )
    assert len(first.lines) == len(second.lines) == 2


def test_mt940_line_without_bank_reference_is_refused():
    bad = sample("mt940_min.sta").replace(b"//FT25031000124", b"")
    with pytest.raises(StatementRefused, match="bank reference"):
        parse_mt940(bad)


# --- hostile XML --------------------------------------------------------------------------------------


def xxe_document(secret: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        f"{stmt(entry(ref='&xxe;'))}</BkToCstmrStmt></Document>"
    ).encode()


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE Document [{"".join(entities)}]><Document>&lol9;</Document>'.encode()
    )


def test_external_entity_is_refused_and_the_file_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    with pytest.raises(StatementRefused, match="DOCTYPE") as refused:
        parse_statement(xxe_document(secret))
    assert "TOP-SECRET-VALUE" not in str(refused.value)


# A billion laughs expanded would hold the process for minutes and gigabytes: pytest-timeout ends it (no speed
# is asserted; the refusal is).
@pytest.mark.timeout(30)
def test_billion_laughs_is_refused():
    with pytest.raises(StatementRefused, match="DOCTYPE"):
        parse_statement(billion_laughs())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("document", ["xxe", "laughs"])
def test_without_the_byte_scan_the_parser_still_refuses(document, tmp_path, monkeypatch):
    """Defence in depth: the byte scan off, lxml (entities unresolved, no DTD, no network) and the DOCTYPE
    check after parsing still refuse, fast, and nothing of the entity file leaks."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    monkeypatch.setattr(safe_xml, "_DECLARATION", re.compile(rb"(?!x)x"))
    with pytest.raises(StatementRefused) as refused:
        parse_statement(xxe_document(secret) if document == "xxe" else billion_laughs())
    assert "TOP-SECRET-VALUE" not in str(refused.value)


def test_utf16_xml_cannot_hide_a_doctype():
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><Document/>'
    with pytest.raises(StatementRefused, match="UTF-16"):
        parse_statement(text.encode("utf-16"), filename="x.xml")


def test_oversized_deep_and_broken_xml_are_refused():
    with pytest.raises(StatementRefused, match="50 MB"):
        parse_statement(b"<" + b" " * MAX_BYTES)
    deep = "<a>" * (MAX_DEPTH + 5) + "</a>" * (MAX_DEPTH + 5)
    with pytest.raises(StatementRefused, match="deeper"):
        parse_statement(deep.encode())
    with pytest.raises(StatementRefused, match="well-formed"):
        parse_statement(camt(stmt(entry()))[:-20])


# --- CSV and Excel exports ----------------------------------------------------------------------------


def test_vietcombank_csv_grouped_amounts_debit_credit_columns_and_labelled_balances():
    [s] = parse_statement(hand_made("vietcombank.csv"), filename="saoke.csv", mapping="vietcombank")
    assert (s.format, s.account, s.currency, s.sequence) == ("csv:vietcombank", "0071001234567", "VND", None)
    assert (s.from_date, s.to_date) == (D01, date(2025, 2, 2))
    assert (s.opening_balance, s.closing_balance) == (10_150_000, 11_534_567)
    assert s.statement_id.startswith("0071001234567-20250202-")
    assert s.statement_id == parse_statement(hand_made("vietcombank.csv"))[0].statement_id  # stable
    assert [(line.bank_ref, line.booking_date, line.direction, line.amount) for line in s.lines] == [
        ("5213.010225.081503", D01, "credit", 1_234_567),
        ("5213.010225.101010", D01, "debit", 50_000),
        ("5213.020225.090000", date(2025, 2, 2), "credit", 200_000),
    ]
    assert s.lines[1].narrative == "Phí dịch vụ SMS Banking; tháng 01"
    assert balance_difference(s) == 0


def dot_grouped_csv(rows: list[str]) -> bytes:
    head = "Số tài khoản: 0011001234567\nNgày giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Mô tả\n"
    return (head + "\n".join(rows) + "\n").encode()


DOTS = ColumnMapping(
    name="dots",
    header=("Ngày giao dịch", "Số tham chiếu", "Số tiền ghi nợ", "Số tiền ghi có", "Mô tả"),
    date="Ngày giao dịch",
    bank_ref="Số tham chiếu",
    narrative="Mô tả",
    debit="Số tiền ghi nợ",
    credit="Số tiền ghi có",
    account_label="Số tài khoản",
    delimiter=",",
)


def test_csv_dd_mm_yyyy_and_dot_grouping():
    data = dot_grouped_csv(['31/01/2025,R1,,"1.234.567",QR 1', '31/01/2025,R2,"50.000",,PHI'])
    [s] = parse_export(data, mapping=DOTS)
    assert [(line.direction, line.amount, line.booking_date) for line in s.lines] == [
        ("credit", 1_234_567, D31),
        ("debit", 50_000, D31),
    ]
    assert (s.account, s.opening_balance, s.closing_balance) == ("0011001234567", None, None)
    assert balance_difference(s) is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('31/01/2025,R1,,"1.234,50",X', "fraction"),
        ('31/01/2025,R1,"10.000","20.000",X', "exactly one"),
        ("31/01/2025,R1,,,X", "exactly one"),
        ('2025-01-31,R1,,"1.000",X', "dd/mm/yyyy|%d/%m/%Y"),
        ('31/01/2025,,,"1.000",X', "bank reference"),
        ('31/01/2025,R1,,"1.23.4",X', "not a number"),
    ],
)
def test_csv_bad_rows_are_refused_naming_the_row(row, message):
    with pytest.raises(StatementRefused, match=message) as refused:
        parse_export(dot_grouped_csv(['31/01/2025,R0,,"1.000",OK', row]), mapping=DOTS)
    assert refused.value.where == "row 4"


def test_csv_account_from_the_caller_and_unknown_layouts():
    data = b"Ngay,Ref,So tien,Noi dung\n31/01/2025,R1,-5.000,phi\n"
    signed = ColumnMapping(
        name="signed",
        header=("Ngay", "Ref"),
        date="Ngay",
        bank_ref="Ref",
        narrative="Noi dung",
        amount="So tien",
    )
    with pytest.raises(StatementRefused, match="no account number"):
        parse_export(data, mapping=signed)
    [s] = parse_export(data, mapping=signed, account="0011001234567")
    assert (s.account, s.lines[0].direction, s.lines[0].amount) == ("0011001234567", "debit", 5_000)
    with pytest.raises(StatementRefused, match="no known bank layout"):
        parse_statement(data, filename="x.csv")
    with pytest.raises(StatementRefused, match="no column mapping named"):
        parse_statement(data, filename="x.csv", mapping="nope")


def test_xlsx_export_made_with_openpyxl():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["NGÂN HÀNG TMCP NGOẠI THƯƠNG VIỆT NAM"])
    sheet.append(["Số tài khoản:", "0071001234567"])
    sheet.append(["Số dư đầu kỳ", 1_000_000])
    sheet.append([])
    sheet.append(["STT", "Ngày giao dịch", "Số tham chiếu", "Số tiền ghi nợ", "Số tiền ghi có", "Mô tả"])
    sheet.append([1, datetime(2025, 1, 31, 8, 15), "REF-1", None, 200_000, "QR-PARK-000123"])
    sheet.append([2, "31/01/2025", "REF-2", "50,000", None, "=SUM(1,2)"])  # text, never a formula's result
    sheet.append([3, datetime(2025, 1, 31), "REF-3", 25_000.0, None, "PHI"])
    sheet.append(["Tổng cộng", None, None, 75_000, 200_000])
    sheet.append(["Số dư cuối kỳ", "1,125,000"])
    out = io.BytesIO()
    book.save(out)
    [s] = parse_statement(out.getvalue(), filename="saoke.xlsx")
    assert s.format == "csv:vietcombank"
    assert (s.account, s.opening_balance, s.closing_balance) == ("0071001234567", 1_000_000, 1_125_000)
    assert [(line.bank_ref, line.direction, line.amount, line.booking_date) for line in s.lines] == [
        ("REF-1", "credit", 200_000, D31),
        ("REF-2", "debit", 50_000, D31),
        ("REF-3", "debit", 25_000, D31),
    ]
    assert balance_difference(s) == 0


def test_xlsx_fractional_number_cell_refused():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ngày giao dịch", "Số tham chiếu", "Số tiền ghi nợ", "Số tiền ghi có", "Mô tả"])
    sheet.append(["31/01/2025", "REF-1", None, 1000.5, "X"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(StatementRefused, match="fraction"):
        parse_statement(out.getvalue(), mapping="vietcombank", account="1")
