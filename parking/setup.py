"""Parking's contribution to the app: the attendant API and console, lot administration, KPIs, the public lot
search, and demo lots."""

from __future__ import annotations

from core.capability import Capability, Demo, PublicLink, StaffLink
from parking import console, kpi_routes, public_pages
from parking import routes as parking_routes
from parking.admin import api as admin_api
from parking.admin import pages as admin_pages
from parking.demo import load_parking_demo

CAPABILITY = Capability(
    name="parking",
    routes=(
        parking_routes.routes,
        console.routes,
        kpi_routes.routes,
        admin_api.routes,
        admin_pages.routes,
        public_pages.routes,
    ),
    staff_links=(
        StaffLink("link.parking_console", "/parking/console", frozenset({"attendant", "admin"})),
        StaffLink("link.parking_kpis", "/parking/kpis", frozenset({"finance", "admin"})),
        StaffLink("link.parking_admin", "/admin/parking", frozenset({"admin"})),
    ),
    public_links=(PublicLink("link.parking_search", "/parking"),),
    demo=Demo(load=load_parking_demo),  # lots alone hold no money: no probe,
)
