"""What no statement may hold, whatever its format (reconciliation/parsers/limits.py, and the MT940 line
check): each file here was read (or stored, or answered with a 500) before, as an outside attack found."""

from __future__ import annotations

import pytest

from reconciliation.parsers import parse_statement
from reconciliation.statement import StatementRefused
from tests.reconciliation.test_import_http import city_account  # noqa: F401 (the fixture)
from tests.reconciliation.test_parsers import camt


def camt_statement(
    *,
    day: str = "2026-12-03",
    from_: str = "2026-12-03T00:00:00+07:00",
    to: str = "2026-12-03T23:59:59+07:00",
    amount: str = "200000",
    ref: str = "FT1",
    seq: str = "7",
    opening: str = "1000000",
    closing: str | None = None,
) -> bytes:
    closing = closing if closing is not None else str(int(opening) + int(amount))

    def bal(code: str, value: str) -> str:
        return (
            f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="VND">{value}</Amt>'
            f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
        )

    return camt(
        f"<Stmt><Id>S1</Id><ElctrncSeqNb>{seq}</ElctrncSeqNb>"
        f"<FrToDt><FrDtTm>{from_}</FrDtTm><ToDtTm>{to}</ToDtTm></FrToDt>"
        "<Acct><Id><Othr><Id>0011001234567</Id></Othr></Id><Ccy>VND</Ccy></Acct>"
        f"{bal('OPBD', opening)}{bal('CLBD', closing)}"
        f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>{day}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef></Ntry></Stmt>"
    )


def mt940(line: str = ":61:2612031203C200000,NTRFREF1//B1", closing: str = "1200000,") -> bytes:
    return (
        ":20:STMT261203\n:25:0011001234567\n:28C:7/1\n:60F:C261202VND1000000,\n"
        f"{line}\n:86:PARKING\n:62F:C261203VND{closing}\n-\n"
    ).encode()


def csv_statement(*rows: tuple[str, str, str, str, str]) -> bytes:
    """The simulated bank's CSV export: (record_type, booking_date, bank_txn_id, credit, balance) rows."""
    head = "record_type,booking_date,booked_at,bank_txn_id,debit,credit,balance,currency,counterparty_name,"
    head += "counterparty_bin,counterparty_account,end_to_end_id,narrative\n"
    body = "".join(
        f"{kind},{day},,{ref},,{credit},{balance},VND,,,,,PARKING\n"
        for kind, day, ref, credit, balance in rows
    )
    return (head + body).encode()


def test_the_well_formed_files_are_read():
    [a] = parse_statement(camt_statement())
    [b] = parse_statement(mt940())
    [c] = parse_statement(
        csv_statement(
            ("OPENING", "2026-12-03", "", "", "1000000"),
            ("ENTRY", "2026-12-03", "T1", "200000", ""),
            ("CLOSING", "2026-12-03", "", "", "1200000"),
        ),
        mapping="banksim",
        account="0011001234567",
    )
    assert a.lines[0].amount == b.lines[0].amount == c.lines[0].amount == 200_000


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param(
            camt_statement(day="9999-12-31", from_="9999-12-31T00:00:00", to="9999-12-31T00:00:00"),
            "9999-12-31 is not in 2000–2100",
            id="camt-year-9999",
        ),
        pytest.param(
            camt_statement(day="0001-01-01", from_="0001-01-01T05:00:00+14:00", to="0001-01-02T00:00:00"),
            "not an ISO date in range",
            id="camt-year-1-before-year-1-in-utc",
        ),
        pytest.param(
            camt_statement(day="1999-12-31", from_="1999-12-31T00:00:00", to="1999-12-31T10:00:00"),
            "1999-12-31 is not in 2000–2100",
            id="camt-1999",
        ),
        pytest.param(
            camt_statement(from_="2026-12-03T00:00:00", to="2026-01-01T00:00:00"),
            "the period runs backwards",
            id="camt-from-after-to",
        ),
        pytest.param(camt_statement(ref="R" * 5000), "at most 140", id="camt-long-bank-ref"),
        pytest.param(camt_statement(seq="1" + "0" * 30), "out of range", id="camt-huge-sequence"),
        pytest.param(
            camt_statement(amount="999999999999999999", opening="0"),
            "beyond 1000000000000000 đồng",
            id="camt-amount-10^18",
        ),
        pytest.param(
            mt940(":61:2612031203C1234567890123456,NTRFREF20//B20", "123456789012345,"),
            "is not an MT940 amount",
            id="mt940-16-digit-amount",
        ),
        pytest.param(mt940(":61:2602300230C200000,NTRFREF1//B1"), "not a calendar date", id="mt940-30-feb"),
        pytest.param(
            mt940().replace(b":60F:C261202", b":60F:C261204"), "dated after the closing", id="mt940-backwards"
        ),
        pytest.param(
            mt940(":61:2612031203C200000,NTRFREF1//B1", "123456789012345678,"),
            "not an MT940",
            id="mt940-long-closing",
        ),
    ],
)
def test_a_statement_outside_the_limits_is_refused_saying_why(data, says):
    with pytest.raises(StatementRefused) as refused:
        parse_statement(data)
    assert says in str(refused.value)


def test_a_csv_statement_with_an_opening_and_no_closing_is_refused():
    data = csv_statement(
        ("OPENING", "2026-12-03", "", "", "1000000"), ("ENTRY", "2026-12-03", "T1", "200000", "")
    )
    with pytest.raises(StatementRefused) as refused:
        parse_statement(data, mapping="banksim", account="0011001234567")
    assert "no closing balance" in str(refused.value)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_a_csv_statement_dated_out_of_range_is_refused(day):
    data = csv_statement(
        ("OPENING", day, "", "", "1000000"),
        ("ENTRY", day, "T1", "200000", ""),
        ("CLOSING", day, "", "", "1200000"),
    )
    with pytest.raises(StatementRefused) as refused:
        parse_statement(data, mapping="banksim", account="0011001234567")
    assert "is not in 2000–2100" in str(refused.value)


@pytest.mark.usefixtures("city_account")
async def test_an_upload_dated_9999_is_a_422_stores_nothing_and_the_pages_keep_working(client, staff_login):
    """Over HTTP, as the attack sent it: before, the statement was stored with PostgreSQL's `infinity` dates
    and the reconciliation page and workbench answered 500 from then on."""
    from core.appkeys import POOL
    from tests.reconciliation.test_import_http import stored, upload

    finance = await staff_login("finance")
    data = camt_statement(day="9999-12-31", from_="9999-12-31T00:00:00", to="9999-12-31T00:00:00")
    resp = await upload(client, finance, data, query="?filename=far.xml")
    problem = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json", problem
    assert problem["field"] == "file" and "2000–2100" in problem["detail"]
    assert await stored(client.app[POOL]) == (0, 0, 0, 0)
    assert (await client.get("/reconciliation", headers=finance.headers())).status == 200
    workbench = await client.get(
        "/api/v1/reconciliation/workbench?date=2026-12-03", headers=finance.headers()
    )
    assert workbench.status == 200
    fine = await upload(client, finance, camt_statement())
    assert fine.status == 201, await fine.json()


async def test_the_database_refuses_such_dates_too(db_url):
    """Migration 0030: the last line, should a path ever skip the checks above."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        for statement in (
            "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
            "VALUES ('far', 'test', 'infinity', 'x')",
            "INSERT INTO journal_entries (idempotency_key, kind, business_date, content_hash) "
            "VALUES ('old', 'test', '0001-01-01', 'x')",
        ):
            with pytest.raises(asyncpg.CheckViolationError) as refused:
                await conn.execute(statement)
            assert refused.value.constraint_name == "journal_entries_business_date_range"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (
            [("OPENING", "2026-12-03", "", "", "1000000"), ("CLOSING", "2026-12-01", "", "", "1000000")],
            "dated after the closing",
        ),
        (
            [
                ("OPENING", "2026-12-03", "", "", "1000000"),
                ("OPENING", "2026-12-03", "", "", "5000000"),
                ("CLOSING", "2026-12-03", "", "", "5000000"),
            ],
            "a second OPENING row",
        ),
    ],
)
def test_a_csv_statement_whose_balances_contradict_themselves_is_refused(rows, says):
    with pytest.raises(StatementRefused) as refused:
        parse_statement(csv_statement(*rows), mapping="banksim", account="0011001234567")
    assert says in str(refused.value)
