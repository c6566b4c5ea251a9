"""The MT940 fast path (one compiled pattern for plain :61:/:86: pairs) gives exactly the statements the
`mt-940` library gives, on real-world files and on generated ones with every oddity the fast path must hand
back to the library (lower-case marks, slashes and blanks in references, structured or wrapped :86:, dates to
fix up, year ends, zero amounts, fractions); and it is really taken for a plain file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banksim import statements as sim
from reconciliation.parsers import mt940 as mt940_parser
from reconciliation.parsers.mt940 import parse_mt940
from reconciliation.statement import StatementRefused
from tests.reconciliation.test_bench_smoke import bench
from tests.reconciliation.test_parsers_banksim import BUSY_DAY, bank_statement

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    ROOT.parent / "shared" / "data" / "iso20022" / "mt940_min.sta",
    ROOT / "tests" / "banksim" / "data" / "mt940_min.sta",
    ROOT / "tests" / "reconciliation" / "data" / "mt940_pages_reversal.sta",
]


def both(data: bytes) -> tuple[object, object]:
    """What each path makes of `data`: the statements, or the refusal's text."""
    out = []
    for fast in (True, False):
        try:
            out.append(parse_mt940(data, fast=fast))
        except StatementRefused as exc:
            out.append(f"refused: {exc}")
    return out[0], out[1]


@pytest.mark.parametrize("path", [p for p in FILES if p.exists()], ids=lambda p: p.name)
def test_real_world_files_read_the_same(path: Path):
    fast, library = both(path.read_bytes())
    assert isinstance(fast, list) and fast
    assert fast == library


def test_the_simulated_banks_export_reads_the_same():
    fast, library = both(sim.render_mt940(bank_statement(BUSY_DAY)).encode())
    assert isinstance(fast, list) and fast[0].lines
    assert fast == library


def test_the_benchmarks_statement_reads_the_same_and_takes_the_fast_path(monkeypatch):
    data = bench.render_mt940(bench.make_plan(3_000, date(2026, 11, 30)))
    fast, library = both(data)
    assert isinstance(fast, list) and len(fast[0].lines) == 3_000
    assert fast == library
    # The library now sees only the page's other tags: no :61: line reaches it.
    seen: list[str] = []
    original = mt940_parser.mt940.models.Transactions.parse

    def spy(self, chunk):
        seen.append(chunk)
        return original(self, chunk)

    monkeypatch.setattr(mt940_parser.mt940.models.Transactions, "parse", spy)
    assert parse_mt940(data) == fast
    assert seen and not any(":61:" in chunk for chunk in seen)


# Generated statements: each :61:/:86: pair built from pieces that are plain or odd ------------------------

_refs = st.one_of(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.", min_size=1, max_size=16),
    st.sampled_from(["NONREF", "nonref", "", "A/B", "WITH SPACE", "X" * 17, "Q" * 16]),
)
_bank_refs = st.one_of(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=16),
    st.sampled_from(["FT 1", "F" * 20, "F" * 24, "FT1 ", "FT/1"]),
)
_words = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789.,-/?:()'+", min_size=1, max_size=140)
_details = st.one_of(
    _words.filter(lambda w: w.strip() == w and "  " not in w),
    _words,
    st.sampled_from(
        [
            "166?00GUTSCHRIFT?20EREF+X",
            " LEADING BLANK",
            "TRAILING BLANK ",
            "A" * 65 + "\nCONTINUED",
            "A" * 64 + "\nCONTINUED",
            "FIRST\n-\nAFTER",
            "FIRST\n  -\nAFTER",
            "FIRST\n:NOT A TAG",
            "FIRST\n\nEMPTY",
            "WRAPPED\nTEXT\nTHREE",
            "TAB\tINSIDE",
        ]
    ),
    st.none(),
)
_dates = st.one_of(
    st.dates(date(2001, 1, 1), date(2098, 12, 31)).map(lambda d: f"{d:%y%m%d}"),
    st.sampled_from(["250230", "240230", "251301", "250100"]),
)
_entries = st.one_of(
    st.none(),
    st.dates(date(2001, 1, 1), date(2001, 12, 31)).map(lambda d: f"{d:%m%d}"),
    st.sampled_from(["0101", "1231", "0229", "0230", "1301"]),
)
_marks = st.sampled_from(["C", "D", "RC", "RD", "c", "rd", "X"])
_amounts = st.one_of(
    st.integers(1, 10**11).map(lambda n: f"{n},"),
    st.sampled_from(["0,", "100,00", "100,0", "100,50", "1,000,", "12345678901234,"]),
)
_types = st.sampled_from(["NTRF", "NMSC", "ntrf", "N TR", "FTRF"])
_pairs = st.tuples(_dates, _entries, _marks, _amounts, _types, _refs, _bank_refs, _details)


def _statement(pairs: list[tuple]) -> bytes:
    lines = [":20:STMT1", ":25:0011001234567", ":28C:7/1", ":60F:C250131VND1000000,"]
    for day, entry, mark, amount, kind, ref, bank_ref, details in pairs:
        lines.append(f":61:{day}{entry or ''}{mark}{amount}{kind}{ref}//{bank_ref}")
        if details is not None:
            lines.append(f":86:{details}")
    lines += [":62F:C250131VND1000000,", "-"]
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pairs, min_size=1, max_size=6))
def test_any_statement_reads_the_same_either_way(pairs):
    fast, library = both(_statement(pairs))
    assert fast == library


@settings(max_examples=100, deadline=None)
@given(st.lists(_pairs.filter(lambda p: p[2] in ("C", "D", "RC", "RD")), min_size=1, max_size=4))
def test_pages_and_envelopes_read_the_same_either_way(pairs):
    page = _statement(pairs).decode()
    wrapped = "{1:F01VCBVVNVXAXXX0000000000}{2:O940}{4:\r\n" + page.replace("\n", "\r\n") + "-}"
    fast, library = both((wrapped + "\n" + page).encode())
    assert fast == library


@pytest.mark.parametrize(
    "details", ["FIRST\n:NOT A TAG", "FIRST\n-\nAFTER", "FIRST\n  -\nAFTER", "A" * 65 + "\nB"]
)
@pytest.mark.parametrize("last", [True, False])
def test_odd_narratives_first_or_last_read_the_same(details: str, last: bool):
    """A found case: ":NOT A TAG" on the last pair's :86: was taken for the start of the closing tags."""
    plain = ("251130", "1130", "C", "1000,", "NTRF", "E1", "B1", "PLAIN")
    odd = ("251130", None, "D", "5,", "NTRF", "E2", "B2", details)
    wrapped = "{1:F01VCBVVNVXAXXX0000000000}{2:O940}{4:\r\n"
    for data in (_statement([plain, odd] if last else [odd, plain]),):
        for text in (data, (wrapped + data.decode().replace("\n", "\r\n") + "-}").encode()):
            fast, library = both(text)
            assert isinstance(fast, list)
            assert fast == library
