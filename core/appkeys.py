"""Every object shared through the aiohttp app, each under one typed key (as in aiohttp-demos/polls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

if TYPE_CHECKING:
    pass

SETTINGS = web.AppKey("settings", "Settings")
POOL = web.AppKey("pool", asyncpg.Pool)
KEYS = web.AppKey("keys", "AppKeys")
TEMPLATES = web.AppKey("templates", "jinja2.Environment")
REGISTRY = web.AppKey("registry", "Registry")
METRICS = web.AppKey("metrics", "Metrics")
CLOCK = web.AppKey("clock", "Clock")
# (label message key, href, roles allowed or None for public) contributed by each package
STAFF_LINKS = web.AppKey("staff_links", list)
PUBLIC_LINKS = web.AppKey("public_links", list)

# Per-request values
ENDPOINT = web.RequestKey("endpoint", object)  # the core.api.Endpoint being served
PRINCIPAL = web.RequestKey("principal", object)  # core.auth.Principal | None once resolved
