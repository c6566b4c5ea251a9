"""Reconciliation's contribution to the app: statement import (upload, API, daily fetch), matching, the
exceptions finance works with four eyes, and each bank account's day close."""

from __future__ import annotations

from core.capability import Capability, Demo, StaffLink
from reconciliation import day_routes, exception_routes, import_routes, report_pages, workbench_pages
from reconciliation import messages as _messages  # noqa: F401  (registers the package's texts)
from reconciliation.demo import load_reconciliation_demo
from reconciliation.fetch import statement_fetcher

CAPABILITY = Capability(
    name="reconciliation",
    routes=(
        import_routes.routes,
        exception_routes.routes,
        day_routes.routes,
        workbench_pages.routes,
        report_pages.routes,
    ),
    staff_links=(
        StaffLink("recon.wb.link", "/reconciliation", frozenset({"finance", "admin"})),
        StaffLink("recon.import.link", "/reconciliation/statements", frozenset({"finance", "admin"})),
        StaffLink(
            "recon.exception.link", "/reconciliation/exceptions", frozenset({"finance", "admin", "approver"})
        ),
        StaffLink("recon.day.link", "/reconciliation/days", frozenset({"finance", "admin"})),
    ),
    background=(statement_fetcher,),
    demo=Demo(load=load_reconciliation_demo),
)
