"""citypay's one entry point: `python main.py serve|migrate|demo|up|create-user|create-token|audit verify|…`.

`create_app` installs the capabilities listed in CAPABILITIES; each package declares what it contributes in
its `setup.py` (routes, templates, links, background tasks, demo data).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from core.api import Registry
from core.appkeys import CLOCK, DATABASE_URL, KEYS, METRICS, POOL, REGISTRY, SETTINGS
from core.audit import owner_rights, use_audit_key, use_audit_key_loader
from core.capability import install
from core.clock import Clock
from core.db import MigrationError, connect, create_pool, migrate, pending_migrations
from core.errors import problem_middleware
from core.keys import AppKeys, MissingKeys, keys_as_env, load_keys
from core.logging import configure_logging
from core.metrics import Metrics
from core.middleware import request_context_middleware, security_headers
from core.settings import Settings
from core.setup import CAPABILITY as CORE
from core.vocabulary import ROLES
from core.workers import default_workers, run_workers
from disbursements.setup import CAPABILITY as DISBURSEMENTS
from ledger.setup import CAPABILITY as LEDGER
from parking.setup import CAPABILITY as PARKING
from payments.setup import CAPABILITY as PAYMENTS
from reconciliation.cli import add_parser as add_reconciliation_commands
from reconciliation.setup import CAPABILITY as RECONCILIATION

log = structlog.get_logger("citypay")

# Every capability, in layer order (each builds on those before it). A new capability is one line here.
CAPABILITIES = (CORE, LEDGER, PAYMENTS, PARKING, RECONCILIATION, DISBURSEMENTS)
DEMOS = tuple(c.demo for c in CAPABILITIES if c.demo is not None)


def _database(dsn: str, settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(
            dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            acquire_timeout_s=settings.db_acquire_timeout_s,
        )
        app[POOL] = pool
        app[METRICS].watch_pool(pool)
        yield
        await pool.close()

    return ctx


def create_app(
    *, settings: Settings, keys: AppKeys, database_url: str, background: bool = True
) -> web.Application:
    app = web.Application(
        middlewares=[request_context_middleware, problem_middleware],
        client_max_size=settings.max_body_bytes,
        # aiohttp's parser refuses a request line over 8 KiB with a plain-text 400 before any handler runs.
        # The longest documented query value (500 characters, up to 6 KB percent-encoded) must reach its
        # own check and get a problem+json answer, so the line may be 32 KiB; beyond that the parser still
        # refuses.
        handler_args={"max_line_size": 32 * 1024, "max_field_size": 16 * 1024},
    )
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[KEYS] = keys
    app[METRICS] = Metrics()
    app[CLOCK] = Clock()
    app[REGISTRY] = Registry()
    app[DATABASE_URL] = database_url
    app.cleanup_ctx.append(_database(database_url, settings))  # first: every capability's tasks use the pool
    install(app, CAPABILITIES, background=background)
    use_audit_key(keys.audit_key)
    return app


# Commands -------------------------------------------------------------------------------------------------


def resolve_database_url(settings: Settings) -> str:
    """The service's connection: DATABASE_URL, or the embedded server as the role citypay_app (no owner
    rights: it cannot alter tables, disable triggers or rewrite the append-only ones; migration 0007)."""
    if settings.database_url:
        return settings.database_url
    from core.embedded import SERVICE_ROLE, ensure_login_role, start_embedded_postgres, with_user

    owner = start_embedded_postgres(settings.var_dir)
    ensure_login_role(settings.var_dir, SERVICE_ROLE)
    return with_user(owner, SERVICE_ROLE)


def resolve_migrate_url(settings: Settings) -> str:
    """The owner's connection, for migrations and demo data: CITYPAY_MIGRATE_URL, else DATABASE_URL (one role
    for both, as before), else the embedded server's superuser."""
    if settings.database_url:
        return settings.migrate_url or settings.database_url
    from core.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.var_dir)


async def _migrate(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


async def _pending(dsn: str) -> list[str]:
    conn = await connect(dsn)
    try:
        pending = await pending_migrations(conn)
        if not pending and (role := await owner_rights(conn)):
            log.warning(
                "service_role_has_owner_rights",
                role=role,
                hint="it could switch the audit and ledger guards off; serve as citypay_app "
                "(README, Database roles)",
            )
        return pending
    finally:
        await conn.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    dsn = resolve_migrate_url(settings)
    try:
        applied = asyncio.run(_migrate(dsn))
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print("migrate: applied " + (", ".join(applied) if applied else "nothing (database is current)"))
    return 0


async def freeze_startup_objects(app: web.Application) -> None:
    """The last startup step of a serving process: what the process has built so far (modules, the app,
    its routes, templates, caches) lives as long as the process, so the garbage collector stops scanning it.
    A full collection walked all of it — ≈ 125,000 objects, 55–105 ms with the event loop stopped — every
    few seconds under load: the long tail of the p99 figures (docs/PERFORMANCE.md). Not in create_app:
    the test suite builds thousands of apps in one process, and frozen objects are never freed."""
    gc.collect()
    gc.freeze()
    log.info("startup_objects_frozen", pid=os.getpid(), objects=gc.get_freeze_count())


def _serve(settings: Settings, dsn: str, *, workers: int = 1) -> int:
    try:
        pending = asyncio.run(_pending(dsn))
    except MigrationError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    if pending:
        print(
            f"serve: the database is behind by {len(pending)} migration(s) ({', '.join(pending)}). "
            "Run `python main.py migrate` first.",
            file=sys.stderr,
        )
        return 1
    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)
    configure_logging(settings.log_format, settings.log_level, cache=True)  # serving: stderr stays put
    url = f"http://{settings.host}:{settings.port}"
    if workers == 1:  # this process serves, as before --workers
        app = create_app(settings=settings, keys=keys, database_url=dsn)
        app.on_startup.append(freeze_startup_objects)
        log.info("serving", url=url, embedded_db=settings.embedded, workers=1)
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
        return 0

    def serve_one(index: int) -> int:
        # Each worker builds its own app (pool, listeners, tasks) after the fork and binds the shared port.
        app = create_app(settings=settings, keys=keys, database_url=dsn)
        app.on_startup.append(freeze_startup_objects)
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None, reuse_port=True)
        return 0

    log.info("serving", url=url, embedded_db=settings.embedded, workers=workers)
    return run_workers(workers, serve_one)


def _workers(args: argparse.Namespace) -> int:
    return args.workers if args.workers is not None else default_workers()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    return _serve(settings, resolve_database_url(settings), workers=_workers(args))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Loads demo data, but only into an empty database or one demo mode filled (core/demo.py)."""
    from core.demo import DemoRefused, load_demo_data

    dsn = resolve_migrate_url(settings)
    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)
    try:
        asyncio.run(load_demo_data(dsn, settings=settings, keys=keys, demos=DEMOS))
    except DemoRefused as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """`make run`: migrate; with CITYPAY_DEMO=1 load demo data and start the simulated bank; serve."""
    import dataclasses
    import os
    import subprocess

    from core.demo import DemoRefused, first_admin_hint, load_demo_data

    owner_dsn = resolve_migrate_url(settings)
    try:
        applied = asyncio.run(_migrate(owner_dsn))
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    if applied:
        print("migrate: applied " + ", ".join(applied))
    dsn = resolve_database_url(settings)
    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)
    use_audit_key(keys.audit_key)
    simulator = None
    if settings.demo:
        try:
            asyncio.run(load_demo_data(owner_dsn, settings=settings, keys=keys, demos=DEMOS))
        except DemoRefused as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 1
        sim_port = os.environ.get("BANKSIM_PORT", "8081")
        env = {**os.environ, "BANKSIM_CITYPAY_URL": settings.public_base_url, "BANKSIM_PORT": sim_port}
        simulator = subprocess.Popen([sys.executable, __file__, "bank-sim"], env=env)  # noqa: S603
        settings = dataclasses.replace(
            settings, banksim_url=settings.banksim_url or f"http://127.0.0.1:{sim_port}"
        )
        print(f"demo: SIMULATED bank on {settings.banksim_url}/sim (pay pages offer it; no real money)")
    else:
        hint = asyncio.run(first_admin_hint(dsn))
        if hint:
            print(hint)
    try:
        return _serve(settings, dsn, workers=args.workers or 1)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=15)


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from core.auth import create_staff_user
    from core.errors import Problem

    password = args.password or getpass.getpass(f"password for {args.username}: ")

    async def run() -> int:
        conn = await connect(resolve_database_url(settings))
        try:
            user_id = await create_staff_user(
                conn,
                username=args.username,
                display_name=args.name or args.username,
                role=args.role,
                password=password,
                actor=f"cli:{getpass.getuser()}",
            )
        finally:
            await conn.close()
        print(f"created staff user {args.username} (id {user_id}, role {args.role})")
        return 0

    try:
        return asyncio.run(run())
    except Problem as exc:
        print(f"create-user: {exc.field}: {exc.detail}", file=sys.stderr)
        return 1
    except Exception as exc:
        if getattr(exc, "constraint_name", None) == "staff_users_username_key":
            print(f"create-user: username {args.username!r} is taken", file=sys.stderr)
            return 1
        raise


def _comma_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cmd_staff_change(settings: Settings, args: argparse.Namespace) -> int:
    """deactivate-user, activate-user, reset-password, revoke-sessions, unlock-user: as an admin would on
    /admin/staff, audited as the operating-system user."""
    from core import staff
    from core.errors import Problem

    actions: dict[str, Callable[..., Awaitable[Any]]] = {
        "deactivate-user": staff.deactivate_staff_user,
        "activate-user": staff.activate_staff_user,
        "reset-password": staff.reset_staff_password,
        "revoke-sessions": staff.revoke_staff_sessions,
        "unlock-user": staff.unlock_staff_user,
    }
    extra = {}
    if args.command == "reset-password":
        password = args.password or getpass.getpass(f"new password for {args.username}: ")
        extra["password"] = password

    async def run() -> int:
        conn = await connect(resolve_database_url(settings))
        try:
            ended = await actions[args.command](
                conn, username=args.username, actor=f"cli:{getpass.getuser()}", **extra
            )
        finally:
            await conn.close()
        print(f"{args.command}: done for {args.username}" + (f"; {ended} session(s) ended" if ended else ""))
        return 0

    try:
        return asyncio.run(run())
    except Problem as exc:
        print(f"{args.command}: {exc.field}: {exc.detail}", file=sys.stderr)
        return 1


def cmd_unlock_address(settings: Settings, args: argparse.Namespace) -> int:
    """Clear an address's failed logins (the per-address limit), audited as the operating-system user."""
    from core.errors import Problem
    from core.staff import unlock_address

    async def run():
        conn = await connect(resolve_database_url(settings))
        try:
            return await unlock_address(
                conn,
                address=args.address,
                actor=f"cli:{getpass.getuser()}",
                window_minutes=settings.login_window_minutes,
            )
        finally:
            await conn.close()

    try:
        before = asyncio.run(run())
    except Problem as exc:
        print(f"unlock-address: {exc.field}: {exc.detail}", file=sys.stderr)
        return 1
    print(
        f"unlock-address: done for {before.address}; {before.window_failures} failed login(s) no longer "
        f"count against it ({before.failures_24h} in the last 24 h stay recorded)"
    )
    return 0


def cmd_create_token(settings: Settings, args: argparse.Namespace) -> int:
    from core.errors import Problem
    from core.tokens import create_api_token

    async def run() -> int:
        conn = await connect(resolve_database_url(settings))
        try:
            token_id, secret = await create_api_token(
                conn,
                name=args.name,
                scopes=args.scope,
                fee_codes=_comma_list(args.fee_codes),
                channels=_comma_list(args.channels),
                actor=f"cli:{getpass.getuser()}",
            )
        finally:
            await conn.close()
        bound = f"; fee codes {args.fee_codes}" if args.fee_codes else ""
        bound += f"; channels {args.channels}" if args.channels else ""
        scopes = ", ".join(args.scope)
        print(f"token {token_id} ({args.name}; scopes {scopes}{bound}). Shown once — store it now:")
        print(secret)
        return 0

    try:
        return asyncio.run(run())
    except Problem as exc:
        print(f"create-token: {exc.field}: {exc.detail}", file=sys.stderr)
        return 1


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """`audit verify`: the keyed chain and every checkpoint in var/audit-checkpoints.jsonl (exit 2 if broken).
    `audit checkpoint`: verify what was added since the last checkpoint, then sign and append the head."""
    from core.audit_checkpoints import (
        AuditChainBroken,
        checkpoint_path,
        verify_with_checkpoints,
        write_checkpoint,
    )

    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)

    async def run() -> int:
        conn = await connect(resolve_database_url(settings))
        try:
            if args.action == "checkpoint":
                try:
                    cp, written = await write_checkpoint(conn, keys=keys, var_dir=settings.var_dir)
                except AuditChainBroken as exc:
                    print(f"audit: BROKEN at row {exc.report.first_broken}: {exc.report.reason}; not signed")
                    return 2
                what = "written to" if written else "unchanged since the last one in"
                where = checkpoint_path(settings.var_dir)
                print(f"audit: checkpoint at row {cp.seq} ({cp.hash[:16]}…) {what} {where}")
                return 0
            report, warnings = await verify_with_checkpoints(
                conn, keys=keys, var_dir=settings.var_dir, allow_no_checkpoint=args.allow_no_checkpoint
            )
        finally:
            await conn.close()
        for warning in warnings:
            print(f"audit: warning: {warning}", file=sys.stderr)
        if report.ok:
            print(
                f"audit: chain intact ({report.rows} rows; head row {report.head_seq}; "
                f"{report.checkpoints_checked} checkpoint(s) reached)"
            )
            return 0
        at_row = f" at row {report.first_broken}" if report.first_broken else ""
        print(f"audit: BROKEN{at_row}: {report.reason}")
        return 2

    return asyncio.run(run())


def cmd_close_day(settings: Settings, args: argparse.Namespace) -> int:
    """`close-day YYYY-MM-DD`: finance's day close from a shell, as on /ledger/days (audited as the
    operating-system user). Refuses a day that has not ended in Hà Nội, or one already closed."""
    from datetime import date

    from core.errors import Problem
    from ledger.days import close_day

    try:
        day = date.fromisoformat(args.business_date)
    except ValueError:
        print(f"close-day: {args.business_date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 1

    async def run():
        conn = await connect(resolve_database_url(settings))
        try:
            return await close_day(conn, day, actor=f"cli:{getpass.getuser()}")
        finally:
            await conn.close()

    try:
        closed = asyncio.run(run())
    except Problem as exc:
        print(f"close-day: {exc.detail or exc.title_en}", file=sys.stderr)
        return 1
    print(
        f"close-day: the ledger is closed through {closed.business_date} ({closed.accounts} account balances)"
    )
    return 0


def cmd_gen_keys(settings: Settings, args: argparse.Namespace) -> int:
    """Prints a fresh key set as environment assignments, for a deployment's secret store."""
    for name, value in keys_as_env(AppKeys.generate()).items():
        print(f"{name}={value}")
    return 0


def cmd_bank_sim(settings: Settings, args: argparse.Namespace) -> int:
    """The simulated bank (banksim/): its own port (BANKSIM_PORT) and database (BANKSIM_DATABASE_URL)."""
    from banksim.app import serve_bank_sim

    return serve_bank_sim(settings.var_dir)


def cmd_disbursements_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Batch execution only (the disbursements outbox kind), no HTTP: extra workers; the crash test."""
    from disbursements.execution import ExecutionConfig, run_worker, with_overrides

    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)
    use_audit_key(keys.audit_key)
    config = with_overrides(
        ExecutionConfig(),
        chunk=args.chunk,
        loops=args.loops,
        item_lease_s=args.item_lease,
        bank_timeout_s=args.bank_timeout,
        turn_s=args.turn,
        outbox_lease_s=args.outbox_lease,
        unknown_first_wait_s=args.unknown_wait,
        poll_interval_s=args.poll,
    )
    return asyncio.run(run_worker(resolve_database_url(settings), keys, settings, config))


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="citypay")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve HTTP (refuses when migrations are behind)")
    p.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="server processes sharing the port (SO_REUSEPORT); default: one per core; 1: no supervisor",
    )
    p.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo data (idempotent)").set_defaults(func=cmd_demo)
    p = sub.add_parser("up", help="migrate, load demo data if CITYPAY_DEMO=1, serve (make run)")
    p.add_argument(
        "--workers", type=_positive, default=1, help="server processes (default 1: the demo's readable log)"
    )
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("create-user", help="create a staff account")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=list(ROLES))
    p.add_argument("--name", help="display name")
    p.add_argument("--password", help="omit to be asked (keeps it out of shell history)")
    p.set_defaults(func=cmd_create_user)
    for name, help_text in (
        ("deactivate-user", "deactivate a staff account (no more logins; its sessions end now)"),
        ("activate-user", "reactivate a deactivated staff account"),
        ("reset-password", "set a new password for a staff account and end its sessions"),
        ("revoke-sessions", "end every session of a staff account"),
        ("unlock-user", "clear a staff account's failed logins (the login delay they cause)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("username")
        if name == "reset-password":
            p.add_argument("--password", help="omit to be asked (keeps it out of shell history)")
        p.set_defaults(func=cmd_staff_change)
    p = sub.add_parser(
        "unlock-address", help="clear an address's failed logins (the per-address login limit they cause)"
    )
    p.add_argument("address", help="as the login limits see it (the client address, or the proxy's)")
    p.set_defaults(func=cmd_unlock_address)
    p = sub.add_parser("create-token", help="create an API token for a machine client")
    p.add_argument("name")
    p.add_argument("--scope", action="append", required=True, help="e.g. payment-requests:write (repeatable)")
    p.add_argument(
        "--fee-codes",
        help="comma-separated fee codes the token may charge (required with payment-requests:write)",
    )
    p.add_argument("--channels", help="comma-separated channels the token may assert, e.g. vneid")
    p.set_defaults(func=cmd_create_token)
    p = sub.add_parser("audit", help="audit log tools")
    p.add_argument("action", choices=["verify", "checkpoint"])
    p.add_argument(
        "--allow-no-checkpoint",
        action="store_true",
        help="verify: accept a table with rows but no signed checkpoint (a truncated tail goes unseen)",
    )
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("close-day", help="close a business day of the ledger (and every day before it)")
    p.add_argument("business_date", help="YYYY-MM-DD; a day that has ended in Hà Nội")
    p.set_defaults(func=cmd_close_day)
    add_reconciliation_commands(sub)
    sub.add_parser("gen-keys", help="print a new key set for the environment").set_defaults(func=cmd_gen_keys)
    p = sub.add_parser("disbursements-worker", help="execute approved disbursement batches (no HTTP)")
    for flag, kind in (
        ("--chunk", int),
        ("--loops", int),
        ("--item-lease", float),
        ("--bank-timeout", float),
        ("--turn", float),
        ("--outbox-lease", float),
        ("--unknown-wait", float),
        ("--poll", float),
    ):
        p.add_argument(flag, type=kind, default=None)
    p.set_defaults(func=cmd_disbursements_worker)
    sub.add_parser("bank-sim", help="run the simulated bank (demos and tests)").set_defaults(
        func=cmd_bank_sim
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    # Command-line tools that record audit rows (create-user, …) load the audit key only when they do.
    use_audit_key_loader(lambda: load_keys(embedded=settings.embedded, var_dir=settings.var_dir).audit_key)
    try:
        return args.func(settings, args)
    except MissingKeys as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
