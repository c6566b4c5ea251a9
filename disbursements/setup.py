"""Disbursements' contribution to the app: beneficiaries (API, pages, CSV import), account verification and
its mismatch review (four eyes); batches and payouts add theirs here too."""

from __future__ import annotations

from core.capability import Capability, Demo, StaffLink
from disbursements import batch_pages, batch_routes, beneficiary_pages, beneficiary_routes, report_pages
from disbursements import messages as _messages  # noqa: F401  (registers the package's texts)
from disbursements.demo import load_disbursements_demo, probe
from disbursements.execution import batch_executor
from disbursements.file_payouts import claim_file_payouts
from disbursements.returns import claim_returns
from disbursements.verification import verification_runner
from reconciliation.claims import register_claimant

CAPABILITY = Capability(
    name="disbursements",
    routes=(
        beneficiary_routes.routes,
        beneficiary_pages.routes,
        report_pages.routes,
        batch_routes.routes,
        batch_pages.routes,
    ),
    staff_links=(
        StaffLink(
            "disb.ben.link", "/disbursements/beneficiaries", frozenset({"finance", "admin", "approver"})
        ),
        StaffLink("disb.bp.link", "/disbursements/batches", frozenset({"finance", "admin", "approver"})),
        StaffLink("disb.rpt.link", "/disbursements/reports", frozenset({"finance", "admin", "approver"})),
    ),
    background=(verification_runner, batch_executor),
    demo=Demo(load=load_disbursements_demo, probe=probe),
)

# Returned payouts on the city's statement are disbursements' to book, before reconciliation reads narratives.
register_claimant("disbursements.returns", claim_returns)
register_claimant("disbursements.file_payouts", claim_file_payouts)
