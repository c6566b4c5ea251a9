"""Core's own contribution to the app: health and metrics, the OpenAPI document, static files, login and the
staff home page, staff and token administration, password hashing, and audit checkpoints."""

from __future__ import annotations

from core import admin_api, approval_routes, ops, staff_pages, token_pages
from core import static as static_files
from core.audit_checkpoints import audit_checkpointer
from core.capability import Capability, StaffLink
from core.passwords import password_hashing
from core.session_cache import staff_session_changes
from core.tokens import token_revocations
from core.vocabulary import ROLES
from core.workers import checkpoint_file_scope, elected

EVERY_ROLE = frozenset(ROLES)

CAPABILITY = Capability(
    name="core",
    routes=(
        ops.routes,
        static_files.routes,
        staff_pages.routes,
        token_pages.routes,
        admin_api.routes,
        approval_routes.routes,
    ),
    staff_links=(
        StaffLink("link.openapi", "/openapi.json", EVERY_ROLE),
        StaffLink("link.metrics", "/metrics", frozenset({"admin"})),
        StaffLink("link.staff", "/admin/staff", frozenset({"admin"})),
        StaffLink("link.tokens", "/admin/tokens", frozenset({"admin"})),
        StaffLink("approvals.link", "/approvals", frozenset({"approver", "finance", "admin"})),
    ),
    services=(password_hashing, token_revocations, staff_session_changes),
    # One process per checkpoint file writes checkpoints (each would verify the chain and append the same
    # head); hosts with their own var/ each keep their own file, as before.
    background=(elected("audit-checkpoints", audit_checkpointer, scope=checkpoint_file_scope),),
)
