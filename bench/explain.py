"""`--explain`: where an operation's time goes, collected over a benchmark's measured window and printed
per operation — statements and round trips (pg_stat_statements), trigger and function runs
(pg_stat_user_functions), rows written per table, commits and WAL flushes, what the backends were doing and
which locks they waited for (pg_stat_activity sampled every 50 ms), and the server's Python time by module
and by function (py-spy).

Every figure is a difference of two snapshots taken at the window's edges, divided by the operations answered
in the window. PostgreSQL's cumulative statistics (tables, functions, WAL, commits) are flushed by each
backend at most once a second, so those edges are up to a second late at both ends: fine for a steady load,
not for a burst. pg_stat_statements is exact (shared memory, updated as each statement ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY_S = 0.05
PY_SPY_RATE = 100  # samples/s of the server's Python stacks


async def prepare_explain_database(dsn: str, database: str, *, embedded: bool) -> list[str]:
    """Before the server starts (its connections read per-database settings when they open): the
    pg_stat_statements extension where the library is preloaded, and function statistics for triggers.
    Returns notes on what is unavailable and why."""
    import asyncpg

    notes: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        preload = await conn.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" in preload:
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                # Statements run inside trigger functions too, each marked toplevel = false.
                await conn.execute(f"ALTER DATABASE \"{database}\" SET pg_stat_statements.track = 'all'")
            except asyncpg.PostgresError as exc:
                notes.append(f"pg_stat_statements: {exc}")
        else:
            where = (
                "the embedded pgserver wheel does not ship it"
                if embedded
                else "this server (DATABASE_URL) does not preload it"
            )
            notes.append(
                f"pg_stat_statements unavailable: {where}; `sh bench/stats-postgres.sh start` gives a server "
                "that does (bench/README.md)"
            )
        try:
            await conn.execute(f"ALTER DATABASE \"{database}\" SET track_functions = 'all'")
        except asyncpg.PostgresError as exc:
            notes.append(
                f"track_functions = all not settable ({exc}): trigger runs come from the server's default"
            )
    finally:
        await conn.close()
    return notes


# What the collectors read -----------------------------------------------------------------------------------

_STATEMENTS_SQL = """
SELECT s.queryid, s.toplevel, s.calls, s.total_exec_time, s.rows, s.query
  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
 WHERE d.datname = current_database()"""
_FUNCTIONS_SQL = (
    "SELECT schemaname || '.' || funcname, calls, total_time, self_time FROM pg_stat_user_functions"
)
_TABLES_SQL = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, coalesce(seq_scan, 0), coalesce(idx_scan, 0)
  FROM pg_stat_user_tables"""
_DATABASE_SQL = """
SELECT xact_commit, xact_rollback, deadlocks, blk_read_time + blk_write_time FROM pg_stat_database
 WHERE datname = current_database()"""
_WAL_SQL = "SELECT wal_records, wal_bytes, wal_write, wal_sync, wal_buffers_full FROM pg_stat_wal"
_ACTIVITY_SQL = """
SELECT a.pid, a.state, a.wait_event_type, a.wait_event,
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 110) AS query,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blockers,
       CASE WHEN a.wait_event_type = 'Lock' THEN
            (SELECT string_agg(DISTINCT l.locktype || coalesce(' ' || l.relation::regclass::text, '')
                               || ' ' || l.mode, ', ')
               FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) END AS waiting_for
  FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"""


_OWN_QUERIES = re.compile(r"pg_stat_(statements|activity|user_|database|wal)|pg_locks")


def _norm(query: str) -> str:
    return re.sub(r"\s+", " ", query or "").strip()


def _state_of(row: Any) -> str:
    if row["state"] == "active":
        if row["wait_event_type"]:
            return f"active, waiting {row['wait_event_type']}/{row['wait_event']}"
        return "active, on CPU (or runnable)"
    if row["state"] == "idle in transaction":
        return "idle in transaction (waiting for the server's Python)"
    return row["state"] or "?"


@dataclass
class _Sampler:
    """pg_stat_activity every 50 ms in a thread of its own (the benchmark's main thread sleeps meanwhile)."""

    dsn: str
    samples: int = 0
    states: Counter[str] = field(default_factory=Counter)
    lock_waits: Counter[tuple[str, str]] = field(default_factory=Counter)
    blockers: Counter[tuple[str, str]] = field(default_factory=Counter)
    other_waits: Counter[tuple[str, str]] = field(default_factory=Counter)
    contended: Counter[str] = field(
        default_factory=Counter
    )  # samples in which a statement's lock had waiters
    error: str | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="explain-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except Exception as exc:  # shown in the report; the benchmark goes on
            self.error = repr(exc)

    async def _loop(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                rows = await conn.fetch(_ACTIVITY_SQL)
                self._count(rows)
                next_at += SAMPLE_EVERY_S
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            await conn.close()

    def _count(self, rows: list[Any]) -> None:
        self.samples += 1
        by_pid = {r["pid"]: r for r in rows}
        self.contended.update({r["query"] for r in rows if r["wait_event_type"] == "Lock"})
        for r in rows:
            state = _state_of(r)
            self.states[state] += 1
            if r["wait_event_type"] == "Lock":
                self.lock_waits[(f"{r['wait_event']}: {r['waiting_for'] or '?'}", r["query"])] += 1
                for pid in r["blockers"] or []:
                    b = by_pid.get(pid)
                    self.blockers[
                        (_state_of(b) if b else "(another database or gone)", b["query"] if b else "")
                    ] += 1
            elif r["state"] == "active" and r["wait_event_type"]:
                self.other_waits[(f"{r['wait_event_type']}/{r['wait_event']}", r["query"])] += 1


# py-spy -----------------------------------------------------------------------------------------------------


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame_parts(frame: str) -> tuple[str, str]:
    """py-spy raw frames look like `handle (payments/callbacks.py:330)` → (function, file)."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m["func"], m["file"]


PROJECT = ("core", "ledger", "payments", "parking", "reconciliation", "disbursements", "banksim")
# Frames every request passes through: left out of the cumulative list, where they would only say 100 %.
WRAPPERS = (
    "main.py",
    "core/middleware.py",
    "core/errors.py",
    "core/api.py:_wrap",
    "core/workers.py:run_workers",
)
# Frames below every event loop (the entry point, the `serve --workers` fork): never a phase of their own.
ENTRY_POINTS = ("main.py", "core/workers.py:run_workers")


def _module_of(path: str) -> str:
    """Which library or project module a frame's file belongs to. py-spy names files relative to their
    sys.path entry: `asyncpg/connection.py`, `payments/receipts.py`, `selectors.py` (the standard library)."""
    p = path.replace("\\", "/")
    if "site-packages/" in p:
        p = p.split("site-packages/", 1)[1]
    elif p.startswith(str(ROOT) + "/"):
        p = p[len(str(ROOT)) + 1 :]
    first = p.split("/", 1)[0]
    if first in PROJECT or p == "main.py":
        return p  # a project file: keep the module
    return first.removesuffix(".py")  # a library or a standard module, as a whole


def _is_project(module: str) -> bool:
    return module.split("/", 1)[0] in PROJECT


def summarise_collapsed(text: str, top: int = 15) -> dict[str, Any]:
    """From py-spy's raw (collapsed) output: samples by leaf module (self time), and the project's functions
    by cumulative samples (a function counted once per stack it appears in)."""
    total = 0
    leaf_modules: Counter[str] = Counter()
    self_funcs: Counter[str] = Counter()
    project_cumulative: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        func, path = _frame_parts(frames[-1])
        leaf_modules[_module_of(path)] += n
        self_funcs[f"{func} ({_module_of(path)})"] += n
        seen = set()
        inner = "(no project frame: event loop, aiohttp's protocol, asyncpg's callbacks)"
        for frame in frames:
            func, path = _frame_parts(frame)
            mod = _module_of(path)
            if _is_project(mod):
                key = f"{mod}:{func}"
                if not key.startswith(ENTRY_POINTS):
                    inner = key
                if key not in seen and not key.startswith(WRAPPERS):
                    seen.add(key)
                    project_cumulative[key] += n
        if frames[-1].startswith("EpollSelector.select"):
            # py-spy counts a thread in epoll_wait as busy when it was runnable (woken, waiting for a core).
            inner = "(event loop in epoll_wait: woken, or waiting for a core)"
        innermost[inner] += n
    return {
        "samples": total,
        "self_by_module": leaf_modules.most_common(top),
        "self_by_function": self_funcs.most_common(top),
        "project_cumulative": project_cumulative.most_common(top),
        "by_innermost_project_function": innermost.most_common(top),
    }


# The collector ----------------------------------------------------------------------------------------------


class Explainer:
    """begin() and end() at the edges of a measured window (run_load calls them), then report(rate)."""

    def __init__(self, dsn: str, *, label: str, server_pid: int | None, out_dir: Path, py_spy: bool = True):
        self.dsn, self.label, self.server_pid = dsn, label, server_pid
        self.out_dir = out_dir
        self.use_py_spy = py_spy
        self._before: dict[str, Any] = {}
        self._after: dict[str, Any] = {}
        self._sampler: _Sampler | None = None
        self._spy: subprocess.Popen | None = None
        self._spy_file = out_dir / f"py-spy-{re.sub(r'[^a-z0-9]+', '-', label.lower())}.txt"
        self.notes: list[str] = []
        self.window_s = 0.0
        self._t0 = 0.0

    async def _snapshot(self) -> dict[str, Any]:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            snap: dict[str, Any] = {}
            try:
                snap["statements"] = {
                    (r["queryid"], r["toplevel"]): (r["calls"], r["total_exec_time"], r["rows"], r["query"])
                    for r in await conn.fetch(_STATEMENTS_SQL)
                }
            except asyncpg.PostgresError:
                snap["statements"] = None
            snap["functions"] = {r[0]: tuple(r[1:]) for r in await conn.fetch(_FUNCTIONS_SQL)}
            snap["tables"] = {r[0]: tuple(r[1:]) for r in await conn.fetch(_TABLES_SQL)}
            snap["database"] = tuple(await conn.fetchrow(_DATABASE_SQL))
            try:
                snap["wal"] = tuple(await conn.fetchrow(_WAL_SQL))
            except asyncpg.PostgresError:
                snap["wal"] = None
        finally:
            await conn.close()
        return snap

    def begin(self) -> None:
        self._before = asyncio.run(self._snapshot())
        self._t0 = time.perf_counter()
        self._sampler = _Sampler(self.dsn)
        self._sampler.start()
        binary = py_spy_binary() if self.use_py_spy else None
        if binary and self.server_pid:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            args = [binary, "record", "--pid", str(self.server_pid), "--rate", str(PY_SPY_RATE)]
            args += ["--format", "raw", "--output", str(self._spy_file), "--nonblocking", "--subprocesses"]
            self._spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elif self.use_py_spy:
            self.notes.append("py-spy not installed (pip install py-spy): no Python profile")

    def end(self) -> None:
        # The closing snapshot first: stopping py-spy (it writes its file) takes a while.
        self.window_s = time.perf_counter() - self._t0
        self._after = asyncio.run(self._snapshot())
        if self._sampler is not None:
            self._sampler.stop()
        if self._spy is not None:
            with contextlib.suppress(ProcessLookupError):
                self._spy.send_signal(signal.SIGINT)
            try:
                _, err = self._spy.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self._spy.kill()
                _, err = self._spy.communicate()
            if not self._spy_file.exists():
                self.notes.append(f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}")

    # Reporting ----------------------------------------------------------------------------------------------

    def report(self, per_second: float) -> dict[str, Any]:
        """Print the breakdown per operation and return it. `per_second`: the phase's operations per second;
        times the window, the operations the snapshots' differences are divided by. (Counting the answers
        of the samples begun in the window instead would count the statements of the last ones, answered
        after the closing snapshot, a second time at 32 clients and 1 s latencies.)"""
        from common import print_table

        ops = round(per_second * self.window_s)
        out: dict[str, Any] = {"label": self.label, "ops": ops, "window_s": round(self.window_s, 2)}
        per = 1 / ops if ops else float("nan")
        print(
            f"\n--explain: {self.label} — {ops:,} operations in {self.window_s:.1f} s (figures per operation)"
        )
        for note in self.notes:
            print(f"  note: {note}")
        b, a = self._before, self._after

        # Commits, WAL flushes: does each commit wait for its own fsync?
        db_b, db_a = b.get("database"), a.get("database")
        if db_b and db_a:
            commits, rollbacks = db_a[0] - db_b[0], db_a[1] - db_b[1]
            # The sampler's own reads are transactions too (one a sample): not the operation's.
            commits = max(0, commits - (self._sampler.samples if self._sampler else 0))
            out["commits_per_op"] = round(commits * per, 2)
            out["rollbacks_per_op"] = round(rollbacks * per, 2)
            line = (
                f"  transactions committed {commits * per:.2f}/op (read-only ones and the pool's included), "
                f"rolled back {rollbacks * per:.2f}/op"
            )
            if b.get("wal") and a.get("wal"):
                records, wal_bytes, _writes, syncs, full = (
                    x - y for x, y in zip(a["wal"], b["wal"], strict=True)
                )
                out["wal"] = {
                    "records_per_op": round(records * per, 1),
                    "bytes_per_op": round(float(wal_bytes) * per),
                    "syncs_per_op": round(syncs * per, 2),
                    "syncs_per_commit": round(syncs / commits, 2) if commits else None,
                    "buffers_full": full,
                }
                line += (
                    f"; WAL {records * per:.1f} records, {float(wal_bytes) * per:,.0f} bytes, "
                    f"{syncs * per:.2f} flushes (fsync) per op = {out['wal']['syncs_per_commit']} per commit"
                )
            print(line)

        # Statements and round trips.
        sb, sa = b.get("statements"), a.get("statements")
        if sa is None or sb is None:
            print("  statements: pg_stat_statements unavailable (see the note above)")
        else:
            rows = []
            top_calls = nested_calls = 0.0
            total_ms = 0.0
            for key, (calls, ms, nrows, query) in sa.items():
                if _OWN_QUERIES.search(query or ""):
                    continue  # this collector's own reads
                c0, m0, r0, _ = sb.get(key, (0, 0.0, 0, ""))
                dc, dm, dr = calls - c0, ms - m0, nrows - r0
                if dc <= 0:
                    continue
                toplevel = key[1]
                if toplevel is False:
                    nested_calls += dc
                else:
                    top_calls += dc
                    total_ms += dm
                rows.append((dm, dc, dr, toplevel, _norm(query)))
            rows.sort(reverse=True)
            out["round_trips_per_op"] = round(top_calls * per, 2)
            out["nested_statements_per_op"] = round(nested_calls * per, 2)
            out["statement_ms_per_op"] = round(total_ms * per, 3)
            print(
                f"  round trips (top-level statements, BEGIN/COMMIT included) {top_calls * per:.2f}/op; "
                f"statements inside functions/triggers {nested_calls * per:.2f}/op; "
                f"top-level execution time {total_ms * per:.2f} ms/op"
            )
            table = [
                [q[:100], dc * per, dm / dc, dr / dc if dc else 0, "top" if top is not False else "nested"]
                for dm, dc, dr, top, q in rows[:18]
            ]
            out["statements"] = [
                {
                    "query": q,
                    "calls_per_op": round(dc * per, 3),
                    "mean_ms": round(dm / dc, 3),
                    "rows": dr,
                    "toplevel": top,
                }
                for dm, dc, dr, top, q in rows[:40]
            ]
            print_table(
                "  statements by total time (pg_stat_statements)",
                ["statement", "calls/op", "mean ms", "rows/call", "level"],
                table,
            )

        # Trigger and function runs.
        fb, fa = b.get("functions", {}), a.get("functions", {})
        funcs = []
        for name, (calls, total, self_ms) in fa.items():
            if name.startswith("public.pg_stat_statements"):
                continue
            c0, t0, s0 = fb.get(name, (0, 0.0, 0.0))
            if calls - c0 > 0:
                funcs.append(
                    (name, (calls - c0) * per, (total - t0) / (calls - c0), (self_ms - s0) / (calls - c0))
                )
        funcs.sort(key=lambda f: -f[1] * f[2])
        out["functions"] = [
            {
                "function": n,
                "calls_per_op": round(c, 2),
                "mean_total_ms": round(t, 3),
                "mean_self_ms": round(s, 3),
            }
            for n, c, t, s in funcs
        ]
        if funcs:
            print_table(
                "  trigger / function runs (pg_stat_user_functions, track_functions = all)",
                ["function", "calls/op", "mean total ms", "mean self ms"],
                [list(f) for f in funcs[:15]],
            )
        else:
            print(
                "  trigger / function runs: none recorded (track_functions off, or no plpgsql functions ran)"
            )

        # Rows written and scans per table.
        tb, ta = b.get("tables", {}), a.get("tables", {})
        tables = []
        for name, vals in ta.items():
            d = [v - w for v, w in zip(vals, tb.get(name, (0,) * len(vals)), strict=True)]
            if any(d):
                tables.append((name, *(x * per for x in d)))
        tables.sort(key=lambda t: -(t[1] + t[2] + t[4] + t[5] + t[6]))
        out["tables"] = [
            dict(
                zip(
                    ["table", "ins", "upd", "hot_upd", "del", "seq_scan", "idx_scan"],
                    [t[0], *map(lambda x: round(x, 2), t[1:])],
                    strict=True,
                )
            )
            for t in tables
        ]
        if tables:
            print_table(
                "  rows and scans per table (pg_stat_user_tables)",
                ["table", "ins/op", "upd/op", "hot upd/op", "del/op", "seq scans/op", "idx scans/op"],
                [list(t) for t in tables[:15]],
            )

        # What the backends were doing, and who waited for which lock behind whom.
        s = self._sampler
        if s is not None:
            if s.error:
                print(f"  activity sampling failed: {s.error}")
            n = max(1, s.samples)
            out["activity_samples"] = s.samples
            out["backend_states"] = {k: round(v / n, 2) for k, v in s.states.most_common()}
            print_table(
                f"  backends of the bench database, average count in each state ({s.samples} samples, "
                f"every {SAMPLE_EVERY_S * 1000:.0f} ms)",
                ["state", "backends"],
                [[k, v / n] for k, v in s.states.most_common()],
            )
            if s.lock_waits:
                out["lock_waits"] = [
                    {"lock": k[0], "query": k[1], "backends": round(v / n, 2)}
                    for k, v in s.lock_waits.most_common(10)
                ]
                print_table(
                    "  lock waits: lock waited for, by the statement that waits (average backends waiting)",
                    ["lock waited for", "waiting statement", "backends"],
                    [[k[0], k[1][:90], v / n] for k, v in s.lock_waits.most_common(8)],
                )
                # A lock with waiters in a share f of the samples was held (and wanted) f × window: per
                # operation that is the hold time, when each operation takes it once in turn.
                busy = [
                    (q[:90], c / n, c / n * self.window_s * 1000 * per) for q, c in s.contended.most_common(5)
                ]
                out["contended"] = [
                    {"query": q, "share": round(f, 3), "ms_per_op": round(ms, 2)} for q, f, ms in busy
                ]
                print_table(
                    "  contended locks, held: share of samples with waiters × window ÷ operations",
                    ["statement waiting for it", "with waiters", "held ms/op"],
                    [[q, f"{f:.0%}", ms] for q, f, ms in busy],
                )
                out["lock_holders"] = [
                    {"holder_state": k[0], "query": k[1], "count": round(v / n, 2)}
                    for k, v in s.blockers.most_common(10)
                ]
                print_table(
                    "  … and what the backends holding those locks were doing (state, last statement)",
                    ["holder's state", "holder's statement", "avg"],
                    [[k[0], k[1][:90], v / n] for k, v in s.blockers.most_common(8)],
                )
            else:
                print("  lock waits: none sampled")
            if s.other_waits:
                out["other_waits"] = [
                    {"wait": k[0], "query": k[1], "backends": round(v / n, 2)}
                    for k, v in s.other_waits.most_common(10)
                ]
                print_table(
                    "  other waits of active backends (IO, LWLock, client …)",
                    ["wait", "statement", "backends"],
                    [[k[0], k[1][:90], v / n] for k, v in s.other_waits.most_common(8)],
                )

        # Python on the server.
        if self._spy_file.exists():
            prof = summarise_collapsed(self._spy_file.read_text(errors="replace"))
            out["python"] = prof
            total = max(1, prof["samples"])
            cpu_ms = prof["samples"] / PY_SPY_RATE * 1000
            print(
                f"  server Python (py-spy, {PY_SPY_RATE}/s, on-CPU only): {prof['samples']:,} samples ≈ "
                f"{cpu_ms * per:.2f} ms of Python per op; raw stacks: {self._spy_file}"
            )
            print_table(
                "  self time by module (where the CPU was when sampled)",
                ["module", "share"],
                [[m, f"{c / total:.1%}"] for m, c in prof["self_by_module"]],
            )
            print_table(
                "  by phase: the innermost project function on the stack (with the library code it called)",
                ["function", "share", "ms/op"],
                [
                    [f, f"{c / total:.1%}", c / PY_SPY_RATE * 1000 * per]
                    for f, c in prof["by_innermost_project_function"]
                ],
            )
            print_table(
                "  project functions by cumulative time (share of samples with the function on the stack)",
                ["function", "share", "ms/op"],
                [
                    [f, f"{c / total:.1%}", c / PY_SPY_RATE * 1000 * per]
                    for f, c in prof["project_cumulative"]
                ],
            )
        return out


def make_explainer(dsn: str, *, label: str, server_pid: int | None, results_dir: Path) -> Explainer:
    return Explainer(dsn, label=label, server_pid=server_pid, out_dir=results_dir / "explain")


if __name__ == "__main__":  # summarise a saved py-spy raw file: python bench/explain.py FILE
    import json

    print(json.dumps(summarise_collapsed(Path(sys.argv[1]).read_text()), indent=2))
    os._exit(0)
