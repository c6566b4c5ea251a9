"""Every object shared through the aiohttp app, each under one typed key (as in aiohttp-demos/polls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

if TYPE_CHECKING:  # only for the type checker: these modules import this one
    import jinja2

    from core.api import Registry
    from core.clock import Clock
    from core.keys import AppKeys
    from core.metrics import Metrics
    from core.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
POOL = web.AppKey("pool", asyncpg.Pool)
DATABASE_URL = web.AppKey("database_url", str)  # the service's connection (for LISTEN connections)
KEYS: web.AppKey[AppKeys] = web.AppKey("keys")
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
# (label message key, href, roles allowed or None for public) contributed by each package
STAFF_LINKS = web.AppKey("staff_links", list)
PUBLIC_LINKS = web.AppKey("public_links", list)

# Per-request values
ENDPOINT = web.RequestKey("endpoint", object)  # the core.api.Endpoint being served
PRINCIPAL = web.RequestKey("principal", object)  # core.auth.Principal | None once resolved
