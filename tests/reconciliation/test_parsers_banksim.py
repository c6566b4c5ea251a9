"""What the simulated bank renders (banksim.statements, no database) parses back to the same statement:
camt.053 (also valid against the ISO 20022 schema), MT940 and CSV; and a property over any day's lines."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from banksim import statements as sim
from core.money import LOCAL_TZ
from core.pii import mask_account
from reconciliation.parsers import balance_difference, parse_statement
from reconciliation.statement import Statement, StatementLine

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "iso20022"
XSD = SHARED if (SHARED / "camt.053.001.02.xsd").exists() else ROOT / "tests" / "banksim" / "data"
DAY = date(2025, 1, 31)
ACCOUNT = "0011001234567"


@pytest.fixture(scope="module")
def camt_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / "camt.053.001.02.xsd")))


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ)


def bank_statement(entries: list[sim.Entry], opening: int = 10_000_000, day: date = DAY) -> sim.Statement:
    return sim.Statement(
        bin="970436",
        account=ACCOUNT,
        holder_name="CITYPAY HÀ NỘI",
        day=day,
        opening=opening,
        closing=opening + sum(e.amount for e in entries),
        entries=entries,
        created_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )


BUSY_DAY = [
    sim.Entry(
        "FT25031000123",
        200_000,
        at(8, 15),
        "CITYPAY CPAAAAAAAAAA1 gửi xe Hoàn Kiếm",
        "CPAAAAAAAAAA1",
        "Nguyễn Văn An",
        "970418",
        "21510001234567",
    ),
    sim.Entry(
        "FT25031000124",
        -60_000,
        at(9),
        "HOAN TIEN CP0000000001",
        None,
        "Trần Thị Bình",
        "970418",
        "0011000567890",
    ),
    # A long purpose cut into <Ustrd> pieces of 140 and :86: lines of 65, a formula-looking one for the CSV.
    sim.Entry(
        "FT25031000125",
        35_000,
        at(23, 59),
        "=HYPERLINK " + "x" * 150 + " end",
        "E2E-3",
        "Lê C",
        "970422",
        "12345678",
    ),
]


def camt_e2e(e2e: str | None) -> str | None:
    """As printed (35 characters at most); ISO's "NOTPROVIDED" (and MT940's NONREF) mean none."""
    text = " ".join((e2e or "").split())[:35].strip()
    return None if text.upper() in ("", "NOTPROVIDED", "NONREF") else text


def expected_camt(s: sim.Statement) -> Statement:
    return Statement(
        format="camt.053.001.02",
        statement_id=f"{s.account}-{s.day:%Y%m%d}",
        account=s.account,
        currency="VND",
        from_date=s.day,
        to_date=s.day,
        sequence=s.day.timetuple().tm_yday,
        opening_balance=s.opening,
        closing_balance=s.closing,
        lines=[
            StatementLine(
                bank_ref=e.bank_txn_id,
                booking_date=e.booked_at.astimezone(LOCAL_TZ).date(),
                direction="credit" if e.amount > 0 else "debit",
                amount=abs(e.amount),
                narrative=" ".join(e.narrative.split()),
                value_date=e.booked_at.astimezone(LOCAL_TZ).date(),
                end_to_end_id=camt_e2e(e.end_to_end_id),
                counterparty_name=" ".join(e.counterparty_name.split())[:140].strip() or None,
                counterparty_account=mask_account(e.counterparty_account),
            )
            for e in s.entries
        ],
    )


def expected_mt940(s: sim.Statement) -> Statement:
    lines = []
    for e in s.entries:
        ref = sim.swift_text(e.end_to_end_id or "").replace(" ", "")[:16]
        narrative = sim.swift_text(e.narrative)[: 65 * 6] or "NONREF"
        day = e.booked_at.astimezone(LOCAL_TZ).date()
        lines.append(
            StatementLine(
                bank_ref=e.bank_txn_id[:16],
                booking_date=day,
                direction="credit" if e.amount > 0 else "debit",
                amount=abs(e.amount),
                narrative=" ".join(narrative.split()),
                value_date=day,
                end_to_end_id=None if ref.upper() in ("", "NONREF") else ref,
            )
        )
    return Statement(
        format="mt940",
        statement_id=f"STMT{s.day:%y%m%d}",
        account=s.account,
        currency="VND",
        from_date=s.day,
        to_date=s.day,
        sequence=s.day.timetuple().tm_yday,
        opening_balance=s.opening,
        closing_balance=s.closing,
        lines=lines,
    )


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def expected_csv_lines(s: sim.Statement) -> list[StatementLine]:
    """The CSV reader NFC-normalises the text (exports come in either form; headers must match)."""
    return [
        StatementLine(
            bank_ref=e.bank_txn_id,
            booking_date=e.booked_at.astimezone(LOCAL_TZ).date(),
            direction="credit" if e.amount > 0 else "debit",
            amount=abs(e.amount),
            narrative=" ".join(nfc(e.narrative).split()),
            end_to_end_id=(e.end_to_end_id or "").strip() or None,
            counterparty_name=nfc(e.counterparty_name).strip() or None,
            counterparty_account=mask_account(e.counterparty_account),
        )
        for e in s.entries
    ]


def test_rendered_camt053_is_schema_valid_and_parses_back(camt_schema):
    s = bank_statement(BUSY_DAY)
    xml = sim.render_camt053(s).encode()
    camt_schema.assertValid(etree.fromstring(xml))
    [parsed] = parse_statement(xml, filename="stmt.xml")
    assert parsed == expected_camt(s)
    assert balance_difference(parsed) == 0


def test_rendered_mt940_parses_back():
    s = bank_statement(BUSY_DAY, opening=-5_000)
    [parsed] = parse_statement(sim.render_mt940(s).encode())
    assert parsed == expected_mt940(s)
    assert parsed.lines[0].narrative == "CITYPAY CPAAAAAAAAAA1 gui xe Hoan Kiem"  # SWIFT letters only
    assert balance_difference(parsed) == 0


def test_rendered_csv_parses_back():
    s = bank_statement(BUSY_DAY)
    [parsed] = parse_statement(sim.render_csv(s).encode(), filename="stmt.csv", account=ACCOUNT)
    assert parsed.format == "csv:banksim"
    assert (parsed.account, parsed.from_date, parsed.to_date) == (ACCOUNT, DAY, DAY)
    assert (parsed.opening_balance, parsed.closing_balance) == (s.opening, s.closing)
    assert parsed.lines == expected_csv_lines(s)
    assert parsed.lines[2].narrative.startswith("=HYPERLINK")  # the exporter's apostrophe is gone
    assert balance_difference(parsed) == 0


def test_an_empty_day_parses_in_every_format(camt_schema):
    s = bank_statement([])
    camt_schema.assertValid(etree.fromstring(sim.render_camt053(s).encode()))
    for fmt in sim.FORMATS:
        [parsed] = parse_statement(
            sim.render(s, fmt).encode(), filename=f"x.{sim.EXTENSIONS[fmt]}", account=ACCOUNT
        )
        assert (parsed.lines, parsed.opening_balance, parsed.closing_balance) == ([], s.opening, s.closing)
        assert (parsed.from_date, parsed.to_date) == (DAY, DAY)


# --- property: any day's lines ------------------------------------------------------------------------

# Printable text, Vietnamese included (no control characters: they cannot be in XML at all).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=300)
REF = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=35)
entries = st.lists(
    st.builds(
        sim.Entry,
        bank_txn_id=REF,
        amount=st.integers(1, 10**12).flatmap(lambda n: st.sampled_from([n, -n])),
        booked_at=st.integers(0, 24 * 3600 - 1).map(lambda s: at(0) + timedelta(seconds=s)),
        narrative=TEXT,
        end_to_end_id=st.none() | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- ", max_size=40),
        counterparty_name=st.text(
            st.characters(blacklist_categories=("Cc", "Cs", "Z")), min_size=1, max_size=80
        ),
        counterparty_bin=st.just("970418"),
        counterparty_account=st.text("0123456789", min_size=8, max_size=19),
    ),
    max_size=12,
)


def renders_safely_in_mt940(e: sim.Entry) -> bool:
    """A :86: line may not start with ":" or be "-" (any MT940 reader would take it for a tag or the end of
    the message): banksim.render_mt940 turns such a first character into ".", so those purposes do not
    round-trip character for character; the tests at the end cover them."""
    text = sim.swift_text(e.narrative)
    chunks = [text[i : i + 65] for i in range(0, len(text), 65)][:6]
    return not any(c[:1] in (":", "-") for c in chunks)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(entries=entries, opening=st.integers(-(10**12), 10**12))
def test_any_day_round_trips_through_camt053(entries, opening):
    s = bank_statement(entries, opening)
    [parsed] = parse_statement(sim.render_camt053(s).encode())
    assert parsed == expected_camt(s)


@PROPERTY
@given(entries=entries, opening=st.integers(-(10**12), 10**12))
def test_any_day_round_trips_through_mt940(entries, opening):
    assume(all(renders_safely_in_mt940(e) for e in entries))
    s = bank_statement(entries, opening)
    [parsed] = parse_statement(sim.render_mt940(s).encode())
    assert parsed == expected_mt940(s)


@PROPERTY
@given(entries=entries, opening=st.integers(-(10**12), 10**12))
def test_any_day_round_trips_through_csv(entries, opening):
    # A text that itself starts with an apostrophe before a formula character reads as the exporter's guard.
    texts = [t for e in entries for t in (e.narrative, e.end_to_end_id or "", e.counterparty_name)]
    assume(
        not any(t.strip()[:1] == "'" and t.strip()[1:2] in ("=", "+", "-", "@", "\t", "\r") for t in texts)
    )
    s = bank_statement(entries, opening)
    [parsed] = parse_statement(sim.render_csv(s).encode(), account=ACCOUNT)  # the CSV does not name it
    assert (parsed.opening_balance, parsed.closing_balance) == (s.opening, s.closing)
    assert parsed.lines == expected_csv_lines(s)


# --- the simulated bank's MT940 rendering keeps a payer's text from forging lines ---------------------------


def test_banksim_mt940_narrative_cannot_inject_a_line():
    purpose = "x" * 65 + ":61:2501310131C999,NTRFX//FAKE"
    s = bank_statement([sim.Entry("FT1", 1000, at(8), purpose, None, "A", "970418", "12345678")])
    [parsed] = parse_statement(sim.render_mt940(s).encode())
    assert [line.bank_ref for line in parsed.lines] == ["FT1"]


def test_banksim_mt940_customer_reference_ending_in_a_slash():
    s = bank_statement([sim.Entry("FT1", 1000, at(8), "z", "AB/", "A", "970418", "12345678")])
    [parsed] = parse_statement(sim.render_mt940(s).encode())
    assert parsed.lines[0].bank_ref == "FT1"
