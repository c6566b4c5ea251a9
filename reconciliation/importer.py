"""Statement files in: parse, check each statement's integrity before anything is stored, then store the file,
its statements and their lines in one transaction (lines by COPY into a temporary table and one set-based
INSERT … SELECT, so an overlapping statement, or the same day in another format, adds no line twice).

The same bytes twice are refused (the file's SHA-256 is unique); a statement already taken in from another
file (same bank, account and statement id, e.g. fetched again) is skipped, and a file with nothing new is
refused like a repeat. A break in an account's statement sequence is recorded and reported, not refused: the
missing statement may still come.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.audit import record_audit
from core.errors import Conflict, ValidationFailed
from core.keys import AppKeys
from core.money import format_vnd
from core.pii import encrypt_pii, mask_account, mask_text
from payments import collection_account_bins, redact_narrative
from reconciliation.matching import MatchReport, match_statement
from reconciliation.parsers import balance_difference, parse_statement
from reconciliation.statement import Statement, StatementRefused

NARRATIVE_CONTEXT = "recon_lines.narrative"
SOURCES = ("upload", "cli", "fetch")
COPY_CHUNK = 20_000  # lines per COPY (and per progress report)
PARALLEL_FROM = 50_000  # lines from which narratives are redacted and encrypted in two processes
ANALYZE_FROM = 10_000  # new lines from which recon_lines' planner statistics are refreshed after the import
Progress = Callable[[int, int], None]

_COLUMNS = (
    "statement_no",
    "bank_ref",
    "end_to_end_id",
    "booking_date",
    "value_date",
    "direction",
    "amount",
    "reversal",
    "narrative",
    "narrative_encrypted",
    "counterparty_name",
    "counterparty_account",
)


log = structlog.get_logger("citypay.reconciliation")


class FileAlreadyImported(Conflict):
    slug = "statement-file-already-imported"
    title_vi, title_en = "Tệp sao kê này đã được nhập", "This statement file was imported before"


class StatementRejected(ValidationFailed):
    slug = "statement-rejected"
    title_vi, title_en = "Sao kê không hợp lệ", "The statement was refused"


@dataclass(frozen=True)
class ImportedStatement:
    id: int | None  # None: skipped, a statement with this id was imported before
    bin: str
    account_number: str
    statement_ref: str
    sequence: int | None
    from_date: date
    to_date: date
    opening_balance: int | None
    closing_balance: int | None
    line_count: int
    new_lines: int
    sequence_gap: str | None
    already_imported: bool = False

    @property
    def duplicate_lines(self) -> int:
        return self.line_count - self.new_lines


@dataclass(frozen=True)
class ImportResult:
    file_id: int
    sha256: str
    format: str
    filename: str | None
    statements: list[ImportedStatement] = field(default_factory=list)
    matching: dict[int, MatchReport] = field(default_factory=dict)  # statement id → what matching found

    @property
    def new_lines(self) -> int:
        return sum(s.new_lines for s in self.statements)

    @property
    def duplicate_lines(self) -> int:
        return sum(s.duplicate_lines for s in self.statements)

    @property
    def sequence_gaps(self) -> list[str]:
        return [
            f"{mask_account(s.account_number)}: {s.sequence_gap}" for s in self.statements if s.sequence_gap
        ]


@dataclass(frozen=True)
class _Checked:
    statement: Statement
    bin: str


def _where(statement: Statement, index: int, total: int) -> str:
    ref = f"statement {mask_text(statement.statement_id)}"  # ids often hold the account number
    return f"{ref} ({index + 1} of {total})" if total > 1 else ref


def check_integrity(statement: Statement, where: str) -> None:
    """Refuses (422, naming the difference) a statement whose lines do not add up, or not in VND."""
    if statement.currency.upper() != "VND":
        raise StatementRejected(
            f"{where}: the currency is {statement.currency}, only VND accounts are reconciled",
            field="currency",
            message="recon.import.currency",
        )
    difference = balance_difference(statement)
    if difference:
        expected = (statement.opening_balance or 0) + statement.net()
        raise StatementRejected(
            f"{where}: opening {statement.opening_balance} + lines {statement.net()} = {expected} đồng, but "
            f"the closing balance is {statement.closing_balance}: a difference of {difference} đồng "
            f"({format_vnd(difference)})",
            field="closing_balance",
            message="recon.import.unbalanced",
            difference=difference,
        )


async def _bin_of(conn: asyncpg.Connection, statement: Statement, where: str, bin_hint: str | None) -> str:
    bins = await collection_account_bins(conn, statement.account)
    if bin_hint is not None:
        bins = [b for b in bins if b == bin_hint]
    if not bins:
        raise StatementRejected(
            f"{where}: account {mask_account(statement.account)} is not a collection account of the city",
            field="account",
            message="recon.import.unknown_account",
        )
    if len(bins) > 1:
        raise StatementRejected(
            f"{where}: the city holds account {mask_account(statement.account)} at several banks "
            f"({', '.join(bins)}); import it through that bank's fetch",
            field="account",
            message="recon.import.ambiguous_account",
        )
    return bins[0]


def _refused(exc: StatementRefused) -> StatementRejected:
    return StatementRejected(str(exc), field="file", message="recon.import.unreadable")


async def read_statements(
    data: bytes, *, filename: str | None, mapping: str | None, account: str | None = None
) -> list[Statement]:
    """The file's statements (parsed off the event loop: a large file takes a while); refusals as 422."""
    if not data:
        raise StatementRejected("the file is empty", field="file", message="recon.import.empty")
    try:
        statements = await asyncio.to_thread(
            parse_statement, data, filename=filename, mapping=mapping, account=account
        )
    except StatementRefused as exc:
        raise _refused(exc) from None
    if not statements:
        raise StatementRejected("the file holds no statement", field="file", message="recon.import.empty")
    return statements


async def import_statement_file(
    pool: asyncpg.Pool,
    keys: AppKeys,
    data: bytes,
    *,
    filename: str | None,
    source: str,
    actor: str,
    mapping: str | None = None,
    progress: Progress | None = None,
    bin_hint: str | None = None,
    account: str | None = None,
    match_window_days: int | None = None,
) -> ImportResult:
    """Take one statement file in (see the module's docstring). `bin_hint` names the bank when the caller
    knows it (the daily fetch); `account` the account of an export that does not print it. Raises
    StatementRejected (422) or FileAlreadyImported (409), and then stores nothing. With `match_window_days`
    each new statement is matched right after the import commits (in transactions of its own: a failure there
    leaves the import in place, and matching can run again by `POST /api/v1/reconciliation/match`)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    digest = hashlib.sha256(data).digest()
    async with pool.acquire() as conn:
        await _refuse_known_file(conn, digest)  # early, before the work of parsing it again
    statements = await read_statements(data, filename=filename, mapping=mapping, account=account)
    total_lines = sum(len(s.lines) for s in statements)
    checked: list[_Checked] = []
    async with pool.acquire() as conn:
        for i, statement in enumerate(statements):
            where = _where(statement, i, len(statements))
            check_integrity(statement, where)
            checked.append(_Checked(statement, await _bin_of(conn, statement, where, bin_hint)))
    # Redacting and encrypting each narrative is per-line Python work; done off the event loop (on both cores
    # for a large file), before the transaction, so the transaction holds its locks only for the database's
    # part.
    records = await _line_records(keys, [c.statement for c in checked])
    if progress:
        progress(0, total_lines)
    async with pool.acquire() as conn, conn.transaction():
        file_id = await conn.fetchval(
            """INSERT INTO recon_files (sha256, filename, format, size_bytes, source, imported_by)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING RETURNING id""",
            digest,
            _clean_filename(filename),
            statements[0].format[:40],
            len(data),
            source,
            actor[:200],
        )
        if file_id is None:  # the same bytes, committed a moment ago by a concurrent import
            await _refuse_known_file(conn, digest)
            raise FileAlreadyImported("this file was imported a moment ago", message="recon.import.duplicate")
        imported = await _store(conn, file_id, checked, records, progress, total_lines)
        if all(s.already_imported for s in imported):
            raise FileAlreadyImported(
                "every statement in this file was imported before: "
                + "; ".join(f"{s.statement_ref} of {mask_account(s.account_number)}" for s in imported),
                message="recon.import.duplicate",
            )
        result = ImportResult(file_id, digest.hex(), statements[0].format, filename, imported)
        await record_audit(
            conn,
            actor=actor,
            action="recon.statement_imported",
            subject=f"recon_file:{file_id}",
            after={
                "sha256": digest.hex(),
                "filename": _clean_filename(filename),
                "format": statements[0].format,
                "source": source,
                "statements": [
                    {
                        "id": s.id,
                        "account": mask_account(s.account_number),
                        "bin": s.bin,
                        "ref": s.statement_ref,
                        "lines": s.line_count,
                        "new_lines": s.new_lines,
                        "sequence_gap": s.sequence_gap,
                        "already_imported": s.already_imported,
                    }
                    for s in imported
                ],
            },
        )
    if result.new_lines >= ANALYZE_FROM:
        # Fresh statistics for matching, which runs next: without them the planner takes a million new lines
        # for a handful. The service role may not ANALYZE the table; migration 0014's function does, as owner.
        async with pool.acquire() as conn:
            await conn.execute("SELECT recon_analyze_lines()")
    if progress:
        progress(total_lines, total_lines)
    if match_window_days is not None:
        for stored in result.statements:
            if stored.already_imported or stored.id is None:
                continue
            try:
                async with pool.acquire() as conn:
                    report = await match_statement(conn, stored.id, keys=keys, window_days=match_window_days)
            except Exception:  # the import stands; finance sees the lines unmatched and can match again
                log.exception("matching_after_import_failed", statement_id=stored.id)
                continue
            if report is not None:
                result.matching[stored.id] = report
    return result


def _clean_filename(filename: str | None) -> str | None:
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] or None


async def _refuse_known_file(conn: asyncpg.Connection, digest: bytes) -> None:
    earlier = await conn.fetchrow(
        "SELECT id, filename, imported_by, imported_at, source FROM recon_files WHERE sha256 = $1", digest
    )
    if earlier is not None:
        raise FileAlreadyImported(
            f"this file was imported before: import #{earlier['id']}"
            + (f" ({earlier['filename']})" if earlier["filename"] else "")
            + f" by {earlier['imported_by']} at {earlier['imported_at'].isoformat()} ({earlier['source']})",
            message="recon.import.duplicate",
            file_id=earlier["id"],
        )


def _protect(keys: AppKeys, narratives: Sequence[str]) -> list[tuple[str, str]]:
    """(redacted copy, ciphertext) of each narrative: the per-line Python work of an import."""
    return [(redact_narrative(n), encrypt_pii(keys, n, context=NARRATIVE_CONTEXT)) for n in narratives]


def _protect_in_worker(kid: str, key: bytes, narratives: list[str]) -> list[tuple[str, str]]:
    """`_protect` in another process. Only the narrative key crosses to it (AppKeys holds a signing key that
    does not pickle, and the worker needs no other key): the rest of this AppKeys is throwaway."""
    keys = AppKeys(
        pii_keys={kid: key},
        pii_active=kid,
        lookup_key=secrets.token_bytes(32),
        signing_key=Ed25519PrivateKey.generate(),
    )
    return _protect(keys, narratives)


def _worker_context() -> multiprocessing.context.BaseContext:
    """fork where there is one: the worker starts at once and imports nothing, and it only runs `_protect`
    (no lock of this process's other threads is taken there: logging re-creates its locks after a fork).
    spawn elsewhere, which re-runs the main module (a script without a __main__ guard cannot use it)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


async def _protect_all(keys: AppKeys, narratives: list[str]) -> list[tuple[str, str]]:
    """`_protect` off the event loop; from PARALLEL_FROM lines on, on both cores: a second process takes the
    tail of the list while a thread here takes the head (a bit more of it: a result crosses back through a
    pipe). Should the process fail to start or die, its part is done here."""
    if len(narratives) < PARALLEL_FROM:
        return await asyncio.to_thread(_protect, keys, narratives)
    cut = len(narratives) * 11 // 20
    loop = asyncio.get_running_loop()
    kid = keys.pii_active
    with ProcessPoolExecutor(1, mp_context=_worker_context()) as pool:
        theirs = loop.run_in_executor(pool, _protect_in_worker, kid, keys.pii_keys[kid], narratives[cut:])
        mine = await asyncio.to_thread(_protect, keys, narratives[:cut])
        try:
            rest = await theirs
        except (BrokenProcessPool, OSError) as exc:
            log.warning("narrative_worker_failed", error=str(exc))
            rest = await asyncio.to_thread(_protect, keys, narratives[cut:])
    return mine + rest


async def _line_records(keys: AppKeys, statements: Sequence[Statement]) -> list[tuple]:
    narratives = [line.narrative for statement in statements for line in statement.lines]
    protected = iter(await _protect_all(keys, narratives))
    records: list[tuple] = []
    append = records.append
    for number, statement in enumerate(statements):
        for line in statement.lines:
            redacted, sealed = next(protected)
            append(
                (
                    number,
                    line.bank_ref,
                    line.end_to_end_id,
                    line.booking_date,
                    line.value_date,
                    line.direction,
                    line.amount,
                    line.reversal,
                    redacted,
                    sealed,
                    line.counterparty_name,
                    mask_account(line.counterparty_account),
                )
            )
    return records


async def _sequence_gap(conn: asyncpg.Connection, bin_: str, statement: Statement) -> str | None:
    """How this statement's number follows the last one of the account before it (None: it follows, or
    there is nothing to compare)."""
    if statement.sequence is None:
        return None
    previous = await conn.fetchrow(
        """SELECT sequence, to_date FROM recon_statements
            WHERE bin = $1 AND account_number = $2 AND to_date < $3 AND sequence IS NOT NULL
            ORDER BY to_date DESC, id DESC LIMIT 1""",
        bin_,
        statement.account,
        statement.from_date,
    )
    if previous is None:
        return None
    expected = previous["sequence"] + 1
    if statement.sequence == expected:
        return None
    # Sequence numbers restart each year at some banks (camt ElctrncSeqNb = day of the year).
    if statement.sequence == 1 and statement.from_date.year > previous["to_date"].year:
        return None
    return f"expected {expected}, got {statement.sequence} (previous statement to {previous['to_date']})"


async def _store(
    conn: asyncpg.Connection,
    file_id: int,
    checked: list[_Checked],
    records: list[tuple],
    progress: Progress | None,
    total_lines: int,
) -> list[ImportedStatement]:
    ids: list[int | None] = []
    gaps: list[str | None] = []
    for item in checked:
        s = item.statement
        gap = await _sequence_gap(conn, item.bin, s)
        statement_id = await conn.fetchval(
            """INSERT INTO recon_statements (file_id, bin, account_number, statement_ref, sequence, from_date,
                   to_date, opening_balance, closing_balance, line_count, new_lines, sequence_gap)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11)
               ON CONFLICT (bin, account_number, statement_ref) DO NOTHING RETURNING id""",
            file_id,
            item.bin,
            s.account,
            s.statement_id[:140],
            s.sequence,
            s.from_date,
            s.to_date,
            s.opening_balance,
            s.closing_balance,
            len(s.lines),
            gap,
        )
        ids.append(statement_id)
        gaps.append(gap if statement_id is not None else None)
    await conn.execute(
        """CREATE TEMP TABLE recon_import_lines (
               statement_no integer, bank_ref text, end_to_end_id text, booking_date date, value_date date,
               direction text, amount bigint, reversal boolean, narrative text, narrative_encrypted text,
               counterparty_name text, counterparty_account text) ON COMMIT DROP"""
    )
    wanted = [r for r in records if ids[r[0]] is not None]
    done = len(records) - len(wanted)
    for start in range(0, len(wanted), COPY_CHUNK):
        chunk = wanted[start : start + COPY_CHUNK]
        await conn.copy_records_to_table("recon_import_lines", records=chunk, columns=_COLUMNS)
        done += len(chunk)
        if progress:
            progress(done, total_lines)
    statement_ids = [i if i is not None else 0 for i in ids]
    bins = [c.bin for c in checked]
    accounts = [c.statement.account for c in checked]
    rows = await conn.fetch(
        """WITH s AS (SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[])
                          AS s(no, id, bin, account_number)),
                ins AS (
                    INSERT INTO recon_lines (statement_id, bin, account_number, bank_ref, end_to_end_id,
                           booking_date, value_date, direction, amount, reversal, narrative,
                           narrative_encrypted, counterparty_name, counterparty_account)
                    SELECT s.id, s.bin, s.account_number, l.bank_ref, l.end_to_end_id, l.booking_date,
                           l.value_date, l.direction, l.amount, l.reversal, l.narrative,
                           l.narrative_encrypted, l.counterparty_name, l.counterparty_account
                      FROM recon_import_lines l JOIN s ON s.no = l.statement_no
                     WHERE s.id <> 0
                    ON CONFLICT (bin, account_number, bank_ref, direction, reversal) DO NOTHING
                    RETURNING statement_id)
           SELECT statement_id, count(*) AS n FROM ins GROUP BY statement_id""",
        list(range(len(checked))),
        statement_ids,
        bins,
        accounts,
    )
    new_by_statement = {r["statement_id"]: r["n"] for r in rows}
    await conn.execute(
        """UPDATE recon_statements s SET new_lines = n.n
             FROM unnest($1::bigint[], $2::int[]) AS n(id, n) WHERE s.id = n.id""",
        list(new_by_statement),
        list(new_by_statement.values()),
    )
    out = []
    for item, statement_id, gap in zip(checked, ids, gaps, strict=True):
        s = item.statement
        out.append(
            ImportedStatement(
                id=statement_id,
                bin=item.bin,
                account_number=s.account,
                statement_ref=s.statement_id[:140],
                sequence=s.sequence,
                from_date=s.from_date,
                to_date=s.to_date,
                opening_balance=s.opening_balance,
                closing_balance=s.closing_balance,
                line_count=len(s.lines),
                new_lines=new_by_statement.get(statement_id, 0) if statement_id is not None else 0,
                sequence_gap=gap,
                already_imported=statement_id is None,
            )
        )
    return out


@dataclass(frozen=True)
class StatementRow:
    id: int
    file_id: int
    bin: str
    account_number: str
    statement_ref: str
    sequence: int | None
    from_date: date
    to_date: date
    opening_balance: int | None
    closing_balance: int | None
    line_count: int
    new_lines: int
    sequence_gap: str | None
    filename: str | None
    source: str
    imported_by: str
    imported_at: datetime


async def recent_statements(conn: asyncpg.Connection, *, limit: int = 100) -> list[StatementRow]:
    rows = await conn.fetch(
        """SELECT s.id, s.file_id, s.bin, s.account_number, s.statement_ref, s.sequence, s.from_date,
                  s.to_date, s.opening_balance, s.closing_balance, s.line_count, s.new_lines, s.sequence_gap,
                  f.filename, f.source, f.imported_by, f.imported_at
             FROM recon_statements s JOIN recon_files f ON f.id = s.file_id
            ORDER BY s.to_date DESC, s.id DESC LIMIT $1""",
        limit,
    )
    return [StatementRow(**dict(r)) for r in rows]


async def statement_counts(
    conn: asyncpg.Connection, statement_id: int
) -> tuple[StatementRow, dict[str, int], int] | None:
    """One statement, its lines counted by match state, and the open exceptions on its lines."""
    row = await conn.fetchrow(
        """SELECT s.id, s.file_id, s.bin, s.account_number, s.statement_ref, s.sequence, s.from_date,
                  s.to_date, s.opening_balance, s.closing_balance, s.line_count, s.new_lines, s.sequence_gap,
                  f.filename, f.source, f.imported_by, f.imported_at
             FROM recon_statements s JOIN recon_files f ON f.id = s.file_id WHERE s.id = $1""",
        statement_id,
    )
    if row is None:
        return None
    states = await conn.fetch(
        "SELECT state, count(*) AS n FROM recon_lines WHERE statement_id = $1 GROUP BY state", statement_id
    )
    by_state = dict.fromkeys(("unmatched", "matched", "proposed", "exception"), 0)
    by_state.update({r["state"]: r["n"] for r in states})
    open_exceptions = await conn.fetchval(
        """SELECT count(*) FROM recon_exceptions x JOIN recon_lines l ON l.id = x.line_id
            WHERE l.statement_id = $1 AND x.state = 'open'""",
        statement_id,
    )
    return StatementRow(**dict(row)), by_state, open_exceptions
