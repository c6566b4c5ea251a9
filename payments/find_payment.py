""" "Find my payment" (issue 12 point 12): the public home's form sends a payment reference here; a reference
that names a payment request goes to its pay page, anything else shows the form again with a catalogue
sentence. It reveals nothing /pay/{ref} does not: a reference is 50 random bits with a check symbol, a
malformed one is refused without a database look-up, and look-ups are limited per address."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import BaseModel, Field

from core.api import PUBLIC, Routes
from core.appkeys import POOL
from core.pages import render_html
from core.text import InvisibleCharacter, clean_identifier
from payments import messages as _messages  # noqa: F401  (registers the package's texts)
from payments import receipt_messages as _receipt_messages  # noqa: F401  (find_payment.* texts)
from payments.receipt_rate_limit import allow_lookup
from payments.reference import RANDOM_LENGTH, is_valid_reference

routes = Routes(tags=("pay-pages",))

PREFIX = "CP"
# What a person may have typed for a symbol the references never use (Crockford's base32 decoding).
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


class FindQuery(BaseModel):
    reference: str | None = Field(default=None, max_length=200, description="The payment reference, as typed")


def normalise_reference(raw: str) -> str | None:
    """The reference a person meant, or None: fullwidth and other compatibility forms folded (NFKC), case,
    spaces, dashes and dots ignored, O/I/L read as 0/1, the CP prefix optional. Refuses invisible characters
    (core.text) and anything whose check symbol does not verify."""
    try:
        text = clean_identifier(raw)
    except InvisibleCharacter:
        return None
    squeezed = _NOT_ALNUM.sub("", text.upper())
    body = squeezed[len(PREFIX) :] if squeezed.startswith(PREFIX) else squeezed
    candidate = PREFIX + body.translate(_LOOKALIKES)
    if len(candidate) != len(PREFIX) + RANDOM_LENGTH + 1:
        return None
    return candidate if is_valid_reference(candidate, PREFIX) else None


def _page(request: web.Request, *, status: int = 200, error: str | None = None, reference: str = ""):
    return render_html(
        request, "payments/find_payment.html", status=status, error=error, reference=reference[:60]
    )


@routes.get(
    "/find-payment",
    access=PUBLIC,
    summary="Find a payment by its reference: to its pay page, or the form again",
    query=FindQuery,
    in_openapi=False,
    produces="text/html",
)
async def find_payment(request: web.Request, query: FindQuery) -> web.Response:
    if query.reference is None:
        return _page(request)
    typed = query.reference.strip()
    if not typed:
        return _page(request, status=422, error="find_payment.empty")
    if not allow_lookup(request, "find"):
        return _page(request, status=429, error="find_payment.too_many", reference=typed)
    reference = normalise_reference(typed)
    if reference is None:
        return _page(request, status=422, error="find_payment.malformed", reference=typed)
    found = await request.app[POOL].fetchval(
        "SELECT reference FROM payment_requests WHERE reference = $1", reference
    )
    if found is None:
        return _page(request, status=404, error="find_payment.not_found", reference=typed)
    raise web.HTTPSeeOther(f"/pay/{found}")
