"""Payments' contribution to the app: the payment-request API and pay pages, bank callbacks and profiles, the
fee catalogue, finance's payments page, the live status hub, the callbacks' group committer, the background
sweeper, and demo data."""

from __future__ import annotations

import asyncpg

from core.capability import Capability, Demo, RealData, StaffLink
from core.demo import has_rows
from core.demo_bank_key import DEMO_BANK_CODE
from payments import (
    bank_apps_pages,
    bank_profiles_api,
    bank_profiles_pages,
    callback_issues,
    callback_routes,
    catalogue_api,
    catalogue_pages,
    finance_pages,
    find_payment,
    pay_pages,
    receipt_api,
    receipt_pages,
)
from payments import routes as payment_routes
from payments.callback_directory import callback_directory
from payments.creation_groups import creation_groups
from payments.demo import load_payments_demo
from payments.fee_terms import fee_terms_cache
from payments.group_commit import group_committer
from payments.live_status import status_listener
from payments.qr_images import qr_renderer
from payments.sweeper import expiry_sweeper


async def _probe(conn: asyncpg.Connection) -> RealData:
    tables = ("payment_requests", "payments_received", "bank_profiles", "collection_accounts")
    simulated_bank = await conn.fetchval("SELECT 1 FROM bank_profiles WHERE code = $1", DEMO_BANK_CODE)
    return RealData(tables_with_rows=await has_rows(conn, tables), looks_like_demo=bool(simulated_bank))


CAPABILITY = Capability(
    name="payments",
    routes=(
        payment_routes.routes,
        callback_routes.routes,
        callback_issues.routes,
        bank_profiles_api.routes,
        bank_profiles_pages.routes,
        pay_pages.routes,
        receipt_api.routes,
        receipt_pages.routes,
        find_payment.routes,
        catalogue_api.routes,
        catalogue_pages.routes,
        finance_pages.routes,
        bank_apps_pages.routes,
    ),
    staff_links=(
        StaffLink("link.banks", "/admin/banks", frozenset({"admin"})),
        StaffLink("admin.fees.link", "/admin/fees", frozenset({"admin"})),
        StaffLink("admin.subsidies.link", "/admin/subsidies", frozenset({"admin"})),
        StaffLink("admin.bank_apps.link", "/admin/bank-apps", frozenset({"admin"})),
        StaffLink("finance.payments.link", "/finance/payments", frozenset({"finance", "admin"})),
    ),
    services=(
        status_listener,
        callback_directory,
        fee_terms_cache,
        creation_groups,
        group_committer,
        qr_renderer,
    ),
    background=(expiry_sweeper,),
    demo=Demo(load=load_payments_demo, probe=_probe),
)
