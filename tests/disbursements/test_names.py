"""The name match: a table of Vietnamese name pairs (what we hold, what the bank answers) and the verdict."""

from __future__ import annotations

import unicodedata

import pytest

from disbursements.names import NameMatch, invisible_characters, mask_name, match_names, normalise_name

E, R, M = NameMatch.EXACT, NameMatch.REORDERED, NameMatch.MISMATCH
NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

PAIRS = [
    # diacritics and Đ
    ("Nguyễn Văn An", "NGUYEN VAN AN", E),
    ("Trần Thị Bích Ngọc", "TRAN THI BICH NGOC", E),
    ("Đặng Văn Đức", "DANG VAN DUC", E),
    ("đỗ thị đào", "DO THI DAO", E),
    ("Đinh Công Tráng", "DINH CONG TRANG", E),
    ("Phạm Thị Hường", "PHAM THI HUONG", E),
    ("Lê Ngọc Ước", "LE NGOC UOC", E),
    ("Hoàng Thị Ánh Tuyết", "HOANG THI ANH TUYET", E),
    ("Vũ Ðức Thắng", "VU DUC THANG", E),  # Ð (U+00D0, Icelandic eth) typed for Đ
    ("Bùi Quốc Khánh", "BUI QUOC KHANH", E),
    ("Ngô Thừa Ân", "NGO THUA AN", E),
    ("Dương Thị Mỹ Lệ", "DUONG THI MY LE", E),
    # the bank's answer typed back in with diacritics, lower case
    ("NGUYEN VAN AN", "nguyễn văn an", E),
    # extra spaces, tabs, leading/trailing space
    ("  Nguyễn   Văn  An ", "NGUYEN VAN AN", E),
    ("Trần\tThị\u00a0Lan", "TRAN THI LAN", E),  # tab and no-break space
    ("Lý Thường Kiệt", "LY  THUONG   KIET", E),
    # hyphens and punctuation
    ("Nguyễn-Văn-An", "NGUYEN VAN AN", E),
    ("Trần Thị Mai-Anh", "TRAN THI MAI ANH", E),
    ("Lê Văn Tám.", "LE VAN TAM", E),
    ("H'Hen Niê", "H HEN NIE", E),  # Ê Đê name with an apostrophe
    ("Nguyễn Văn (An)", "NGUYEN VAN AN", E),
    # NFC vs NFD input
    (NFD("Nguyễn Thị Thủy"), "NGUYEN THI THUY", E),
    ("Nguyễn Thị Thủy", NFD("NGUYỄN THỊ THỦY"), E),
    (NFD("Đoàn Thị Điểm"), "Đoàn Thị Điểm", E),
    # invisible Unicode
    ("Nguyễn\u200bVăn An", "NGUYENVAN AN", E),  # zero-width space joins nothing: dropped
    ("Nguyễn Văn\u200d An", "NGUYEN VAN AN", E),  # zero-width joiner
    ("\ufeffPhạm Văn Đồng", "PHAM VAN DONG", E),  # a BOM from a spreadsheet
    ("Trần Hưng\u00adĐạo", "TRAN HUNGDAO", E),  # soft hyphen
    ("Ｎｇｕｙễｎ Văn An", "NGUYEN VAN AN", E),  # full-width letters
    # the same words in another order
    ("Nguyễn Văn An", "AN NGUYEN VAN", R),
    ("Nguyễn Văn An", "VAN AN NGUYEN", R),
    ("Trần Thị Bích Ngọc", "NGOC BICH THI TRAN", R),
    ("Lê Thị Hồng", "HONG LE THI", R),
    ("Đặng  Văn-Lâm", "LAM DANG VAN", R),
    # different people
    ("Nguyễn Văn An", "NGUYEN VAN BINH", M),  # same family and middle name
    ("Nguyễn Văn An", "NGUYEN THI AN", M),  # same family and given name
    ("Nguyễn Văn An", "NGUYEN AN", M),  # a missing middle name is for a person to judge
    ("Nguyễn An", "NGUYEN VAN AN", M),
    ("Trần Văn Nam", "TRAN VAN NAM ANH", M),
    ("Lê Văn Lộc", "LE VAN LOC LE", M),  # a word twice is not the same words
    ("Phạm Thị Hà", "PHAM THI HA THU", M),
    ("Hồ Văn Hải", "HO VAN HAI ", E),  # trailing space from the bank
    ("Vương Thị Hoa", "VUONG THI HOA", E),
    ("Vương Thị Hoa", "VUONG THI HOAI", M),  # one letter more
    ("Nguyen Van An", "NGUYEN VAN AN", E),  # typed without diacritics
    ("Nguyễn Văn An", "", M),  # the bank answered no name
    ("", "NGUYEN VAN AN", M),
    ("\u200b\u200b", "\u200b", M),  # invisible characters only: no name at all
]


@pytest.mark.parametrize(("ours", "bank", "verdict"), PAIRS)
def test_name_pairs(ours, bank, verdict):
    assert match_names(ours, bank) is verdict
    assert match_names(bank, ours) is verdict  # the match is symmetric


def test_the_table_is_large_enough():
    assert len(PAIRS) >= 40
    assert {verdict for _, _, verdict in PAIRS} == {E, R, M}


def test_normalise():
    assert normalise_name("  Đặng-Thị  Ngọc\u200b Ánh ") == "DANG THI NGOC ANH"
    assert normalise_name("Ưng Hoàng Phúc") == "UNG HOANG PHUC"
    assert normalise_name("Ăn Ơn") == "AN ON"


def test_invisible_characters_are_named():
    assert invisible_characters("Nguyễn Văn An") == []
    assert invisible_characters("Nguyễn\u200bVăn\ufeff An\u0007") == ["U+200B", "U+FEFF", "U+0007"]


def test_mask_keeps_one_letter_per_word():
    assert mask_name("Nguyễn Văn An") == "N*** V*** A***"
    assert mask_name("  Lê   Lợi ") == "L*** L***"
