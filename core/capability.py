"""What one package contributes to the app, declared in one object: `<package>/setup.py` holds its
`CAPABILITY` and `main.py` lists them. Adding a capability is one line there.

A capability brings its routes, its templates (under "<package>/…", so two packages may both have
`list.html`), its links on the staff and public home pages, the tasks it runs for the life of the app, and its
demo data. Core knows no capability by name: it only installs what it is handed, in the order given (layer
order, so a package's tasks start after those of the packages it builds on, and stop before them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from core.api import Routes
from core.appkeys import PUBLIC_LINKS, REGISTRY, STAFF_LINKS, TEMPLATES
from core.keys import AppKeys
from core.pages import create_templates
from core.settings import Settings

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
DemoLoader = Callable[[asyncpg.Connection, Settings, AppKeys], Awaitable[None]]


@dataclass(frozen=True)
class StaffLink:
    """A link on the staff home page: `label` is a message key; only the `roles` listed see it."""

    label: str
    href: str
    roles: frozenset[str]


@dataclass(frozen=True)
class PublicLink:
    label: str
    href: str


@dataclass(frozen=True)
class RealData:
    """What demo mode's guard learns from one package about a database without the demo marker: which of
    its tables hold rows, and whether those rows look like demo mode's own (core/demo.py)."""

    tables_with_rows: tuple[str, ...]
    looks_like_demo: bool


@dataclass(frozen=True)
class Demo:
    """A package's part in demo mode: `load` fills its demo data (idempotently); `probe` tells the guard
    whether its tables hold data demo mode did not make (a package whose rows cannot be real money on their
    own, such as parking lots, needs none)."""

    load: DemoLoader | None = None
    probe: Callable[[asyncpg.Connection], Awaitable[RealData]] | None = None


@dataclass(frozen=True)
class Capability:
    name: str  # the package: its templates live in <name>/templates and are named "<name>/<file>"
    routes: Sequence[Routes] = ()
    staff_links: Sequence[StaffLink] = ()
    public_links: Sequence[PublicLink] = ()
    # Run for the life of every app, after the database pool opens (e.g. a LISTEN connection).
    services: Sequence[CleanupContext] = ()
    # Run only in serving processes (`background=True`): sweepers, outbox workers, checkpoints.
    background: Sequence[CleanupContext] = ()
    demo: Demo | None = None
    templates: bool = True


def install(app: web.Application, capabilities: Sequence[Capability], *, background: bool) -> None:
    """Adds every capability's routes, templates, links and tasks to `app` (the pool's cleanup context must
    already be installed: services and background tasks use it)."""
    names = [c.name for c in capabilities]
    if len(set(names)) != len(names):
        raise ValueError(f"a capability is listed twice: {names}")
    app[TEMPLATES] = create_templates([c.name for c in capabilities if c.templates])
    app[STAFF_LINKS] = [
        {"label": link.label, "href": link.href, "roles": set(link.roles)}
        for c in capabilities
        for link in c.staff_links
    ]
    app[PUBLIC_LINKS] = [
        {"label": link.label, "href": link.href} for c in capabilities for link in c.public_links
    ]
    for capability in capabilities:
        for routes in capability.routes:
            app[REGISTRY].add(app, routes)
    for capability in capabilities:
        app.cleanup_ctx.extend(capability.services)
    if background:
        for capability in capabilities:
            app.cleanup_ctx.extend(capability.background)


def demo_loaders(capabilities: Sequence[Capability]) -> list[Demo]:
    return [c.demo for c in capabilities if c.demo is not None]
