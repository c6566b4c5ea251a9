"""Bank narratives are personal data: payers type names, phone numbers and ID numbers into them. We keep the
bank's text only encrypted, and a redacted copy for display and matching, in which every run of six or more
digits is masked except its last three — but the payment reference stays whole, since matching needs it.
"""

from __future__ import annotations

import re

from payments.reference import find_reference_in_narrative

NARRATIVE_CONTEXT = "payments_received.narrative"
_DIGIT_RUN = re.compile(r"[0-9]{6,}")
_KEEP = 3


def redact_narrative(text: str) -> str:
    """'CP0AB… NGUYEN VAN AN 0912345678' → 'CP0AB… NGUYEN VAN AN *******678'."""
    reference = find_reference_in_narrative(text)
    protected: list[tuple[int, int]] = []
    if reference:
        upper = text.upper()
        start = upper.find(reference)
        while start != -1:
            protected.append((start, start + len(reference)))
            start = upper.find(reference, start + 1)

    def mask(match: re.Match[str]) -> str:
        if any(a <= match.start() and match.end() <= b for a, b in protected):
            return match.group()
        run = match.group()
        return "*" * (len(run) - _KEEP) + run[-_KEEP:]

    return _DIGIT_RUN.sub(mask, text)
