"""Payment references: short, upper-case, unambiguous, with a check character, findable in bank narratives.

A reference is PREFIX + 10 random symbols (50 bits from `secrets`) + 1 check symbol, all from Crockford's
base32 alphabet (digits and letters without I, L, O, U). Uniqueness forever is the database's UNIQUE column.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 10
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
# Crockford decoding: what a person or a bank may have typed for a look-alike symbol.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


def _step(interim: int, symbol: int) -> int:
    """Damm quasigroup over GF(32): interim∘symbol = 2·interim + symbol (field ops, poly x⁵+x²+1).

    Each row and column is a permutation, so any single substitution changes the final interim; and
    (c∘x)∘y = (c∘y)∘x means 3·x = 3·y, i.e. x = y, so every adjacent transposition is detected too.
    """
    doubled = interim << 1
    if doubled & 0b100000:
        doubled ^= 0b100101
    return doubled ^ symbol


def _interim(symbols: str) -> int:
    interim = 0
    for symbol in symbols:
        interim = _step(interim, _VALUE[symbol])
    return interim


def check_symbol(body: str) -> str:
    """The symbol that brings the Damm interim of body + symbol to zero."""
    interim = _interim(body)
    # _step(interim, s) == 0 exactly when s == 2·interim, which is _step(interim, 0).
    return ALPHABET[_step(interim, 0)]


def _check_prefix(prefix: str) -> None:
    if not prefix or any(symbol not in _VALUE for symbol in prefix):
        raise ValueError(f"reference prefix must be non-empty and use only {ALPHABET}: {prefix!r}")


def new_reference(prefix: str = "CP") -> str:
    _check_prefix(prefix)
    bits = secrets.randbits(5 * RANDOM_LENGTH)  # one draw from the OS, five bits a symbol
    body = prefix + "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(RANDOM_LENGTH))
    return body + check_symbol(body)


def is_valid_reference(text: str, prefix: str = "CP") -> bool:
    """Exactly prefix + 10 symbols + a verifying check symbol; no case folding or separators."""
    _check_prefix(prefix)
    return (
        len(text) == len(prefix) + RANDOM_LENGTH + 1
        and text.startswith(prefix)
        and all(symbol in _VALUE for symbol in text)
        and _interim(text) == 0
    )


def find_reference_in_narrative(narrative: str, prefix: str = "CP") -> str | None:
    """First valid reference in a bank narrative, tolerating case changes, glued words and separators.

    Banks upper-case, truncate words together and break long tokens with spaces, dashes or dots, so the
    search drops everything but letters and digits and tries each window that starts with the prefix.
    A random window passes the check with probability 1/32; the caller confirms against the database.
    """
    _check_prefix(prefix)
    squeezed = _NOT_ALNUM.sub("", narrative.upper().translate(_LOOKALIKES))
    length = len(prefix) + RANDOM_LENGTH + 1
    start = squeezed.find(prefix)
    while start != -1:
        candidate = squeezed[start : start + length]
        if is_valid_reference(candidate, prefix):
            return candidate
        start = squeezed.find(prefix, start + 1)
    return None
