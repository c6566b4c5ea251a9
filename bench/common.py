"""The benchmarks' shared harness: a throwaway database, the citypay server and an empty-handler baseline as
separate processes, a load generator in its own process(es), and pgbench on the same PostgreSQL.

Every child process is started through `Processes` and stopped on exit, on error and on Ctrl-C.
The harness also runs this file as a script: `common.py baseline-server --port N` and `common.py loadgen`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import io
import itertools
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
for _p in (str(ROOT), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# A request the load generator sends: method, path (joined to the base URL), headers, body.
Request = tuple[str, str, dict[str, str], bytes | None]
RequestFactory = Callable[[int], Request]
# A factory may instead return a sampler, `async def sample(session, seq) -> (ok, status, detail)`, that sends
# one sample's request(s) itself on the aiohttp session: several requests (a check-in and its check-out), or
# one whose success depends on the answer's body. `status` is the label it is counted under, `detail` is shown
# for the first few failures; latency covers the whole sample.
Sampler = Callable[[Any, int], Awaitable[tuple[bool, str, str]]]


# Processes --------------------------------------------------------------------------------------------------


class Processes:
    """The children of one benchmark run. Each gets its own session, so a Ctrl-C in the terminal reaches only
    the benchmark, which then stops them itself, newest first (clients before servers)."""

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen]] = []

    def start(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        capture: bool = False,
        cwd: Path = ROOT,
    ) -> subprocess.Popen:
        """capture=True pipes stdin, stdout and stderr; otherwise output goes to log_path."""
        out: Any = subprocess.DEVNULL
        if capture:
            out = subprocess.PIPE
        elif log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = log_path.open("wb")
        try:
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if capture else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE if capture else subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if hasattr(out, "close"):
                out.close()  # the child holds its own copy
        self._procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: the group id is its pid
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._procs = [(n, p) for n, p in self._procs if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self._procs)):
            self.stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so `finally` blocks (and pgserver's atexit) still run.
    SIGINT gets its default handler back: a shell starting us in the background may have set it to ignore."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Database ---------------------------------------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


@dataclass(frozen=True)
class PgServer:
    """The PostgreSQL server the benchmarks use: the embedded one under ./var/ or DATABASE_URL's."""

    admin_dsn: str  # its maintenance database ("postgres")
    embedded: bool

    @classmethod
    def resolve(cls) -> PgServer:
        url = os.environ.get("DATABASE_URL")
        if url:
            return cls(with_database(url, "postgres"), embedded=False)
        from core.embedded import start_embedded_postgres

        # The benchmark holds a handle until it exits; the last handle stops the server (pgserver counts).
        return cls(start_embedded_postgres(ROOT / "var", database="postgres"), embedded=True)

    def dsn(self, database: str) -> str:
        return with_database(self.admin_dsn, database)

    async def recreate(self, database: str) -> str:
        import asyncpg

        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        return self.dsn(database)

    async def drop(self, database: str) -> None:
        import asyncpg

        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def describe(self) -> dict[str, str]:
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn)
        try:
            out = {"version": await conn.fetchval("SHOW server_version")}
            for name in ("shared_buffers", "synchronous_commit", "fsync", "max_connections"):
                out[name] = await conn.fetchval(f"SHOW {name}")
        finally:
            await conn.close()
        return out

    async def checkpoint(self) -> None:
        """Flush dirty pages between phases so one phase's checkpoint does not land in the next one."""
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn)
        try:
            # Needs superuser or pg_checkpoint, which a shared server may not grant: then we go without.
            with contextlib.suppress(asyncpg.PostgresError):
                await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    def postmaster_pid(self) -> int | None:
        """The server's main process, to meter its CPU: the embedded one's, or DATABASE_URL's when it runs on
        this machine and lets us read `data_directory` (a superuser, or pg_read_all_settings)."""
        data_dir = ROOT / "var" / "pgdata"
        if not self.embedded:
            data_dir = Path(asyncio.run(self._data_directory()) or "/nonexistent")
        with contextlib.suppress(OSError, ValueError):
            return int((data_dir / "postmaster.pid").read_text().split()[0])
        return None

    async def _data_directory(self) -> str | None:
        import asyncpg

        try:
            conn = await asyncpg.connect(self.admin_dsn)
        except (OSError, asyncpg.PostgresError):
            return None
        try:
            return await conn.fetchval("SHOW data_directory")
        except asyncpg.PostgresError:
            return None
        finally:
            await conn.close()

    def libpq_env(self, database: str) -> dict[str, str]:
        """PG* variables for libpq tools; the embedded DSN is postgresql://postgres:@/db?host=/socket/dir."""
        parts = urlsplit(self.dsn(database))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        env = {"PGDATABASE": database}
        host = query.get("host") or (unquote(parts.hostname) if parts.hostname else None)
        port = query.get("port") or (str(parts.port) if parts.port else None)
        for var, value in (
            ("PGHOST", host),
            ("PGPORT", port),
            ("PGUSER", unquote(parts.username) if parts.username else None),
            ("PGPASSWORD", unquote(parts.password) if parts.password else None),
            ("PGSSLMODE", query.get("sslmode")),
        ):
            if value:
                env[var] = value
        return env


@dataclass(frozen=True)
class CitypayDatabase:
    server: PgServer
    name: str
    dsn: str
    token: str  # an API token with the requested scopes
    token_actor: str  # how the service names the token's requests (created_by)
    keys_env: dict[str, str]  # the key set the server is started with
    var_dir: Path  # this run's CITYPAY_VAR_DIR (demo bank key …), never ./var


async def prepare_citypay_database(
    server: PgServer, var_dir: Path, *, name: str = "citypay_bench", scopes: list[str]
) -> CitypayDatabase:
    """Drop and recreate `name`, migrate it, load the demo data and create a token."""
    from contextlib import redirect_stdout

    from core.audit import use_audit_key
    from core.db import connect, migrate
    from core.demo import load_demo_data
    from core.keys import AppKeys, keys_as_env
    from core.settings import Settings
    from core.tokens import create_api_token
    from main import DEMOS

    dsn = await server.recreate(name)
    keys = AppKeys.generate()
    use_audit_key(keys.audit_key)  # the demo data and the token are audited, as the server will check
    settings = Settings(database_url=dsn, var_dir=var_dir)
    conn = await connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    with redirect_stdout(io.StringIO()):  # it lists the demo logins; these are throwaway
        await load_demo_data(dsn, settings=settings, keys=keys, demos=DEMOS)
    conn = await connect(dsn)
    try:
        writes = "payment-requests:write" in scopes  # a write token is bound to fee codes: all the demo's
        fee_codes = (
            [r["code"] for r in await conn.fetch("SELECT code FROM fee_catalogue")] if writes else None
        )
        token_id, token = await create_api_token(
            conn, name="bench", scopes=scopes, fee_codes=fee_codes, channels=None, actor="bench"
        )
    finally:
        await conn.close()
    return CitypayDatabase(server, name, dsn, token, f"token:{token_id}", keys_as_env(keys), var_dir)


@contextlib.contextmanager
def bench_var_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="citypay-bench-") as tmp:
        yield Path(tmp)


# Servers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    log_path: Path


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def wait_until_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode} before it was ready; "
                f"{server.log_path}:\n{_tail(server.log_path)}"
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as resp:  # noqa: S310 (our own URL)
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f} s ({last}); {server.log_path}")


def start_citypay(
    procs: Processes,
    db: CitypayDatabase,
    *,
    extra_env: dict[str, str] | None = None,
    log_name: str,
    command: list[str] | None = None,
    workers: int | None = None,
) -> Server:
    """`python main.py serve` (or `command`) on a free port against the bench database, logging at warning
    level; `workers` is passed as `serve --workers N` (None: the flag is left out, serve's own default)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **db.keys_env,
        "DATABASE_URL": db.dsn,
        "CITYPAY_HOST": "127.0.0.1",
        "CITYPAY_PORT": str(port),
        "CITYPAY_PUBLIC_BASE_URL": url,
        "CITYPAY_VAR_DIR": str(db.var_dir),
        "CITYPAY_LOG_LEVEL": "warning",
        "CITYPAY_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    log_path = RESULTS_DIR / "logs" / f"{log_name}.log"
    args = command or [PYTHON, "main.py", "serve"]
    if workers is not None:
        if not serve_accepts_workers():
            raise RuntimeError("`python main.py serve` does not accept --workers in this checkout")
        args = [*args, "--workers", str(workers)]
    proc = procs.start("citypay", args, env=env, log_path=log_path)
    server = Server("citypay", url, proc, log_path)
    wait_until_ready(server, "/readyz")
    return server


_SERVE_HELP: list[str] = []


def serve_accepts_workers() -> bool:
    """Whether this checkout's `python main.py serve` has a --workers option (asked once, from its --help)."""
    if not _SERVE_HELP:
        out = subprocess.run(
            [PYTHON, "main.py", "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        _SERVE_HELP.append(out.stdout + out.stderr)
    return "--workers" in _SERVE_HELP[0]


def add_throughput_args(p: argparse.ArgumentParser) -> None:
    """--workers, --explain and --loadgen-client, the same in every benchmark that starts citypay (issue
    13)."""
    p.add_argument(
        "--loadgen-client",
        choices=("lean", "aiohttp"),
        default="lean",
        help="the load generator's HTTP client: lean (bench/lean_http.py, default: a fraction of aiohttp's "
        "CPU per request, which the server and PostgreSQL share the cores with) or aiohttp's ClientSession",
    )
    p.add_argument(
        "--workers",
        type=int,
        action="append",
        default=None,
        metavar="N",
        help="server processes (`serve --workers N`); repeatable; default: 1 and the number of cores, "
        "each a row of its own",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="collect and print where each operation's time goes during the measured phases: statements and "
        "round trips (pg_stat_statements, when preloaded), trigger runs, rows per table, commits and WAL "
        "flushes, lock waits sampled every 50 ms, the server's Python by module and function (py-spy)",
    )


def baseline_spec(url: str, args: argparse.Namespace) -> LoadSpec:
    """The empty-handler phase every server benchmark measures first: `GET /` in a closed loop with the
    run's clients, seconds, warm-up and load generator."""
    return LoadSpec(
        url,
        "common:fixed_request",
        {"path": "/"},
        seconds=args.seconds,
        warmup=args.warmup,
        clients=args.clients,
        client=args.loadgen_client,
        procs=args.loadgen_procs,
    )


def worker_counts(args: argparse.Namespace) -> list[int | None]:
    """The server process counts to run, in order. Without --workers support in `serve` only one run, with
    the flag left out (and a note), since a run of N workers cannot be had."""
    wanted = args.workers or sorted({1, os.cpu_count() or 1})
    if serve_accepts_workers():
        return list(dict.fromkeys(wanted))
    print(
        "note: `python main.py serve` has no --workers option in this checkout: one server process only "
        f"(asked for {wanted})",
        flush=True,
    )
    return [None]


def workers_label(workers: int | None) -> str:
    return "1 worker (serve without --workers)" if workers is None else f"{workers} worker(s)"


@dataclass(frozen=True)
class Aim:
    """One of the issue's aims, as a ratio of the same run: `value` against `limit` (≥ or <, ≤)."""

    name: str
    value: float | None
    op: str  # ">=", "<", "<="
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        v = self.value
        if v is None or v != v:
            return False
        return {">=": v >= self.limit, "<": v < self.limit, "<=": v <= self.limit}[self.op]

    def line(self) -> str:
        v = self.value
        value = "—" if v is None or v != v else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}") + self.unit
        verdict = "met" if self.met else "NOT met"
        return f"{self.name}: {value} (aim {self.op} {self.limit:g}{self.unit}) — {verdict}"


def print_aims(aims: list[Aim]) -> dict[str, Any]:
    print("Aims (issue 13; ratios of this run)")
    for aim in aims:
        print(f"  {aim.line()}")
    return {a.name: {"value": a.value, "aim": f"{a.op} {a.limit:g}{a.unit}", "met": a.met} for a in aims}


def start_baseline(procs: Processes, *, log_name: str = "baseline") -> Server:
    """An aiohttp app with one handler returning a tiny JSON: what the framework alone costs."""
    port = free_port()
    log_path = RESULTS_DIR / "logs" / f"{log_name}.log"
    proc = procs.start(
        "baseline",
        [PYTHON, str(BENCH_DIR / "common.py"), "baseline-server", "--port", str(port)],
        log_path=log_path,
    )
    server = Server("baseline", f"http://127.0.0.1:{port}", proc, log_path)
    wait_until_ready(server, "/")
    return server


def _serve_baseline(port: int) -> None:
    from aiohttp import web

    async def empty(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/", empty)
    app.router.add_post("/", empty)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# Load generator ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    """One load phase. Closed loop: `clients` send back to back. Open loop: `rate` requests/s on a fixed
    schedule, at most `max_in_flight` outstanding; latency counts from the scheduled time, so a slow server
    cannot hide its queue by slowing the client down (no coordinated omission)."""

    base_url: str
    factory: str  # "module:function" or "file.py:function" in bench/; (params, worker) → factory or sampler
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 10.0
    warmup: float = 1.0
    clients: int = 32
    rate: float | None = None
    max_in_flight: int = 256
    procs: int = 1
    timeout: float = 30.0
    client: str = "lean"  # "lean" (bench/lean_http.py) or "aiohttp" (its ClientSession, as before 2026-12-03)

    @property
    def mode(self) -> str:
        return "open" if self.rate else "closed"

    def describe(self) -> str:
        client = "lean HTTP/1.1 client" if self.client == "lean" else "aiohttp client"
        who = f"{self.procs} loadgen process(es), {client}, keep-alive"
        if self.rate:
            return f"open loop {self.rate:g}/s, ≤{self.max_in_flight} in flight, {self.seconds:g} s; {who}"
        return (
            f"closed loop {self.clients} clients, {self.seconds:g} s after {self.warmup:g} s warm-up; {who}"
        )


@dataclass
class LoadResult:
    spec: LoadSpec
    window_s: float
    latencies_ms: list[float]  # successful requests only, sorted
    statuses: dict[str, int]
    error_samples: list[str]
    late: int  # open loop: requests sent > 5 ms after their slot (client or in-flight cap lagging)
    sent: int  # all requests (samples, for a sampler), warm-up included
    cpu_cores: dict[str, float]  # average busy cores in the measured window: server, postgres, loadgen

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.window_s if self.window_s else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        return {
            "mode": self.spec.mode,
            "settings": self.spec.describe(),
            "window_s": round(self.window_s, 3),
            "ok": self.ok,
            "errors": self.errors,
            "statuses": self.statuses,
            "error_samples": self.error_samples,
            "ok_per_s": round(self.ok_per_s, 1),
            "p50_ms": round(self.pct(50), 2),
            "p90_ms": round(self.pct(90), 2),
            "p99_ms": round(self.pct(99), 2),
            "max_ms": round(self.latencies_ms[-1], 2) if self.latencies_ms else None,
            "late": self.late,
            "sent": self.sent,
            "cpu_cores": self.cpu_cores,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n·q/100)
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def run_load(
    procs: Processes,
    spec: LoadSpec,
    meter: CpuMeter | None = None,
    *,
    watchers: Sequence[Any] = (),  # begin()/end() at the window's edges: bench/explain.py's Explainer
) -> LoadResult:
    """Run the phase in `spec.procs` separate processes (not in this one, and not in the server's) and merge;
    `meter` is read over the measured window (after the warm-up), and so are `watchers` (begin/end)."""
    return run_loads(procs, [spec], meter, watchers=watchers)[0]


def run_loads(
    procs: Processes,
    specs: list[LoadSpec],
    meter: CpuMeter | None = None,
    *,
    watchers: Sequence[Any] = (),  # begin()/end() at the window's edges: bench/explain.py's Explainer
) -> list[LoadResult]:
    """Several phases side by side from one common start (e.g. cheap GETs while QR codes render); the
    measured window is the first spec's, and each spec's figures are its own."""
    start_at = time.time() + 1.5  # lets every worker import and connect before the common start
    started = []
    for spec in specs:
        workers = []
        for i in range(spec.procs):
            proc = procs.start("loadgen", [PYTHON, str(BENCH_DIR / "common.py"), "loadgen"], capture=True)
            # On stdin, not argv: the job holds a token, and `ps` shows argv to every user.
            proc.stdin.write(json.dumps({"spec": asdict(spec), "worker": i, "start_at": start_at}).encode())
            proc.stdin.close()
            proc.stdin = None  # so communicate() does not flush it again
            workers.append(proc)
        started.append((spec, workers))
    cpu: dict[str, float] = {}
    first = specs[0]
    if meter is not None or watchers:
        time.sleep(max(0.0, start_at + first.warmup - time.time()))
        if meter is not None:
            meter.begin()
        for w in watchers:
            w.begin()
        time.sleep(max(0.0, start_at + first.warmup + first.seconds - time.time()))
        if meter is not None:
            cpu = meter.end()
        for w in watchers:
            w.end()
    results = [_collect_load(procs, spec, workers) for spec, workers in started]
    # "others" is what no process of ours used: every phase's load generators count as ours, not only this
    # phase's (cheap GETs beside cold renders run two of them at once).
    loadgens = sum(r.cpu_cores["loadgen"] for r in results)
    for r in results:
        r.cpu_cores = _with_others({**cpu, "loadgen": r.cpu_cores["loadgen"]}, loadgens)
    return results


def _collect_load(procs: Processes, spec: LoadSpec, workers: list[subprocess.Popen]) -> LoadResult:
    results = []
    budget = 1.5 + spec.warmup + spec.seconds + spec.timeout + 30
    for proc in workers:
        try:
            out, err = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            procs.stop(proc)
            raise RuntimeError("a load generator did not finish in time") from None
        procs.stop(proc)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed ({proc.returncode}):\n{err.decode(errors='replace')}")
        results.append(json.loads(out))
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    samples: list[str] = []
    for r in results:
        statuses.update(r["statuses"])
        latencies.extend(r["latencies_ms"])
        samples.extend(s for s in r["error_samples"] if len(samples) < 5)
    latencies.sort()
    return LoadResult(
        spec=spec,
        window_s=max(r["window_s"] for r in results),
        latencies_ms=latencies,
        statuses=dict(sorted(statuses.items())),
        error_samples=samples[:5],
        late=sum(r["late"] for r in results),
        sent=sum(r["sent"] for r in results),
        cpu_cores={"loadgen": round(sum(r["busy_cores"] for r in results), 2)},
    )


def _with_others(cores: dict[str, float], loadgens: float) -> dict[str, float]:
    """Replace the machine-wide figure by what processes other than ours used (tests, another server …);
    `loadgens` is every load generator running in the window, this phase's and any beside it."""
    system = cores.pop("system", None)
    if system is not None:
        ours = sum(v for k, v in cores.items() if k != "loadgen" and v == v) + loadgens
        cores["others"] = round(max(0.0, system - ours), 2)
    return cores


def _resolve_factory(name: str) -> Callable[[dict[str, Any], int], RequestFactory | Sampler]:
    """`module:function`, or `file.py:function` (a file in bench/) for a benchmark named like a package of the
    project, which would shadow it: bench/parking.py is not the module `parking`."""
    module, _, func = name.partition(":")
    if module.endswith(".py"):
        path = BENCH_DIR / module
        spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, func)
    return getattr(importlib.import_module(module), func)


def fixed_request(params: dict[str, Any], worker: int) -> RequestFactory:
    """The same request every time; `unique_header` gets a value never sent before (an Idempotency-Key)."""
    method, path = params.get("method", "GET"), params.get("path", "/")
    headers = dict(params.get("headers", {}))
    body = json.dumps(params["json"]).encode() if "json" in params else None
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    unique = params.get("unique_header")
    run_id = params.get("run_id", "run")

    def make(seq: int) -> Request:
        if unique:
            return method, path, {**headers, unique: f"{run_id}-{worker}-{seq}"}, body
        return method, path, headers, body

    return make


def cycle_paths(params: dict[str, Any], worker: int) -> RequestFactory:
    """GETs over a list of paths, each worker starting at its own offset."""
    paths, headers = params["paths"], dict(params.get("headers", {}))

    def make(seq: int) -> Request:
        return "GET", paths[(seq + worker * 7919) % len(paths)], headers, None

    return make


def _client_session(spec: LoadSpec) -> Any:
    """The load generator's HTTP session: both kinds are async context managers with the same
    `request`/`post` calls and answers (`status`, `headers`, `await read()`)."""
    if spec.client == "lean":
        from lean_http import LeanSession

        return LeanSession(spec.base_url, timeout=spec.timeout)
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=spec.timeout)
    return aiohttp.ClientSession(spec.base_url, connector=connector, timeout=timeout)


async def _loadgen(spec: LoadSpec, worker: int, start_at: float) -> dict[str, Any]:
    make: Any = _resolve_factory(spec.factory)(spec.params, worker)
    sampler = inspect.iscoroutinefunction(make)
    seq = itertools.count()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    late = 0
    issued = [0]  # every request, warm-up included
    async with _client_session(spec) as session:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = time.perf_counter()
        measure_from, measure_to = t0 + spec.warmup, t0 + spec.warmup + spec.seconds
        cpu_marks: list[float] = []
        loop = asyncio.get_running_loop()
        for edge in (measure_from, measure_to):  # perf_counter and the loop's clock are both monotonic
            loop.call_later(edge - time.perf_counter(), lambda: cpu_marks.append(time.process_time()))

        async def one(scheduled: float | None) -> None:
            n = next(seq)
            request = None if sampler else make(n)
            sent = time.perf_counter()
            began = scheduled if scheduled is not None else sent
            if sampler:
                try:
                    ok, status, detail = await make(session, n)
                except Exception as exc:  # counted and shown, never fatal: errors are a result too
                    ok, status, detail = False, type(exc).__name__, repr(exc)
            else:
                method, path, headers, body = request
                try:
                    async with session.request(method, path, headers=headers, data=body) as resp:
                        payload = await resp.read()
                        status = str(resp.status)
                except Exception as exc:  # counted and shown, never fatal: errors are a result too
                    payload, status = repr(exc).encode(), type(exc).__name__
                ok = status.startswith("2")
                detail = f"{method} {path}: {payload[:300].decode(errors='replace')}"
            issued[0] += 1
            if not measure_from <= began < measure_to:
                return
            statuses[status] += 1
            if ok:
                latencies.append(round((time.perf_counter() - began) * 1000, 3))
            elif len(samples) < 5:
                samples.append(f"{status} {detail}")

        if spec.rate:
            per_worker = spec.rate / spec.procs
            limit = asyncio.Semaphore(max(1, spec.max_in_flight // spec.procs))
            tasks = set()

            async def scheduled_one(slot: float) -> None:
                try:
                    await one(slot)
                finally:
                    limit.release()

            for i in itertools.count():
                slot = t0 + (i + worker / spec.procs) / per_worker
                if slot >= measure_to:
                    break
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                await limit.acquire()
                if time.perf_counter() - slot > 0.005 and slot >= measure_from:
                    late += 1
                task = asyncio.create_task(scheduled_one(slot))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        else:
            clients = max(1, spec.clients // spec.procs + (worker < spec.clients % spec.procs))

            async def client() -> None:
                while time.perf_counter() < measure_to:
                    await one(None)

            await asyncio.gather(*(client() for _ in range(clients)))
        # Finishing early (open loop) must still let the window's end mark fire.
        await asyncio.sleep(max(0.0, measure_to - time.perf_counter()) + 0.01)
    return {
        "window_s": spec.seconds,
        "latencies_ms": latencies,
        "statuses": dict(statuses),
        "error_samples": samples,
        "late": late,
        "sent": issued[0],
        "busy_cores": (cpu_marks[1] - cpu_marks[0]) / spec.seconds if len(cpu_marks) == 2 else float("nan"),
    }


# pgbench ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_avg_ms: float | None
    transactions: int | None
    failed: int | None
    clients: int
    threads: int
    seconds: int
    scale: int
    binary: str
    cpu_cores: dict[str, float]  # postgres and the pgbench client, average busy cores during the run

    def describe(self) -> str:
        return f"TPC-B -s {self.scale} -c {self.clients} -j {self.threads} -T {self.seconds} ({self.binary})"


def pgbench_binary(server: PgServer) -> str:
    if server.embedded:
        from core.embedded import embedded_bin

        return str(embedded_bin("pgbench"))
    return "pgbench"


def pgbench_unless_skipped(args: argparse.Namespace, procs: Processes, pg: PgServer) -> PgbenchResult | None:
    """TPC-B with the benchmark's --pgbench-* options and --seconds, or None with --no-pgbench."""
    if args.no_pgbench:
        return None
    seconds = max(1, round(args.seconds))
    print(f"… pgbench: init -s {args.pgbench_scale}, then TPC-B for {seconds} s", flush=True)
    result = run_pgbench(
        procs,
        pg,
        seconds=seconds,
        clients=args.pgbench_clients,
        threads=args.pgbench_threads,
        scale=args.pgbench_scale,
        postmaster_pid=pg.postmaster_pid(),
    )
    print(f"  {result.tps:,.0f} tps; busy cores {result.cpu_cores}", flush=True)
    return result


def run_pgbench(
    procs: Processes,
    server: PgServer,
    *,
    seconds: int,
    clients: int = 8,
    threads: int = 2,
    scale: int = 10,
    database: str = "citypay_pgbench",
    postmaster_pid: int | None = None,
) -> PgbenchResult:
    """TPC-B on its own database of the same server; the database is dropped afterwards. The run skips
    pgbench's pre-run vacuum (-n): initialisation has just vacuumed, and it keeps the meter on the run."""
    binary = pgbench_binary(server)
    meter = CpuMeter(None, postmaster_pid, (database,))
    asyncio.run(server.recreate(database))
    env = {**os.environ, **server.libpq_env(database)}
    try:
        _run_tool(procs, [binary, "-i", "-q", "-s", str(scale)], env, timeout=600)
        asyncio.run(server.checkpoint())
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = _run_tool(
            procs,
            [binary, "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds)],
            env,
            timeout=seconds + 300,
            meter=meter,
            meter_window=(min(1.0, seconds / 4), seconds - min(0.5, seconds / 4)),
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - started
        client_cores = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall
    finally:
        asyncio.run(server.drop(database))
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    if not tps:
        raise RuntimeError(f"no tps in pgbench output:\n{out}")

    def number(pattern: str) -> float | None:
        m = re.search(pattern, out, re.M)
        return float(m.group(1)) if m else None

    transactions = number(r"^number of transactions actually processed: (\d+)")
    failed = number(r"^number of failed transactions: (\d+)")
    return PgbenchResult(
        tps=float(tps.group(1)),
        latency_avg_ms=number(r"^latency average = ([\d.]+) ms"),
        transactions=int(transactions) if transactions is not None else None,
        failed=int(failed) if failed is not None else None,
        clients=clients,
        threads=threads,
        seconds=seconds,
        scale=scale,
        binary=binary,
        cpu_cores=_with_others({**meter.last, "pgbench": round(client_cores, 2)}, loadgens=0.0),
    )


def _run_tool(
    procs: Processes,
    args: list[str],
    env: dict[str, str],
    *,
    timeout: float,
    meter: CpuMeter | None = None,
    meter_window: tuple[float, float] | None = None,
) -> str:
    """`meter`, if given, is read over (start, end) seconds after the tool starts: while its connections live,
    since the CPU of a backend that has exited can no longer be read."""
    proc = procs.start(Path(args[0]).name, args, env=env, capture=True)
    try:
        if meter and meter_window:
            time.sleep(meter_window[0])
            meter.begin()
            time.sleep(meter_window[1] - meter_window[0])
            meter.end()
        out, err = proc.communicate(timeout=timeout)
    finally:
        procs.stop(proc)
    text = out.decode(errors="replace") + err.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{text}")
    return text


# CPU accounting and reporting -------------------------------------------------------------------------------


# Titles of PostgreSQL's own processes; a backend's title is "postgres: user database host activity".
_PG_AUXILIARY = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication",
)


class CpuMeter:
    """Cores kept busy during a measured window by the server process, by PostgreSQL working for us (the
    postmaster, its own processes and the backends of `databases`) and by the whole machine ("system"), to
    show where the CPUs went and whether something else was running. Needs psutil (the dev environment has
    it); without it the figures are simply missing."""

    def __init__(
        self, server_pid: int | None, postmaster_pid: int | None, databases: tuple[str, ...] = ()
    ) -> None:
        self.server_pid, self.postmaster_pid, self.databases = server_pid, postmaster_pid, databases
        self._start: dict[str, dict[int, float]] = {}
        self._t0 = 0.0
        self.last: dict[str, float] = {}

    def _ours(self, title: str) -> bool:
        rest = title.removeprefix("postgres: ")
        return rest.startswith(_PG_AUXILIARY) or any(f" {db} " in f" {rest} " for db in self.databases)

    def _sample(self) -> dict[str, dict[int, float]]:
        try:
            import psutil
        except ImportError:
            return {}
        out: dict[str, dict[int, float]] = {}
        t = psutil.cpu_times()
        out["system"] = {0: sum(t) - t.idle - getattr(t, "iowait", 0.0)}
        for name, pid in (("server", self.server_pid), ("postgres", self.postmaster_pid)):
            if pid is None:
                continue
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                members = [root]
                if name == "server":  # `serve --workers N`: the workers are its children
                    members += root.children(recursive=True)
                if name == "postgres":
                    for child in root.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            if self._ours(" ".join(child.cmdline())):
                                members.append(child)
                out[name] = {}
                for p in members:
                    with contextlib.suppress(psutil.Error):
                        c = p.cpu_times()
                        out[name][p.pid] = c.user + c.system
        return out

    def begin(self) -> None:
        self._start, self._t0 = self._sample(), time.perf_counter()

    def end(self) -> dict[str, float]:
        """Average busy cores since begin(). Per process, so a backend that exited in between is left out
        rather than subtracted; the server's pool keeps its connections, so that loses little."""
        end, wall = self._sample(), time.perf_counter() - self._t0
        self.last = {}
        for name, pids in end.items():
            if name in self._start:
                used = sum(v - self._start[name].get(pid, 0.0) for pid, v in pids.items())
                self.last[name] = round(used / wall, 2)
        return self.last


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[_fmt(c) for c in row] + [""] * (len(headers) - len(row)) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]  # rows may be none
    print(f"\n{title}")
    for line in [headers, ["-" * w for w in widths], *cells]:  # first column left-aligned, numbers right
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  " + "  ".join(padded))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:  # nan
            return "—"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


# Entry points of the helper processes -----------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/common.py", description="helper processes of the benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("baseline-server")
    p.add_argument("--port", type=int, required=True)
    sub.add_parser("loadgen", help='one load generator worker: {"spec", "worker", "start_at"} on stdin')
    args = parser.parse_args(argv)
    if args.command == "baseline-server":
        _serve_baseline(args.port)
        return 0
    job = json.loads(sys.stdin.read())
    spec = LoadSpec(**job["spec"])
    out = asyncio.run(_loadgen(spec, job["worker"], job["start_at"]))
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
