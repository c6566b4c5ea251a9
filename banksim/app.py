"""The bank simulator as its own aiohttp app (`python main.py bank-sim`): its own port, its own database,
no code shared with `payments` — it meets citypay only over HTTP, as a real bank would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from banksim import account_admin, pages, returns, routes
from banksim.appkeys import CONFIG, DELIVERER
from banksim.bank import seed_bank
from banksim.config import BankSimConfig, resolve_banksim_database_url
from banksim.deliveries import Deliverer, running
from core.api import Registry
from core.appkeys import METRICS, POOL, REGISTRY, TEMPLATES
from core.db import connect, create_pool, load_migrations, migrate
from core.errors import problem_middleware
from core.metrics import Metrics
from core.middleware import request_context_middleware
from core.pages import create_templates

log = structlog.get_logger("banksim")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a phone photo of a QR code


async def prepare_database(database_url: str, config: BankSimConfig) -> list[str]:
    """Apply the simulator's migrations and seed its accounts; both idempotent."""
    conn = await connect(database_url)
    try:
        applied = await migrate(conn, load_migrations(MIGRATIONS))
        await seed_bank(conn, config)
    finally:
        await conn.close()
    return applied


def create_banksim_app(*, database_url: str, config: BankSimConfig) -> web.Application:
    app = web.Application(
        middlewares=[request_context_middleware, problem_middleware], client_max_size=MAX_UPLOAD_BYTES
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[REGISTRY] = Registry()
    app[TEMPLATES] = create_templates(["banksim", "core"])  # core for the shared error page
    app[REGISTRY].add(app, routes.routes)
    app[REGISTRY].add(app, returns.routes)
    app[REGISTRY].add(app, account_admin.routes)
    app[REGISTRY].add(app, pages.routes)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        applied = await prepare_database(database_url, config)
        if applied:
            log.info("banksim_migrated", applied=applied)
        pool = await create_pool(database_url, min_size=1, max_size=10)
        app[POOL] = pool
        app[METRICS].watch_pool(pool)
        async with aiohttp.ClientSession() as session:
            app[DELIVERER] = Deliverer(pool, config, session)
            if config.worker:
                async with running(app[DELIVERER]):
                    yield
            else:
                yield
        await pool.close()

    app.cleanup_ctx.append(resources)
    return app


def serve_bank_sim(var_dir: Path) -> int:
    """`python main.py bank-sim`: resolve the database, then serve until interrupted."""
    config = BankSimConfig.from_env(var_dir)
    database_url = resolve_banksim_database_url(var_dir)
    app = create_banksim_app(database_url=database_url, config=config)
    log.info(
        "banksim_serving",
        url=f"http://{config.host}:{config.port}/sim",
        bank_code=config.bank_code,
        bin=config.bin,
        citypay=config.citypay_url,
        key_id=config.signing_key_id,
    )
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None)
    return 0
