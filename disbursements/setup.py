"""Disbursements' contribution to the app: beneficiaries (API, pages, CSV import), account verification and
its mismatch review (four eyes); batches and payouts add theirs here too."""

from __future__ import annotations

from core.capability import Capability
from disbursements import messages as _messages  # noqa: F401  (registers the package's texts)

CAPABILITY = Capability(
    name="disbursements",
    routes=(),
    staff_links=(),
)
