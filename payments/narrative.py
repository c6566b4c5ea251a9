"""Bank narratives are personal data: payers type names, phone numbers, ID and account numbers into them,
often with spaces, dots or dashes between the digits ("0912 345 678", "001-099-012-345"). We keep the bank's
text only encrypted, and a redacted copy for display and matching: after NFKC (fullwidth digits become
digits), every group of eight or more digits, counted across single spaces, dots, dashes and slashes, is
masked but its last three digits; an unbroken run of six or more is masked too. Payment references and dates
stay whole: matching and finance need them.
"""

from __future__ import annotations

import re
import unicodedata

from payments.reference import find_reference_in_narrative

NARRATIVE_CONTEXT = "payments_received.narrative"
# Digits joined by at most one separator: one phone number, ID or account number as people write them.
_DIGIT_GROUP = re.compile(r"[0-9](?:[ ./-]?[0-9])*")
_GROUP_DIGITS, _RUN_DIGITS, _KEEP = 8, 6, 3
_LONGEST_RUN = re.compile(r"[0-9]+")


# Dates are not personal data and finance reads them: 2026-11-30, 30/11/2026, 30.11.2026.
_DATE = re.compile(
    r"(?<![0-9])(?:20[0-9]{2}-[01][0-9]-[0-3][0-9]|[0-3]?[0-9][./-][01]?[0-9][./-]20[0-9]{2})(?![0-9])"
)


def _mask(group: str) -> str:
    if len(group) < _RUN_DIGITS:  # fewer characters than the shortest run that is masked: nothing to hide
        return group
    digits = sum(ch.isdigit() for ch in group)
    longest = max((len(r) for r in _LONGEST_RUN.findall(group)), default=0)
    if digits < _GROUP_DIGITS and longest < _RUN_DIGITS:
        return group
    out, seen = [], 0
    for ch in group:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - _KEEP else "*")
        else:
            out.append(ch)
    return "".join(out)


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _visible(text: str) -> str:
    """NFKC, without format (Cf) and control (Cc) characters. ASCII text is its own NFKC and its only Cc/Cf
    characters are the controls, so it takes one regex instead of a pass per character (statements bring a
    million lines, nearly all ASCII; tests/payments check both paths agree)."""
    if text.isascii():
        return _ASCII_CONTROL.sub("", text)
    return "".join(
        ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) not in ("Cf", "Cc")
    )


def redact_narrative(text: str) -> str:
    """'CP0AB… NGUYEN VAN AN 0912 345 678' → 'CP0AB… NGUYEN VAN AN **** *** 678'.

    Invisible and bidi-control characters are dropped first: in a copy shown to finance they could reorder or
    hide what the bank sent (the encrypted original keeps them)."""
    text = _visible(text)
    # Spans kept as they are: each occurrence of the payment reference (a digit run may touch it) and dates.
    keep = [m.span() for m in _DATE.finditer(text)]
    reference = find_reference_in_narrative(text)
    if reference:
        upper = text.upper()
        found = upper.find(reference)
        while found != -1:
            keep.append((found, found + len(reference)))
            found = upper.find(reference, found + len(reference))
    parts, start = [], 0
    for a, b in sorted(keep):
        if a < start:
            continue
        parts.append(_DIGIT_GROUP.sub(lambda m: _mask(m.group()), text[start:a]))
        parts.append(text[a:b])
        start = b
    parts.append(_DIGIT_GROUP.sub(lambda m: _mask(m.group()), text[start:]))
    return "".join(parts)


def personal_digits(text: str, *, at_least: int = 9) -> bool:
    """Whether `text` carries what looks like a citizen ID or phone number: after NFKC, `at_least` digits in
    one run, or in digit-only words joined by spaces, dots, dashes or slashes ("0912.345.678",
    "001-099-012-345", "0912 345 678"). A code with letters between its digit groups
    ("000.00.10.H26-240101-0001") is not."""
    text = unicodedata.normalize("NFKC", text)
    if re.search(rf"[0-9]{{{at_least},}}", text):
        return True
    digits = 0
    for word in re.split(r"\s+", text):
        if word and re.fullmatch(r"[0-9./-]+", word):
            digits += sum(ch.isdigit() for ch in word)
            if digits >= at_least:
                return True
        else:
            digits = 0
    return False
