"""Text that callers type: normalised once, at the edge, before any rule looks at it.

Identifiers (plates, codes, references) are NFKC-normalised, so fullwidth `３０Ａ` is `30A`, and then refused
when they carry anything invisible: zero-width characters, bidi controls, other control or format characters
(Unicode categories Cc and Cf), surrogates, private-use or unassigned code points and line separators.
Without this `30A77\\u200b777` and `30A77777` are two plates, and a right-to-left override shows another
text than the one stored. Free text (reasons, names, notes) is normalised the same way and refused for the
same characters, except that it may hold line breaks and tabs when the caller allows them.

Use the pydantic types in request models (`Identifier`, `FreeText`) or the functions in code that takes text
from elsewhere (forms, CSV): the refusal is a `ValueError`, which pydantic reports as a 422 naming the field.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator

# Named for the error message; every one of them is also in category Cf and refused by the category rule.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
_REFUSED_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_REFUSED_IN_TEXT = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_TEXT_WHITESPACE = frozenset("\n\t")  # allowed in free text only when the caller says so; never \r


class InvisibleCharacter(ValueError):
    """The text holds a character that is invisible or changes how the rest is shown."""


def _describe(ch: str) -> str:
    if ch in ZERO_WIDTH:
        kind = "a zero-width character"
    elif ch in BIDI_CONTROLS:
        kind = "a bidirectional control character"
    else:
        kind = "a control or format character"
    return f"{kind} (U+{ord(ch):04X}) is not allowed"


def refuse_invisible(text: str, *, allow_line_breaks: bool = False, identifier: bool = True) -> str:
    """Raise InvisibleCharacter for the first refused character of `text`; return `text` unchanged."""
    refused = _REFUSED_IN_IDENTIFIERS if identifier else _REFUSED_IN_TEXT
    for ch in text:
        if allow_line_breaks and ch in _TEXT_WHITESPACE:
            continue
        if ch in ZERO_WIDTH or ch in BIDI_CONTROLS or unicodedata.category(ch) in refused:
            raise InvisibleCharacter(_describe(ch))
    return text


def clean_identifier(text: str) -> str:
    """NFKC, then refuse invisible characters; outer spaces dropped. For plates, codes, references."""
    return refuse_invisible(unicodedata.normalize("NFKC", text)).strip()


def clean_text(text: str, *, allow_line_breaks: bool = False) -> str:
    """NFKC, then refuse invisible characters (tabs, line feeds only if allowed); trimmed. Free text."""
    normalised = unicodedata.normalize("NFKC", text)
    return refuse_invisible(normalised, allow_line_breaks=allow_line_breaks, identifier=False).strip()


def _before(clean):  # runs before pydantic's own str checks, so lengths count the normalised text
    def validate(value: Any) -> Any:
        return clean(value) if isinstance(value, str) else value  # non-strings: pydantic's type error

    return BeforeValidator(validate)


Identifier = Annotated[str, _before(clean_identifier)]
FreeText = Annotated[str, _before(clean_text)]
MultilineText = Annotated[str, _before(lambda s: clean_text(s, allow_line_breaks=True))]


# Spreadsheets run a cell that starts with one of these as a formula (=HYPERLINK(…), +cmd|…, @SUM(…)); a
# leading tab or carriage return hides the sign from a quick look and some importers strip it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: strings starting with = + - @ (or tab, CR) get a leading
    apostrophe (OWASP's advice for CSV injection). Numbers stay numbers, so -5000 is still a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
