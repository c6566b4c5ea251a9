"""Is a sentence shown on a page one of ours? Every error a person reads must come from the message catalogue
(core.i18n, filled by each package's register_messages), with its {placeholders} filled in — never an API
detail, an internal id or a parameter name. Browser and page tests collect the visible error texts and ask."""

from __future__ import annotations

import re
from functools import cache

from core import i18n


@cache
def _patterns(lang: str) -> list[re.Pattern[str]]:
    import main  # noqa: F401  (its capabilities register every package's messages)
    from core.errors import Problem

    index = 1 if lang == "en" else 0
    sentences = [pair[index] for pair in i18n._MESSAGES.values()]
    # A problem's title is catalogue text too: it is a class attribute in both languages.
    stack: list[type[Problem]] = [Problem]
    while stack:
        cls = stack.pop()
        sentences.append(cls.title_en if lang == "en" else cls.title_vi)
        stack.extend(cls.__subclasses__())
    out = []
    for sentence in sentences:
        parts = re.split(r"\{[^{}]*\}", sentence)
        out.append(re.compile("^" + ".+?".join(re.escape(p) for p in parts) + "$", re.DOTALL))
    return out


def in_catalogue(text: str, lang: str = "vi") -> bool:
    """True when `text` (trimmed) is one catalogue sentence, or several joined by spaces or " — "."""
    pats = _patterns(lang)
    whole = " ".join(text.split())
    if not whole or any(p.match(whole) for p in pats):
        return True
    # A page may show a title and a sentence together ("Không tìm thấy — Xe không có trong bãi."), or a
    # sentence with a hint on the line below: split before the whitespace is folded.
    pieces = [" ".join(p.split()) for p in re.split(r" — |\n", text) if p.strip()]
    return len(pieces) > 1 and all(any(p.match(piece) for p in pats) for piece in pieces)


def not_in_catalogue(texts: list[str], lang: str = "vi") -> list[str]:
    """The texts that are not catalogue sentences: a test asserts this is empty."""
    return [t for t in texts if not in_catalogue(t, lang)]
