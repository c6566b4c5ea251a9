"""Issue 13, point 3: the audit chain per stream (migration 0025). Parking session actions append to field
streams with their own locks, so they never wait on the main chain's lock nor on each other's; tamper evidence
is what it was: a missing, rewritten or truncated row of any stream fails `audit verify`, and the signed
checkpoints cover every stream's head."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest

from core.audit import MAIN_STREAM, audit_stream, record_audit, verify_audit_chain
from core.audit_checkpoints import read_checkpoints, verify_with_checkpoints, write_checkpoint
from core.db import connect


def _subjects_in_distinct_streams(n: int) -> list[str]:
    seen: dict[str, str] = {}
    for i in itertools.count(1):
        subject = f"session:{i}"
        seen.setdefault(audit_stream("parking.check_in", subject), subject)
        if len(seen) == n:
            return list(seen.values())
    raise AssertionError


A, B = _subjects_in_distinct_streams(2)


async def _record(conn, action: str, subject: str, actor: str = "staff:att") -> int:
    async with conn.transaction():
        return await record_audit(conn, actor=actor, action=action, subject=subject, after={"x": 1})


async def test_streams_are_chosen_by_action_and_subject():
    assert audit_stream("staff.create", "staff:lan") == MAIN_STREAM
    assert audit_stream("parking.lot.create", "lot:1") == MAIN_STREAM  # administration stays on main
    for action in ("parking.check_in", "parking.check_out", "parking.close_paid", "parking.void"):
        assert audit_stream(action, A).startswith("field:")
        assert audit_stream(action, A) == audit_stream("parking.check_in", A)  # a session: one stream
    assert audit_stream("parking.check_in", A) != audit_stream("parking.check_in", B)


async def test_each_stream_is_its_own_chain_and_the_whole_verifies(conn):
    await _record(conn, "staff.create", "staff:lan")
    for subject in (A, B, A, B, A):
        await _record(conn, "parking.check_in", subject)
    await _record(conn, "fee.update", "fee:LLTP")
    rows = await conn.fetch("SELECT seq, stream, stream_seq, prev_hash, hash FROM audit_log ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, 8))
    by_stream: dict[str, list] = {}
    for r in rows:
        by_stream.setdefault(r["stream"], []).append(r)
    assert sorted(len(v) for v in by_stream.values()) == [2, 2, 3]
    for stream_rows in by_stream.values():
        assert [r["stream_seq"] for r in stream_rows] == list(range(1, len(stream_rows) + 1))
        assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(stream_rows))
    report = await verify_audit_chain(conn)
    assert report.ok and report.rows == 7 and set(report.heads) == set(by_stream)


async def test_a_field_append_does_not_wait_for_the_main_chain_or_another_stream(conn, db_url):
    """Before 0025 every append took one advisory lock until commit: a check-in waited for any open
    transaction that had audited anything."""
    other = await connect(db_url)
    try:
        holder = other.transaction()
        await holder.start()
        await record_audit(other, actor="staff:admin", action="staff.create", subject="staff:x")
        await record_audit(other, actor="staff:att", action="parking.check_in", subject=A)
        async with asyncio.timeout(5):  # would wait for `holder` forever with one global lock
            await _record(conn, "parking.check_in", B)
        main_waits = asyncio.create_task(_record(conn, "staff.create", "staff:y"))
        await asyncio.sleep(0.3)
        assert not main_waits.done()  # the same stream still queues: one order per stream
        await holder.commit()
        await main_waits
    finally:
        await other.close()
    assert (await verify_audit_chain(conn)).ok


@pytest.mark.parametrize("which", ["middle", "first"])
async def test_a_row_deleted_from_a_field_stream_fails_verify(conn, which):
    seqs = [await _record(conn, "parking.check_in", A) for _ in range(3)]
    await _record(conn, "parking.check_in", B)
    gone = seqs[1] if which == "middle" else seqs[0]
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM audit_log WHERE seq = $1", gone)
    report = await verify_audit_chain(conn)
    assert not report.ok and report.first_broken == gone and "missing" in report.reason


async def test_a_row_moved_to_another_stream_fails_verify(conn):
    await _record(conn, "parking.check_in", A)
    seq = await _record(conn, "parking.check_in", A)
    other = audit_stream("parking.check_in", B)
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE audit_log SET stream = $2, stream_seq = 1 WHERE seq = $1", seq, other)
    report = await verify_audit_chain(conn)
    assert not report.ok and report.first_broken == seq


@pytest.mark.parametrize("cut", ["tail", "whole stream"])
async def test_a_truncated_field_stream_fails_verify_with_checkpoints(conn, keys, tmp_path, cut):
    first = [await _record(conn, "parking.check_in", A) for _ in range(3)]
    await _record(conn, "staff.create", "staff:lan")
    cp, written = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert written and set(cp.heads) == {MAIN_STREAM, audit_stream("parking.check_in", A)}
    gone = first[2:] if cut == "tail" else first
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM audit_log WHERE seq = ANY($1::bigint[])", gone)
    assert (await verify_audit_chain(conn)).ok  # what is left is a well-linked chain…
    report, _ = await verify_with_checkpoints(conn, keys=keys, var_dir=tmp_path)
    assert not report.ok and "truncated" in report.reason  # …but not what was signed
    assert f"stream {audit_stream('parking.check_in', A)} ends at row" in report.reason


async def test_checkpoints_record_the_heads_that_moved_and_verify_covers_them_all(conn, keys, tmp_path):
    await _record(conn, "parking.check_in", A)
    await _record(conn, "parking.check_in", B)
    first, _ = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert len(first.heads) == 2
    await _record(conn, "parking.check_out", A)
    second, written = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert written and list(second.heads) == [audit_stream("parking.check_in", A)]
    assert second.heads[audit_stream("parking.check_in", A)][0] == 2  # position 2 in its stream
    again, written = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert not written and again == second
    database = await conn.fetchval("SELECT current_database()")
    lines, _ = read_checkpoints(tmp_path / "audit-checkpoints.jsonl", database=database, keys=keys)
    assert len(lines) == 2
    report, warnings = await verify_with_checkpoints(conn, keys=keys, var_dir=tmp_path)
    assert report.ok and report.checkpoints_checked == 3 and not warnings


async def test_a_row_committed_after_a_checkpoint_with_a_lower_seq_is_walked(conn, db_url, keys, tmp_path):
    """seq comes from a sequence: a transaction can take a lower seq and commit after another stream's
    higher one was checkpointed. The next checkpoint walks each stream from its own head, so it is neither
    skipped nor taken for a gap."""
    late = await connect(db_url)
    try:
        tx = late.transaction()
        await tx.start()
        low = await record_audit(late, actor="staff:att", action="parking.check_in", subject=A)
        high = await _record(conn, "parking.check_in", B)
        assert low < high
        await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
        await tx.commit()
    finally:
        await late.close()
    await _record(conn, "parking.check_out", A)
    cp, written = await write_checkpoint(conn, keys=keys, var_dir=tmp_path)
    assert written and cp.heads[audit_stream("parking.check_in", A)][:2] == [2, high + 1]
    report, _ = await verify_with_checkpoints(conn, keys=keys, var_dir=tmp_path)
    assert report.ok


async def test_the_service_role_may_use_the_sequence(conn, service_db_url):
    app = await connect(service_db_url)
    try:
        await _record(app, "parking.check_in", A)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("SELECT setval('audit_log_seq', 1)")
    finally:
        await app.close()
    assert (await verify_audit_chain(conn)).ok


async def test_concurrent_appends_to_one_stream_take_each_position_once(conn, db_url):
    """Appends take no lock before they write: 12 connections racing for the positions of one stream (and
    a second one beside it) still make one gapless chain per stream, seq growing with the position."""
    others = [await connect(db_url) for _ in range(12)]
    try:

        async def appends(c, i: int) -> None:
            for _ in range(5):
                await _record(c, "parking.check_in", A if i % 4 else B, actor=f"staff:a{i}")

        await asyncio.gather(*(appends(c, i) for i, c in enumerate(others)))
    finally:
        for c in others:
            await c.close()
    rows = await conn.fetch("SELECT seq, stream, stream_seq FROM audit_log ORDER BY stream, stream_seq")
    assert len(rows) == 60
    for stream, group in itertools.groupby(rows, key=lambda r: r["stream"]):
        ordered = list(group)
        assert [r["stream_seq"] for r in ordered] == list(range(1, len(ordered) + 1)), stream
        assert [r["seq"] for r in ordered] == sorted(r["seq"] for r in ordered)
    report = await verify_audit_chain(conn)
    assert report.ok and report.rows == 60


@pytest.mark.parametrize("streams", [256, 16, 7, 1])
async def test_the_sql_field_stream_is_the_python_one(db_url, streams, monkeypatch):
    """A check-out reads its session's stream head in SQL before Python knows the session's id: both must
    name the same stream for every subject (a different one would append to another chain and retry)."""
    import uuid

    from core import audit
    from core.audit import field_stream_sql

    subjects = [f"session:{uuid.uuid4()}" for _ in range(300)] + ["session:ăn-đồng", "session:"]
    conn = await connect(db_url)
    try:
        in_sql = await conn.fetch(
            f"SELECT s, {field_stream_sql('s', '$2')} AS stream FROM unnest($1::text[]) AS s",
            subjects,
            streams,
        )
    finally:
        await conn.close()
    monkeypatch.setattr(audit, "FIELD_STREAMS", streams)
    assert {r["s"]: r["stream"] for r in in_sql} == {
        s: audit_stream("parking.check_out", s) for s in subjects
    }
