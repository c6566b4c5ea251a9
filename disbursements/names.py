"""Comparing a beneficiary's name with the name the bank holds for the account.

Banks answer a name inquiry upper-case without diacritics ("NGUYEN VAN AN"); people type "Nguyễn Văn An",
sometimes in NFD, with two spaces, a hyphen or an invisible character copied from a spreadsheet. Both sides
are normalised the same way: compatibility forms folded (NFKC: full-width letters), invisible format
characters dropped (zero-width space/joiners, BOM, soft hyphen), Unicode NFD with the combining marks dropped,
Đ/đ → D, upper-case, punctuation and symbols become spaces, spaces collapsed.

The match is exact, or the same words in another order (family name last, as some banks print it); anything
else — a missing middle name, a different person with the same family name — is a mismatch for a person to
review (four eyes). Pure functions: no database, no network.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class NameMatch(StrEnum):
    EXACT = "exact"
    REORDERED = "reordered"
    MISMATCH = "mismatch"

    @property
    def matches(self) -> bool:
        return self is not NameMatch.MISMATCH


_LETTER_FOLD = str.maketrans({"Đ": "D", "đ": "D", "Ð": "D", "ð": "D"})


def normalise_name(name: str) -> str:
    """'  Nguyễn   Văn-Đức ' → 'NGUYEN VAN DUC'."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")  # invisible format characters
    text = unicodedata.normalize("NFD", text.translate(_LETTER_FOLD))
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Mn":  # the marks NFD split off: dấu and the horn/breve of Ơ Ư Ă
            continue
        if category[0] in "PSZC":  # punctuation, symbols, separators, controls → a word break
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).upper().split())


def match_names(ours: str, bank: str) -> NameMatch:
    a, b = normalise_name(ours), normalise_name(bank)
    if not a or not b:
        return NameMatch.MISMATCH
    if a == b:
        return NameMatch.EXACT
    if sorted(a.split()) == sorted(b.split()):
        return NameMatch.REORDERED
    return NameMatch.MISMATCH


def invisible_characters(name: str) -> list[str]:
    """The code points in `name` a person cannot see (format and control characters, other than ordinary
    spaces): a name typed or imported with them is refused, with the code points named (U+200B …)."""
    return [
        f"U+{ord(ch):04X}"
        for ch in name
        if unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cn") and ch not in " "
    ]


def mask_name(name: str) -> str:
    """'Nguyễn Văn An' → 'N*** V*** A***': each word's first letter and three stars, whatever its length."""
    return " ".join(w[0] + "***" for w in name.split())
