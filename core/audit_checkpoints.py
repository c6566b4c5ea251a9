"""Audit checkpoints: the chain's head signed with the service's Ed25519 key and appended to
var/audit-checkpoints.jsonl, outside the database. A rewrite of the whole chain with the audit key (an
insider with owner rights) still disagrees with a checkpoint taken before it; `audit verify` checks every one.
Each serving process writes one at start and every CITYPAY_AUDIT_CHECKPOINT_MINUTES."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import structlog
from cryptography.exceptions import InvalidSignature

from core.audit import (
    CHECKPOINT_FILE,
    ChainReport,
    Checkpoint,
    audit_key_id,
    latest_heads,
    verify_audit_chain,
)

if TYPE_CHECKING:
    from aiohttp import web

    from core.keys import AppKeys

log = structlog.get_logger("citypay.audit")


class CheckpointFileError(ValueError):
    pass


def checkpoint_path(var_dir: Path) -> Path:
    return var_dir / CHECKPOINT_FILE


def read_checkpoints(path: Path, *, database: str, keys: AppKeys) -> tuple[list[Checkpoint], list[str]]:
    """This database's checkpoints whose signature verifies, and warnings for lines that could not be used.
    A line signed with this service's key whose signature fails raises CheckpointFileError: it was altered."""
    found: list[Checkpoint] = []
    warnings: list[str] = []
    if not path.exists():
        return found, warnings
    public = keys.signing_public_b64
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cp = Checkpoint(**json.loads(line))
            if not isinstance(cp.legacy_until, int | None) or not isinstance(cp.seq, int):
                raise TypeError
            if cp.heads is not None and not (
                isinstance(cp.heads, dict)
                and all(
                    isinstance(h, list) and len(h) == 3 and isinstance(h[0], int) and isinstance(h[1], int)
                    for h in cp.heads.values()
                )
            ):
                raise TypeError
        except (ValueError, TypeError):
            raise CheckpointFileError(f"{path}:{n} is not a checkpoint line (altered?)") from None
        if cp.database != database:
            continue
        if cp.public_key != public:
            warnings.append(f"{path}:{n} is signed with a key this service does not hold; skipped")
            continue
        try:
            keys.signing_public_key.verify(base64.b64decode(cp.signature), cp.payload())
        except (InvalidSignature, ValueError):
            raise CheckpointFileError(
                f"{path}:{n}: the checkpoint's signature does not verify (altered)"
            ) from None
        found.append(cp)
    return found, warnings


async def write_checkpoint(
    conn: asyncpg.Connection, *, keys: AppKeys, var_dir: Path
) -> tuple[Checkpoint, bool]:
    """Verify the rows added since the last checkpoint, then sign the head and append it to the file (and the
    log). Returns (checkpoint, written); an unchanged head is not written again. Raises AuditChainBroken
    instead of ever signing a chain that does not verify."""
    database = await conn.fetchval("SELECT current_database()")
    path = checkpoint_path(var_dir)
    try:
        known, _ = read_checkpoints(path, database=database, keys=keys)
    except CheckpointFileError as exc:
        log.error("audit_checkpoint_file_altered", database=database, reason=str(exc))
        raise AuditChainBroken(ChainReport(0, 0, str(exc))) from None
    last = max(known, key=lambda c: c.seq, default=None)
    # The first checkpoint of a database walks it from the genesis under the strict rules; later ones walk
    # only the rows added after each stream's last signed head, with the legacy boundary they signed.
    start = latest_heads(known)
    report = await verify_audit_chain(conn, key=keys.audit_key, start=start or None, checkpoints=known)
    if not report.ok:
        log.error("audit_chain_broken", database=database, row=report.first_broken, reason=report.reason)
        raise AuditChainBroken(report)
    moved = {s: h for s, h in report.heads.items() if start.get(s) != h}
    if last and not moved:
        log.info("audit_checkpoint_unchanged", database=database, seq=last.seq, hash=last.hash)
        return last, False
    unsigned = Checkpoint(
        database=database,
        seq=report.head_seq,
        hash=report.head_hash,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        audit_key_id=audit_key_id(keys.audit_key),
        public_key=keys.signing_public_b64,
        signature="",
        legacy_until=report.legacy_until,
        heads={s: [h.pos, h.seq, h.hash] for s, h in sorted(moved.items())},
    )
    signature = base64.b64encode(keys.signing_key.sign(unsigned.payload())).decode()
    cp = Checkpoint(**{**unsigned.__dict__, "signature": signature})
    await asyncio.to_thread(_append_line, path, cp.as_line())
    log.info(
        "audit_checkpoint",
        database=database,
        seq=cp.seq,
        hash=cp.hash,
        at=cp.at,
        streams=len(moved),
        signature=signature,
    )
    return cp, True


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())  # one write of one line: concurrent appends do not interleave
        os.fsync(fd)
    finally:
        os.close(fd)


class AuditChainBroken(RuntimeError):
    def __init__(self, report: ChainReport) -> None:
        super().__init__(f"audit chain broken at row {report.first_broken}: {report.reason}")
        self.report = report


async def verify_with_checkpoints(
    conn: asyncpg.Connection, *, keys: AppKeys, var_dir: Path, allow_no_checkpoint: bool = False
) -> tuple[ChainReport, list[str]]:
    """What `audit verify` runs: the whole chain with the key, and every checkpoint of this database. Without
    any checkpoint a table that has rows fails (neither a truncated tail nor a moved legacy boundary could be
    told apart from the truth) unless `allow_no_checkpoint`."""
    database = await conn.fetchval("SELECT current_database()")
    path = checkpoint_path(var_dir)
    try:
        checkpoints, warnings = read_checkpoints(path, database=database, keys=keys)
    except CheckpointFileError as exc:
        return ChainReport(0, 0, str(exc)), []
    report = await verify_audit_chain(conn, key=keys.audit_key, checkpoints=checkpoints)
    if not checkpoints and report.ok:
        why = (
            f"no checkpoint of database {database} in {path}: deletion of the newest rows and a moved legacy "
            "boundary cannot be detected (the server writes one at start and every few minutes; run "
            "`python main.py audit checkpoint`)"
        )
        if report.rows and not allow_no_checkpoint:
            return ChainReport(report.rows, 0, why + "; --allow-no-checkpoint accepts this"), warnings
        warnings.append(why)
    return report, warnings


async def audit_checkpointer(app: web.Application) -> AsyncIterator[None]:
    """Background task of each server process: a checkpoint when it starts (after migrations, before it
    serves: a fresh database's first checkpoint records that it has no legacy rows) and every
    CITYPAY_AUDIT_CHECKPOINT_MINUTES (0 = never)."""
    from core.appkeys import SETTINGS

    async for _ in _checkpoints_every(app[SETTINGS].audit_checkpoint_minutes)(app):
        yield


def _checkpoints_every(every_minutes: int) -> Callable[[web.Application], AsyncIterator[None]]:
    from core.appkeys import KEYS, POOL, SETTINGS
    from core.tasks import cancel_and_wait

    async def once(app: web.Application) -> None:
        try:
            async with app[POOL].acquire() as conn:
                await write_checkpoint(conn, keys=app[KEYS], var_dir=app[SETTINGS].var_dir)
        except AuditChainBroken:
            pass  # logged as audit_chain_broken; keep checking, never sign it
        except Exception:  # the next round tries again; must never take the server down
            log.exception("audit_checkpoint_failed")

    async def forever(app: web.Application) -> None:
        while True:
            await asyncio.sleep(every_minutes * 60)
            await once(app)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if every_minutes > 0:
            await once(app)
        task = asyncio.create_task(forever(app), name="audit-checkpoints") if every_minutes > 0 else None
        yield
        if task is not None:
            await cancel_and_wait([task])

    return ctx
