"""The redacted copy of a bank narrative (payments.narrative): the ASCII fast path drops exactly what the
general path drops, and digit groups are masked the same whatever their length."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from payments.narrative import _visible, redact_narrative


def _general(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) not in ("Cf", "Cc")
    )


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_the_ascii_fast_path_equals_the_general_one(text):
    assert _visible(text) == _general(text)


@given(st.text(max_size=200))
def test_any_text_keeps_no_control_or_format_character(text):
    assert _visible(text) == _general(text)
    assert not any(unicodedata.category(ch) in ("Cf", "Cc") for ch in redact_narrative(text))


def test_phone_and_id_numbers_are_masked_but_short_numbers_and_dates_are_not():
    assert (
        redact_narrative("AN 0912 345 678 HS 12 ngay 30/11/2026") == "AN **** *** 678 HS 12 ngay 30/11/2026"
    )
    assert redact_narrative("CCCD 001099012345") == "CCCD *********345"
    assert redact_narrative("so 12345") == "so 12345"  # five digits: not personal
    assert redact_narrative("ma 123456") == "ma ***456"  # an unbroken run of six is
