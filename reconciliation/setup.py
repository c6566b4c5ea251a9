"""Reconciliation's contribution to the app: statement import (upload, API, daily fetch), matching, the
exceptions finance works with four eyes, and each bank account's day close."""

from __future__ import annotations

from core.capability import Capability
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)

CAPABILITY = Capability(
    name="reconciliation",
    routes=(),
    staff_links=(),
)
