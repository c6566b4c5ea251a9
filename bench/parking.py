"""Benchmark: parking check-in + check-out pairs over HTTP (the check-out quotes the fee and issues the exit
payment request), against an empty aiohttp handler measured in the same run on the same machine.

    .venv/bin/python bench/parking.py --seconds 10 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

# Appended, not prepended: this file is named like the project's `parking` package, which must win.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from common import (
    RESULTS_DIR,
    Aim,
    CitypayDatabase,
    CpuMeter,
    LoadResult,
    LoadSpec,
    PgbenchResult,
    PgServer,
    Processes,
    Sampler,
    add_throughput_args,
    baseline_spec,
    bench_var_dir,
    exit_on_signals,
    machine_info,
    pgbench_unless_skipped,
    prepare_citypay_database,
    print_aims,
    print_table,
    run_load,
    start_baseline,
    start_citypay,
    worker_counts,
    workers_label,
    write_results,
)
from explain import Explainer, prepare_explain_database

SCOPES = ["payment-requests:read"]  # the harness makes a token; attendants use a staff session
FACTORY = "parking.py:checkin_checkout_pairs"  # by file: the module name `parking` is the project's package
VEHICLE_CLASS = "motorbike"
BENCH_CAPACITY = 2_000_000_000  # never full: every check-in of the run stays open (awaiting payment)
ATTENDANT = "bench-attendant"
# Motorbike plates 29-B1 123.45: province 29, series letter (no I J O Q R W) + digit 1–9, five digits.
PROVINCE, SERIES_LETTERS, NUMBERS = "29", "ABCDEFGHKLMNPSTUVXYZ", 99_999
PLATES = len(SERIES_LETTERS) * 9 * NUMBERS
PHASE_OFFSET = PLATES // 2  # the warm-up uses plates below it, the measured phase plates above it
RUN_STRIDE = 200_000  # each server run (1, N workers) its own plates: run n starts at n × this in each half
AIM_PGBENCH = 0.2  # issue 13: pairs/s ≥ 0.2 × pgbench tps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/parking.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase (default 10)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (attendants), default 32")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each phase")
    p.add_argument(
        "--lots",
        type=int,
        default=0,
        help="spread the pairs over the first N always-open demo lots (default 0: all of them)",
    )
    p.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the citypay server, e.g. CITYPAY_DB_POOL_MAX=20 (repeatable)",
    )
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-threads", type=int, default=2)
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--no-pgbench", action="store_true", help="skip pgbench (no ratio to it then)")
    p.add_argument("--keep-db", action="store_true", help="keep the citypay_bench database afterwards")
    add_throughput_args(p)
    return p.parse_args(argv)


# In the load generator -----------------------------------------------------------------------------------


def motorbike_plate(n: int) -> str:
    """The n-th plate of a fixed sequence, each one different: 29-A1 000.01, 29-A1 000.02, …"""
    if not 0 <= n < PLATES:
        raise ValueError(f"plate number {n} outside 0–{PLATES - 1}")
    number = f"{n % NUMBERS + 1:05d}"
    rest = n // NUMBERS
    series = SERIES_LETTERS[rest % len(SERIES_LETTERS)] + str(rest // len(SERIES_LETTERS) + 1)
    return f"{PROVINCE}-{series} {number[:3]}.{number[3:]}"


def checkin_checkout_pairs(params: dict[str, Any], worker: int) -> Sampler:
    """One sample = check a new motorbike in, then out, at one of the lots; ok when the check-in is 201 and
    the check-out 200 with a pending payment request."""
    lots, procs, offset = params["lots"], params["procs"], params["offset"]
    headers = {
        "Cookie": f"citypay_session={params['cookie']}",
        "X-CSRF-Token": params["csrf"],
        "Content-Type": "application/json",
    }

    async def post(session: Any, path: str, doc: dict[str, Any]) -> tuple[int, bytes]:
        async with session.post(path, data=json.dumps(doc).encode(), headers=headers) as resp:
            return resp.status, await resp.read()

    async def sample(session: Any, seq: int) -> tuple[bool, str, str]:
        n = offset + seq * procs + worker  # unique across workers and phases: a plate is checked in once
        lot, plate = lots[n % len(lots)], motorbike_plate(n)
        base = f"/api/v1/parking/lots/{lot}"
        status, payload = await post(
            session, f"{base}/check-ins", {"plate": plate, "vehicle_class": VEHICLE_CLASS}
        )
        if status != 201:
            return (
                False,
                f"check-in {status}",
                f"{base}/check-ins {plate}: {payload[:300].decode(errors='replace')}",
            )
        status, payload = await post(session, f"{base}/check-outs", {"plate": plate})
        detail = f"{base}/check-outs {plate}: {payload[:300].decode(errors='replace')}"
        if status != 200:
            return False, f"check-out {status}", detail
        payment = json.loads(payload).get("payment") or {}
        if payment.get("status") != "pending" or not payment.get("amount_due"):
            return False, "check-out 200 without a payment request", detail
        return True, "201 + 200", ""

    return sample


# In the benchmark process --------------------------------------------------------------------------------


async def prepare_parking(db: CitypayDatabase, lots_wanted: int) -> tuple[list[str], str, str]:
    """The bench lots (always open, motorbike spaces raised so none is ever full), an attendant bound to them
    and logged in: (lots, session cookie, CSRF token)."""
    from core.auth import create_staff_user, login
    from core.db import connect, create_pool

    conn = await connect(db.dsn)
    try:
        lots = [
            r["id"]
            for r in await conn.fetch(
                """SELECT l.id FROM parking_lots l JOIN lot_capacities c ON c.lot_id = l.id
                    WHERE l.active AND l.opens_at IS NULL AND c.vehicle_class = $1 ORDER BY l.id""",
                VEHICLE_CLASS,
            )
        ]
        if lots_wanted:
            lots = lots[:lots_wanted]
        if not lots:
            raise RuntimeError("the demo data has no always-open lot with motorbike spaces")
        await conn.execute(
            "UPDATE lot_capacities SET capacity = $3 WHERE lot_id = ANY($1::text[]) AND vehicle_class = $2",
            lots,
            VEHICLE_CLASS,
            BENCH_CAPACITY,
        )
        password = secrets.token_urlsafe(18)
        user_id = await create_staff_user(
            conn,
            username=ATTENDANT,
            display_name="Bench attendant",
            role="attendant",
            password=password,
            actor="bench",
        )
        await conn.executemany(
            "INSERT INTO lot_attendants (lot_id, staff_user_id) VALUES ($1, $2)",
            [(lot, user_id) for lot in lots],
        )
    finally:
        await conn.close()
    pool = await create_pool(db.dsn, min_size=1, max_size=1)
    try:
        cookie, principal = await login(
            pool,
            username=ATTENDANT,
            password=password,
            address="127.0.0.1",
            session_hours=2,
            max_per_account=5,
            max_per_address=20,
            window_minutes=15,
        )
    finally:
        await pool.close()
    assert principal.csrf_token
    return lots, cookie, principal.csrf_token


async def verify_database(db: CitypayDatabase, lots: list[str], ok_pairs: int) -> dict[str, Any]:
    """What the successful pairs promised, checked in SQL once the server has stopped."""
    from core.db import connect

    conn = await connect(db.dsn)
    try:
        sessions = dict(
            await conn.fetch(
                "SELECT status, count(*) FROM parking_sessions WHERE lot_id = ANY($1::text[]) "
                "GROUP BY status",
                lots,
            )
        )
        linked = await conn.fetchval(
            """SELECT count(*) FROM parking_sessions s JOIN payment_requests p ON p.id = s.payment_request_id
                WHERE s.lot_id = ANY($1::text[]) AND s.status = 'awaiting_payment' AND p.kind = 'parking'
                  AND p.status = 'pending' AND p.amount_due = s.fee_amount""",
            lots,
        )
        requests = await conn.fetchval("SELECT count(*) FROM payment_requests WHERE kind = 'parking'")
    finally:
        await conn.close()
    checks = {
        "sessions awaiting payment = ok pairs": sessions.get("awaiting_payment", 0) == ok_pairs,
        "each with its pending parking payment request of the quoted fee": linked == ok_pairs,
        "parking payment requests = ok pairs": requests == ok_pairs,
    }
    return {
        "ok_pairs": ok_pairs,
        "sessions": sessions,
        "sessions_with_pending_request": linked,
        "parking_payment_requests": requests,
        "checks": checks,
        "ok": all(checks.values()),
    }


def _phase(
    name: str, procs: Processes, spec: LoadSpec, meter: CpuMeter, explainer: Explainer | None = None
) -> tuple[LoadResult, dict]:
    print(f"… {name}: {spec.describe()}", flush=True)
    result = run_load(procs, spec, meter, watchers=[explainer] if explainer else [])
    s = result.summary()
    print(
        f"  {s['ok_per_s']:,.0f} ok/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, errors {s['errors']}"
        + (f" {s['statuses']}" if s["errors"] else "")
        + f"; busy cores {s['cpu_cores']}",
        flush=True,
    )
    for sample in s["error_samples"]:
        print(f"  error: {sample}")
    return result, s


COST_KEYS = ["server", "postgres", "loadgen"]


def _cpu_ms(cores: float | None, per_s: float) -> float | None:
    return round(cores * 1000 / per_s, 3) if cores is not None and per_s else None


def report(
    args: argparse.Namespace,
    info: dict[str, Any],
    phases: dict[str, dict],
    check: dict[str, Any],
    pgbench: PgbenchResult | None,
) -> dict[str, Any]:
    cores = ["server", "postgres", "loadgen", "others"]
    headers = ["phase", "ok/s", "p50 ms", "p90 ms", "p99 ms", "errors", *cores]
    rows = []
    labels = {"baseline": f"empty aiohttp handler (requests), {args.clients} clients"}
    for w in info["workers"]:
        labels[f"pairs_w{w}"] = f"check-in + check-out (pairs), {args.clients} clients, {workers_label(w)}"
    for key, label in labels.items():
        s = phases.get(key)
        if s:
            cpu = s["cpu_cores"]
            rows.append(
                [label, s["ok_per_s"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s["errors"]]
                + [cpu.get(k) for k in cores]
            )
    if pgbench:
        cpu = pgbench.cpu_cores
        rows.append(
            [f"pgbench TPC-B, {pgbench.clients} clients", pgbench.tps, None, None, None, pgbench.failed]
            + [cpu.get(k) for k in ("server", "postgres", "pgbench", "others")]
        )
    print_table("Results (last four columns: average busy cores in the measured window)", headers, rows)

    cost_rows = []
    for key, label in labels.items():
        s = phases.get(key)
        if s and s["ok_per_s"]:
            cost_rows.append([label, *(_cpu_ms(s["cpu_cores"].get(k), s["ok_per_s"]) for k in COST_KEYS)])
    if pgbench and pgbench.tps:
        cost_rows.append(
            ["pgbench TPC-B transaction", None, _cpu_ms(pgbench.cpu_cores.get("postgres"), pgbench.tps)]
        )
    print_table("CPU per operation, ms (busy cores ÷ operations/s)", ["operation", *COST_KEYS], cost_rows)

    print("\nDatabase check after the runs (warm-up and measured pairs of every run together)")
    for name, ok in check["checks"].items():
        print(f"  {'ok    ' if ok else 'FAILED'} {name}")
    print(
        f"  ok pairs {check['ok_pairs']:,}; sessions {check['sessions']}; "
        f"parking payment requests {check['parking_payment_requests']:,}"
    )

    base = phases.get("baseline")
    ratios: dict[str, Any] = {}
    aims: list[Aim] = []
    for w in info["workers"]:
        pairs, tag = phases.get(f"pairs_w{w}"), workers_label(w)
        if not pairs:
            continue
        if base and base["ok_per_s"]:
            ratios[f"pairs per empty-handler request, {tag}"] = round(pairs["ok_per_s"] / base["ok_per_s"], 3)
            ratios[f"pair requests (2 per pair) per empty-handler request, {tag}"] = round(
                2 * pairs["ok_per_s"] / base["ok_per_s"], 3
            )
        if pgbench and pgbench.tps:
            ratio = round(pairs["ok_per_s"] / pgbench.tps, 3)
            ratios[f"pairs per pgbench tps, {tag}"] = ratio
            aims.append(Aim(f"pairs/s ÷ pgbench tps, {tag}", ratio, ">=", AIM_PGBENCH))
    aims.append(Aim("nothing lost: database check (1 = passed)", 1.0 if check["ok"] else 0.0, ">=", 1))
    print("\nRatios (same run)")
    for k, v in ratios.items():
        print(f"  {k}: {v:.3f}")
    aim_out = print_aims(aims)
    print(
        f"\nmachine: {info['machine']['cpu_count']} CPUs, Python {info['machine']['python']}; "
        f"PostgreSQL {info['postgres'].get('version')} "
        f"({'embedded' if info['embedded'] else 'DATABASE_URL'}), "
        f"synchronous_commit={info['postgres'].get('synchronous_commit')}, "
        f"shared_buffers={info['postgres'].get('shared_buffers')}"
    )
    print(f"load generator: {info['loadgen']}")
    print(
        f"pairs: POST …/check-ins {{plate, vehicle_class: {VEHICLE_CLASS}}}, then POST …/check-outs "
        "{plate}, "
        f"a new plate each, as attendant {ATTENDANT!r} (staff session + CSRF) over {len(info['lots'])} "
        f"always-open lot(s) {info['lots']}; latency is the pair's; ok = 201 then 200 with a payment request"
    )
    if pgbench:
        print(f"pgbench: {pgbench.describe()}; latency avg {pgbench.latency_avg_ms} ms")
    if info["server_env"]:
        print(f"server env: {info['server_env']}")
    if args.explain:
        print(
            "note: --explain samples the server and PostgreSQL during the phases: their figures are perturbed"
        )
    print(
        "note: server, load generator and PostgreSQL share these CPUs; "
        "figures are for this machine and this run only."
    )
    busy = {k: v["cpu_cores"].get("others", 0.0) for k, v in phases.items()}
    if pgbench:
        busy["pgbench"] = pgbench.cpu_cores.get("others", 0.0)
    disturbed = {k: v for k, v in busy.items() if v > 0.2}
    if disturbed:
        print(
            f"WARNING: other processes kept CPUs busy during {disturbed} (cores); "
            "these figures are disturbed — run again on a quiet machine."
        )
    return {"ratios": ratios, "aims": aim_out, "disturbed_by_other_processes": disturbed}


def run(args: argparse.Namespace, procs: Processes, pg: PgServer, db: CitypayDatabase) -> dict[str, Any]:
    from parking.plates import parse_plate

    server_env = dict(item.split("=", 1) for item in args.server_env)
    counts = worker_counts(args)
    lots, cookie, csrf = asyncio.run(prepare_parking(db, args.lots))
    for n in (0, 1, NUMBERS, PHASE_OFFSET, PLATES - 1):  # the sequence's plates are valid, and distinct
        parse_plate(motorbike_plate(n), VEHICLE_CLASS)
    info: dict[str, Any] = {
        "machine": machine_info(),
        "embedded": pg.embedded,
        "postgres": asyncio.run(pg.describe()),
        "server_env": server_env,
        "lots": lots,
        "workers": counts,
    }
    print(
        f"cpu_count={info['machine']['cpu_count']}; server: python main.py serve, "
        f"{', '.join(workers_label(w) for w in counts)}, log level warning; load generator: "
        f"{args.loadgen_procs} process(es), {args.clients} clients; lots: {', '.join(lots)}",
        flush=True,
    )
    explain_notes = (
        asyncio.run(prepare_explain_database(db.dsn, db.name, embedded=pg.embedded)) if args.explain else []
    )
    explained: dict[str, Any] = {}
    phases: dict[str, dict] = {}

    baseline = start_baseline(procs)
    spec = baseline_spec(baseline.url, args)
    _, phases["baseline"] = _phase("empty handler", procs, spec, CpuMeter(baseline.proc.pid, None))
    info["loadgen"] = spec.describe()
    procs.stop(baseline.proc)

    ok_pairs = 0
    for n, workers in enumerate(counts):
        citypay = start_citypay(
            procs, db, extra_env=server_env, log_name=f"parking-server-w{workers}", workers=workers
        )
        meter = CpuMeter(citypay.proc.pid, pg.postmaster_pid(), (db.name,))
        # The warm-up is a phase of its own and neither phase discards anything (warmup=0), so every pair sent
        # is counted and the successful ones can be checked against the database.
        for key, label, offset, seconds in (
            (f"pairs_warmup_w{workers}", "pairs, warm-up", n * RUN_STRIDE, args.warmup),
            (
                f"pairs_w{workers}",
                f"pairs, {workers_label(workers)}",
                PHASE_OFFSET + n * RUN_STRIDE,
                args.seconds,
            ),
        ):
            params = {
                "lots": lots,
                "procs": args.loadgen_procs,
                "offset": offset,
                "cookie": cookie,
                "csrf": csrf,
            }
            spec = LoadSpec(
                citypay.url,
                FACTORY,
                params,
                seconds=seconds,
                warmup=0,
                clients=args.clients,
                client=args.loadgen_client,
                procs=args.loadgen_procs,
            )
            explainer = None
            if not key.startswith("pairs_warmup"):
                asyncio.run(pg.checkpoint())
                if args.explain:
                    explainer = Explainer(
                        db.dsn,
                        label=f"parking pair, {workers_label(workers)}",
                        server_pid=citypay.proc.pid,
                        out_dir=RESULTS_DIR / "explain",
                    )
                    explainer.notes.extend(explain_notes)
            result, phases[key] = _phase(label, procs, spec, meter, explainer)
            if explainer is not None:
                explained[key] = explainer.report(sum(result.statuses.values()) / result.window_s)
            ok_pairs += result.ok
        procs.stop(citypay.proc)

    check = asyncio.run(verify_database(db, lots, ok_pairs))

    pgbench = pgbench_unless_skipped(args, procs, pg)

    verdict = report(args, info, phases, check, pgbench)
    verdict["database_check_ok"] = check["ok"]
    path = write_results(
        "parking",
        {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "args": vars(args),
            **info,
            "phases": phases,
            "database_check": check,
            "pgbench": pgbench.__dict__ if pgbench else None,
            "explain": explained,
            **verdict,
        },
    )
    print(f"\nwritten: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return verdict


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with exit_on_signals(), Processes() as procs, bench_var_dir() as var_dir:
            pg = PgServer.resolve()
            db = asyncio.run(prepare_citypay_database(pg, var_dir, scopes=SCOPES))
            try:
                verdict = run(args, procs, pg, db)
            finally:
                procs.stop_all()
                if not args.keep_db:
                    asyncio.run(pg.drop(db.name))
    except KeyboardInterrupt:
        print("\ninterrupted; every process this benchmark started has been stopped", file=sys.stderr)
        return 130
    return 0 if verdict["database_check_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
