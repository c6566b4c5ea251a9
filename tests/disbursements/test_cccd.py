"""CCCD validation vectors: well-formed numbers consistent with the birth date pass; each kind of problem is
named (length, province, century, year)."""

from __future__ import annotations

from datetime import date

import pytest

from disbursements.cccd import CENTURY_SEX, PROVINCES, cccd_problem, clean_cccd, sex_of

VALID = [
    ("001088001234", date(1988, 5, 1), "male"),  # Hà Nội, 20th century, male
    ("079195012345", date(1995, 12, 31), "female"),  # Hồ Chí Minh, 20th century, female
    ("096200000001", date(2000, 1, 1), "male"),  # Cà Mau, 21st century, male
    ("031305999999", date(2005, 6, 15), "female"),  # Hải Phòng, 21st century, female
    ("048060123456", date(1960, 2, 29), "male"),  # Đà Nẵng
    ("087084000999", date(1984, 7, 7), "male"),  # Đồng Tháp (the circular's example)
    ("001000000000", date(1900, 1, 1), "male"),  # the first year of the 20th century
    ("001199000000", date(1999, 12, 31), "female"),  # its last
]


@pytest.mark.parametrize(("cccd", "born", "sex"), VALID)
def test_valid_numbers_pass(cccd, born, sex):
    assert cccd_problem(cccd, born) is None
    assert sex_of(cccd) == sex


INVALID = [
    ("00108800123", date(1988, 1, 1), "length"),  # 11 digits
    ("0010880012345", date(1988, 1, 1), "length"),  # 13 digits
    ("00108800123A", date(1988, 1, 1), "length"),  # a letter
    ("", date(1988, 1, 1), "length"),
    ("００１０８８００１２３４", date(1988, 1, 1), "length"),  # full-width digits, not cleaned
    ("001088\u200b01234", date(1988, 1, 1), "length"),  # an invisible character inside
    ("003088001234", date(1988, 1, 1), "province"),  # 003 is no province (Hà Giang is 002, Cao Bằng 004)
    ("000088001234", date(1988, 1, 1), "province"),
    ("097088001234", date(1988, 1, 1), "province"),  # after Cà Mau (096)
    ("999088001234", date(1988, 1, 1), "province"),
    ("001288001234", date(1988, 1, 1), "century"),  # 2 = born 2000–2099, but 1988
    ("001088001234", date(2088, 1, 1), "century"),  # 0 = born 1900–1999, but 2088
    ("001488001234", date(1988, 1, 1), "century"),  # 22nd century
    ("001888001234", date(1988, 1, 1), "century"),  # 8 = the 24th century in the circular's table
    ("001089001234", date(1988, 1, 1), "year"),  # digits 5–6 say 89
    ("001205001234", date(2006, 1, 1), "year"),
]


@pytest.mark.parametrize(("cccd", "born", "code"), INVALID)
def test_each_problem_is_named(cccd, born, code):
    problem = cccd_problem(cccd, born)
    assert problem is not None and problem.code == code
    assert problem.message_vi and problem.message_en and problem.message_vi != problem.message_en


def test_the_province_table_is_the_circulars_63_codes():
    assert len(PROVINCES) == 63
    assert PROVINCES["001"] == "Hà Nội" and PROVINCES["079"] == "Hồ Chí Minh" and PROVINCES["096"] == "Cà Mau"
    assert all(len(code) == 3 and code.isdigit() for code in PROVINCES)
    assert "003" not in PROVINCES and "013" not in PROVINCES


def test_every_fourth_digit_names_a_century_and_sex():
    assert set(CENTURY_SEX) == set("0123456789")
    assert {century for century, _ in CENTURY_SEX.values()} == {1900, 2000, 2100, 2200, 2300}


def test_clean_keeps_only_what_was_typed_around_the_digits():
    assert clean_cccd(" 001 088 001 234 ") == "001088001234"
    assert clean_cccd("001.088.001.234") == "001088001234"
    assert clean_cccd("００１０８８００１２３４") == "001088001234"  # full-width digits folded
    assert clean_cccd("001088\u200b001234") == "001088\u200b001234"  # left for the check to refuse


def test_form_only_without_a_birth_date():
    assert cccd_problem("001288001234", None) is None
    assert cccd_problem("003288001234", None).code == "province"
