"""The daily statement fetch: once a day, after CITYPAY_STATEMENT_FETCH_AT (Hà Nội), yesterday's statement of
every active collection account whose bank's scheme offers a download is fetched and imported (source
`fetch`), so nobody has to upload it by hand.

It runs on the core outbox as one recurring item (kind and key `reconciliation.fetch_statements`, the pattern
of payments/sweeper.py): with several processes only one fetches, a run whose process died is run again when
its lease ends, and a failure backs off and stays visible in the outbox row. A run does no harm twice: an
account whose statement for the day is already in is skipped, and a file imported before is not an error. An
account that failed (the bank did not answer) makes the run retry later; the others are not fetched again.
The download happens with no transaction open; the import is its own transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.db import database_unavailable
from core.errors import Problem
from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.outbox import (
    Item,
    Kind,
    OutboxWorker,
    Outcome,
    again,
    ensure_recurring,
    retry,
    running_with_recurring,
)
from core.pii import mask_account
from core.settings import Settings
from payments import NotSupported, StatementSource, load_bank_profile, scheme_named, statement_sources
from reconciliation.importer import FileAlreadyImported, import_statement_file

log = structlog.get_logger("citypay.reconciliation.fetch")
FETCH_STATEMENTS = "reconciliation.fetch_statements"
ACTOR = "system:statement-fetch"
LEASE_S = 600.0  # a run downloads and imports every account's file; cut off at 80 % of this
POLL_S = 30.0
BACKOFF_BASE_S, BACKOFF_CAP_S = 60.0, 3600.0


@dataclass
class FetchReport:
    day: date
    imported: list[str] = field(default_factory=list)  # "970436 ****4567"
    new_lines: dict[str, int] = field(default_factory=dict)  # imported account → its new lines
    already_in: list[str] = field(default_factory=list)
    not_offered: list[str] = field(default_factory=list)  # the scheme has no download, or no bank address
    failed: list[str] = field(default_factory=list)


def fetch_at(settings: Settings) -> time:
    hours, minutes = settings.statement_fetch_at.split(":")
    return time(int(hours), int(minutes), tzinfo=LOCAL_TZ)


def next_run(settings: Settings, now: datetime) -> tuple[date | None, float]:
    """(the day to fetch now, or None; seconds until the next run). The day is yesterday in Hà Nội once
    today's fetch time has passed."""
    local = now.astimezone(LOCAL_TZ)
    today_at = datetime.combine(local.date(), fetch_at(settings))
    if local < today_at:
        return None, (today_at - local).total_seconds()
    tomorrow_at = today_at + timedelta(days=1)
    return local.date() - timedelta(days=1), (tomorrow_at - local).total_seconds()


def bank_address(settings: Settings, source: StatementSource) -> str | None:
    """Where the bank's API is. A bank profile does not hold its address yet: the only bank that speaks
    citypay-bank-v1 today is the simulator, at CITYPAY_BANKSIM_URL."""
    return settings.banksim_url if source.scheme == "citypay-bank-v1" else None


async def _have_statement(conn: asyncpg.Connection, source: StatementSource, day: date) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT true FROM recon_statements
                WHERE bin = $1 AND account_number = $2 AND from_date <= $3 AND to_date >= $3 LIMIT 1""",
            source.bin,
            source.account_number,
            day,
        )
    )


async def fetch_statements(pool: asyncpg.Pool, keys: AppKeys, settings: Settings, day: date) -> FetchReport:
    """Fetch and import `day`'s statement of every collection account whose bank offers one."""
    report = FetchReport(day)
    async with pool.acquire() as conn:
        sources = await statement_sources(conn)
    for source in sources:
        label = f"{source.bin} {mask_account(source.account_number)}"
        address = bank_address(settings, source)
        if address is None:
            report.not_offered.append(label)
            continue
        async with pool.acquire() as conn:
            if await _have_statement(conn, source, day):
                report.already_in.append(label)
                continue
            profile = await load_bank_profile(conn, keys, source.bank_code)
        if profile is None:
            report.not_offered.append(label)
            continue
        try:
            data = await scheme_named(profile.scheme).download_statement(
                profile,
                source.account_number,
                day,
                base_url=address,
                max_bytes=settings.statement_max_bytes,
            )
        except NotSupported:
            report.not_offered.append(label)
            continue
        except Exception as exc:  # the bank did not answer: this account is tried again on the next run
            log.warning("statement_download_failed", bank=source.bank_code, account=label, error=repr(exc))
            report.failed.append(f"{label}: {exc}")
            continue
        try:
            result = await import_statement_file(
                pool,
                keys,
                data,
                filename=f"{source.bank_code}-{source.account_number}-{day:%Y%m%d}.xml",
                source="fetch",
                actor=ACTOR,
                bin_hint=source.bin,
                match_window_days=settings.recon_date_window_days,
            )
        except FileAlreadyImported:
            report.already_in.append(label)
            continue
        except Problem as exc:  # refused (unbalanced, unreadable): finance must look; retrying will not help
            log.error("fetched_statement_refused", bank=source.bank_code, account=label, reason=exc.detail)
            report.failed.append(f"{label}: {exc.detail}")
            continue
        report.imported.append(label)
        report.new_lines[label] = result.new_lines
        for gap in result.sequence_gaps:
            log.warning("statement_sequence_gap", bank=source.bank_code, gap=gap)
    return report


def fetch_kind(pool: asyncpg.Pool, keys: AppKeys, settings: Settings, *, clock=None) -> Kind:
    """The recurring handler: before the fetch time it waits; after it, it fetches yesterday's statements
    and sleeps until tomorrow's fetch time (retrying with backoff while an account failed)."""

    async def handler(item: Item) -> Outcome:
        now = clock() if clock else datetime.now(LOCAL_TZ)
        day, wait_s = next_run(settings, now)
        if day is None:
            return again(wait_s)
        try:
            report = await fetch_statements(pool, keys, settings, day)
        except Exception as exc:
            if database_unavailable(exc):
                return retry(f"database unavailable: {type(exc).__name__}")
            raise
        log.info(
            "statements_fetched",
            day=day.isoformat(),
            imported=report.imported,
            already_in=len(report.already_in),
            not_offered=len(report.not_offered),
            failed=report.failed,
        )
        if report.failed:
            return retry("; ".join(report.failed), detail=report)
        return again(wait_s, detail=report)

    return Kind(handler, max_attempts=None, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S)


def fetch_worker(
    pool: asyncpg.Pool, keys: AppKeys, settings: Settings, *, poll_interval_s: float = POLL_S
) -> OutboxWorker:
    return OutboxWorker(
        pool,
        {FETCH_STATEMENTS: fetch_kind(pool, keys, settings)},
        lease_s=LEASE_S,
        batch=1,
        poll_interval_s=poll_interval_s,
        name="statement-fetch",
    )


async def schedule_fetch(conn: asyncpg.Connection) -> None:
    await ensure_recurring(conn, FETCH_STATEMENTS, FETCH_STATEMENTS)


async def statement_fetcher(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context (serving processes only): the daily fetch runs in this process's outbox
    worker; its item is ensured at start (or as soon as the database is back). Shutdown is bounded."""
    pool = app[POOL]
    worker = fetch_worker(pool, app[KEYS], app[SETTINGS])
    async with running_with_recurring(
        pool, worker, {FETCH_STATEMENTS: FETCH_STATEMENTS}, name="statement-fetch"
    ):
        yield
