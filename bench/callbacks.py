"""Benchmark: signed citypay-bank-v1 callbacks, each for a distinct pending payment request and each fully
committed (inbox, request, ledger) before its answer, against an empty aiohttp handler and pgbench's TPC-B
measured in the same run on the same machine and PostgreSQL.

    .venv/bin/python bench/callbacks.py --seconds 10 --clients 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

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

SCOPES = ["payment-requests:read"]  # the harness makes a token; callbacks are authenticated by signature
FEE_CODE, AMOUNT = "LLTP", 200_000
COLLECTION_BIN, COLLECTION_ACCOUNT = "970436", "0011001234567"
CREATED_BY = "bench-callbacks"
WARMUP_SHARE = 0.2  # of the pre-created requests, kept for the warm-up phase
AIM = 0.5  # issue 13: callbacks/s ≥ 0.5 × pgbench tps
AIM_P99_MS = 100.0  # issue 13: p99 under 100 ms at 32 clients
AIM_PG_CPU = 2.0  # issue 13: PostgreSQL CPU per callback ≤ 2 × a TPC-B transaction's


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/callbacks.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase (default 10)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (banks' senders), default 32")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each phase")
    p.add_argument(
        "--requests",
        type=int,
        default=50_000,
        help="pending payment requests created beforehand, one per callback, shared out between the "
        "--workers runs (default 50000)",
    )
    p.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument("--pgbench-clients", type=int, default=8)
    p.add_argument("--pgbench-threads", type=int, default=2)
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--no-pgbench", action="store_true", help="skip pgbench (no ratio to it then)")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the citypay server, e.g. CITYPAY_DB_POOL_MAX=20 (repeatable)",
    )
    p.add_argument("--keep-db", action="store_true", help="keep the citypay_bench database afterwards")
    add_throughput_args(p)
    return p.parse_args(argv)


# In the load generator -----------------------------------------------------------------------------------


def callback_body(reference: str, bank_txn_id: str) -> bytes:
    """A credit of one request's exact amount, as docs/bank-protocol.md §7 and the tests' v1_body write it."""
    return json.dumps(
        {
            "bank_txn_id": bank_txn_id,
            "credited_bin": COLLECTION_BIN,
            "credited_account": COLLECTION_ACCOUNT,
            "amount": AMOUNT,
            "currency": "VND",
            "booked_at": datetime.now(UTC).isoformat(),
            "narrative": f"{reference} NGUYEN VAN AN chuyen tien",
            "payer_name": "NGUYEN VAN AN",
            "payer_account_masked": "****6789",
        }
    ).encode()


def signed_callbacks(params: dict[str, Any], worker: int) -> Sampler:
    """One sample = one callback for the worker's next reference, signed now with the bank's key; ok when the
    answer is 200 `accepted` for that bank transaction id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from payments.banks import sign_v1_headers

    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(params["private_key"]))
    key_id, path, run_id = params["key_id"], params["path"], params["run_id"]
    references: list[str] = params["references"][worker]

    async def sample(session: Any, seq: int) -> tuple[bool, str, str]:
        if seq >= len(references):  # the run outlived the pre-created requests: say so, do not spin
            await asyncio.sleep(0.05)
            return False, "no reference left", f"worker {worker} used all {len(references)}; raise --requests"
        reference = references[seq]
        txn = f"BENCH{run_id}-{worker}-{seq}"
        body = callback_body(reference, txn)
        headers = {
            **sign_v1_headers(key, key_id, body, now=datetime.now(UTC)),
            "Content-Type": "application/json",
        }
        async with session.post(path, data=body, headers=headers) as resp:
            payload, status = await resp.read(), resp.status
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status == 200 and answer.get("status") == "accepted" and answer.get("bank_txn_id") == txn:
            return True, "200 accepted", ""
        label = f"{status} {answer.get('status', '?')}" + (
            f" {answer['reason']}" if answer.get("reason") else ""
        )
        return False, label, f"POST {path} {reference}: {payload[:300].decode(errors='replace')}"

    return sample


# In the benchmark process --------------------------------------------------------------------------------


async def create_pending_requests(db: CitypayDatabase, count: int) -> list[str]:
    """`count` pending LLTP requests (200,000 đồng to 970436/0011001234567): the first through the service,
    the rest copied from it in one INSERT … SELECT with their own valid references and VietQR payloads."""
    from datetime import timedelta

    from core.db import connect
    from core.keys import parse_env_keys
    from payments.reference import new_reference
    from payments.requests import NewRequest, issue_payment_request
    from payments.vietqr import VietQR, build_payload

    conn = await connect(db.dsn)
    try:
        first = await issue_payment_request(
            conn,
            parse_env_keys(db.keys_env),
            NewRequest(kind="service_fee", fee_code=FEE_CODE),
            created_by=CREATED_BY,
            amount_cap=10**9,
            default_expiry=timedelta(days=1),
        )
        if first["amount_due"] != AMOUNT or (first["collection_bin"], first["collection_account"]) != (
            COLLECTION_BIN,
            COLLECTION_ACCOUNT,
        ):
            raise RuntimeError(f"unexpected demo terms for {FEE_CODE}: {dict(first)}")
        references: set[str] = {first["reference"]}
        while len(references) < count:
            references.add(new_reference())
        others = sorted(references - {first["reference"]})
        payloads = [
            build_payload(VietQR(bin=COLLECTION_BIN, account=COLLECTION_ACCOUNT, amount=AMOUNT, purpose=r))
            for r in others
        ]
        await conn.execute(
            """INSERT INTO payment_requests (reference, kind, fee_code, purpose_vi, purpose_en, fee_amount,
                   subsidy_amount, amount_due, revenue_account, collection_bin, collection_account,
                   collection_holder, qr_payload, created_by, created_at, expires_at)
               SELECT u.reference, t.kind, t.fee_code, t.purpose_vi, t.purpose_en, t.fee_amount,
                      t.subsidy_amount, t.amount_due, t.revenue_account, t.collection_bin,
                      t.collection_account, t.collection_holder, u.qr_payload, t.created_by, t.created_at,
                      t.expires_at
                 FROM unnest($1::text[], $2::text[]) AS u(reference, qr_payload), payment_requests t
                WHERE t.id = $3""",
            others,
            payloads,
            first["id"],
        )
        pending = await conn.fetchval(
            "SELECT count(*) FROM payment_requests WHERE created_by = $1 AND status = 'pending'", CREATED_BY
        )
        # Now rather than by autovacuum in the middle of a measured phase.
        await conn.execute("VACUUM (ANALYZE) payment_requests")
    finally:
        await conn.close()
    if pending != count:
        raise RuntimeError(f"{pending} pending bench requests, expected {count}")
    refs = [first["reference"], *others]
    secrets.SystemRandom().shuffle(refs)  # spread over the reference index, like real payments
    return refs


async def bank_key_registered(db: CitypayDatabase, key_id: str) -> bool:
    from core.db import connect
    from core.demo_bank_key import DEMO_BANK_CODE

    conn = await connect(db.dsn)
    try:
        return bool(
            await conn.fetchval(
                "SELECT 1 FROM bank_keys WHERE bank_code = $1 AND key_id = $2 AND retired_at IS NULL",
                DEMO_BANK_CODE,
                key_id,
            )
        )
    finally:
        await conn.close()


async def collection_balance(db: CitypayDatabase) -> int:
    """The collection bank account's ledger balance (the demo data may have opened it with one)."""
    from core.db import connect
    from ledger.accounts import bank_account

    conn = await connect(db.dsn)
    try:
        return await conn.fetchval(
            "SELECT coalesce(sum(p.amount), 0)::bigint FROM postings p JOIN ledger_accounts a "
            "ON a.id = p.account_id WHERE a.path = $1",
            bank_account(COLLECTION_BIN, COLLECTION_ACCOUNT),
        )
    finally:
        await conn.close()


async def verify_database(db: CitypayDatabase, accepted: int, opening_balance: int = 0) -> dict[str, Any]:
    """What the accepted answers promised, checked in SQL once the server has stopped."""
    from core.db import connect
    from core.demo_bank_key import DEMO_BANK_CODE
    from ledger.accounts import bank_account

    conn = await connect(db.dsn)
    try:
        received = await conn.fetchval(
            "SELECT count(*) FROM payments_received WHERE bank_code = $1", DEMO_BANK_CODE
        )
        outcomes = dict(
            await conn.fetch(
                "SELECT outcome, count(*) FROM payments_received WHERE bank_code = $1 GROUP BY outcome",
                DEMO_BANK_CODE,
            )
        )
        inbox = {
            f"{r['status']}/{r['outcome']}": r["count"]
            for r in await conn.fetch(
                "SELECT status, outcome, count(*) FROM callback_inbox WHERE bank_code = $1 GROUP BY 1, 2",
                DEMO_BANK_CODE,
            )
        }
        paid = await conn.fetchval(
            "SELECT count(*) FROM payment_requests WHERE created_by = $1 AND status = 'paid' "
            "AND amount_received = amount_due",
            CREATED_BY,
        )
        receipts = await conn.fetchval(
            "SELECT count(*) FROM receipts r JOIN payment_requests p ON p.id = r.payment_request_id "
            "WHERE p.created_by = $1",
            CREATED_BY,
        )
        settled_entries = await conn.fetchval(
            "SELECT count(*) FROM journal_entries WHERE kind = 'credit.settled'"
        )
        trial_total = await conn.fetchval("SELECT coalesce(sum(amount), 0)::bigint FROM postings")
        unbalanced = await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id "
            "HAVING sum(amount) <> 0 OR count(*) < 2) e"
        )
        bank = await conn.fetchval(
            "SELECT coalesce(sum(p.amount), 0)::bigint FROM postings p JOIN ledger_accounts a "
            "ON a.id = p.account_id WHERE a.path = $1",
            bank_account(COLLECTION_BIN, COLLECTION_ACCOUNT),
        )
    finally:
        await conn.close()
    settled = outcomes.get("settled", 0)
    checks = {
        "payments_received rows = accepted answers": received == accepted,
        "every one settled": settled == received,
        "inbox rows processed/settled = accepted": inbox.get("processed/settled", 0) == accepted
        and sum(inbox.values()) == accepted,
        "requests paid = accepted": paid == accepted,
        "receipts issued = accepted": receipts == accepted,
        "credit.settled journal entries = accepted": settled_entries == accepted,
        f"bank account debited {AMOUNT:,} × accepted": bank - opening_balance == AMOUNT * accepted,
        "trial balance balances (all postings sum to 0, every entry balanced)": trial_total == 0
        and unbalanced == 0,
    }
    return {
        "accepted_answers": accepted,
        "payments_received": received,
        "outcomes": outcomes,
        "inbox": inbox,
        "requests_paid": paid,
        "receipts": receipts,
        "credit_settled_entries": settled_entries,
        "bank_account_balance": bank,
        "bank_account_opening_balance": opening_balance,
        "postings_total": trial_total,
        "unbalanced_entries": unbalanced,
        "checks": checks,
        "ok": all(checks.values()),
    }


def group_commit_counters(base_url: str) -> dict[str, float]:
    """The server's group-commit counters from /metrics (allowed from 127.0.0.1): groups, credits in them,
    seconds spent settling them, credits settled alone after their group. With `--workers N` the answer is
    one worker's, whichever the kernel hands the connection to."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    with urlopen(f"{base_url.rstrip('/')}/metrics", timeout=10) as resp:  # noqa: S310 (our own server on localhost)
        text = resp.read().decode()
    wanted = {
        "citypay_callback_group_size_count": "groups",
        "citypay_callback_group_size_sum": "credits",
        "citypay_callback_group_duration_seconds_sum": "seconds",
        "citypay_callback_group_alone_total": "alone",
    }
    out = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                out[wanted[sample.name]] += sample.value
    return out


def _group_line(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    d = {k: after[k] - before[k] for k in after}
    groups = d["groups"] or float("nan")
    figures = {
        "groups_per_s": round(d["groups"] / seconds, 1),
        "mean_size": round(d["credits"] / groups, 1),
        "mean_ms": round(d["seconds"] * 1000 / groups, 2),
        "alone": d["alone"],
    }
    print(
        f"  group commits: {figures['groups_per_s']}/s, {figures['mean_size']} credits each, "
        f"{figures['mean_ms']} ms each from taking a connection to COMMIT; {d['alone']:.0f} settled alone",
        flush=True,
    )
    return figures


def _phase(
    name: str,
    procs: Processes,
    spec: LoadSpec,
    meter: CpuMeter,
    explainer: Explainer | None = None,
    *,
    citypay: bool = True,  # False for the empty handler: no /metrics to read
) -> tuple[LoadResult, dict]:
    print(f"… {name}: {spec.describe()}", flush=True)
    before = group_commit_counters(spec.base_url) if citypay else None
    result = run_load(procs, spec, meter, watchers=[explainer] if explainer else [])
    s = result.summary()
    if before is not None:
        s["group_commits"] = _group_line(before, group_commit_counters(spec.base_url), result.window_s)
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
    labels = {"baseline": f"empty aiohttp handler, {args.clients} clients"}
    for w in info["workers"]:
        labels[f"callbacks_w{w}"] = f"signed callback → settled, {args.clients} clients, {workers_label(w)}"
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
    tpcb_pg_ms = None
    if pgbench and pgbench.tps:
        tpcb_pg_ms = _cpu_ms(pgbench.cpu_cores.get("postgres"), pgbench.tps)
        cost_rows.append(["pgbench TPC-B transaction", None, tpcb_pg_ms, None])
    print_table("CPU per operation, ms (busy cores ÷ operations/s)", ["operation", *COST_KEYS], cost_rows)

    print("\nDatabase check after the runs (warm-up and measured callbacks of every run together)")
    for name, ok in check["checks"].items():
        print(f"  {'ok    ' if ok else 'FAILED'} {name}")
    print(
        f"  accepted answers {check['accepted_answers']:,}; payments_received {check['payments_received']:,} "
        f"{check['outcomes']}; inbox {check['inbox']}; paid {check['requests_paid']:,}; "
        f"receipts {check['receipts']:,}; postings sum {check['postings_total']}, "
        f"unbalanced entries {check['unbalanced_entries']}"
    )

    base = phases.get("baseline")
    ratios: dict[str, Any] = {}
    aims: list[Aim] = []
    for w in info["workers"]:
        cb = phases.get(f"callbacks_w{w}")
        if not cb:
            continue
        tag = workers_label(w)
        if base and base["ok_per_s"]:
            ratios[f"callbacks per empty-handler request, {tag}"] = round(
                cb["ok_per_s"] / base["ok_per_s"], 3
            )
        pg_ms = _cpu_ms(cb["cpu_cores"].get("postgres"), cb["ok_per_s"])
        if pgbench and pgbench.tps:
            ratio = round(cb["ok_per_s"] / pgbench.tps, 3)
            ratios[f"callbacks per pgbench tps, {tag}"] = ratio
            aims.append(Aim(f"callbacks/s ÷ pgbench tps, {tag}", ratio, ">=", AIM))
        aims.append(
            Aim(f"callback p99 at {args.clients} clients, {tag}", cb["p99_ms"], "<", AIM_P99_MS, " ms")
        )
        if tpcb_pg_ms and pg_ms is not None:
            cpu_ratio = round(pg_ms / tpcb_pg_ms, 2)
            ratios[f"PostgreSQL CPU per callback ÷ per TPC-B transaction, {tag}"] = cpu_ratio
            aims.append(
                Aim(f"PostgreSQL CPU per callback ÷ TPC-B's, {tag}", cpu_ratio, "<=", AIM_PG_CPU, "×")
            )
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
        f"callbacks: Ed25519-signed citypay-bank-v1 to /api/v1/bank-callbacks/vcb-sim, one per pending "
        f"{FEE_CODE} request ({AMOUNT:,} đồng; {info['requests']:,} created beforehand); ok = 200 accepted"
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
    return {
        "ratios": ratios,
        "aims": aim_out,
        "database_check_ok": check["ok"],
        "disturbed_by_other_processes": disturbed,
    }


def _split(items: list[str], parts: int) -> list[list[str]]:
    return [items[i::parts] for i in range(parts)]


def run(args: argparse.Namespace, procs: Processes, pg: PgServer, db: CitypayDatabase) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    from core.demo_bank_key import DEMO_BANK_CODE, ensure_demo_bank_key

    server_env = dict(item.split("=", 1) for item in args.server_env)
    counts = worker_counts(args)
    info: dict[str, Any] = {
        "machine": machine_info(),
        "embedded": pg.embedded,
        "postgres": asyncio.run(pg.describe()),
        "server_env": server_env,
        "requests": args.requests,
        "workers": counts,
    }
    print(
        f"cpu_count={info['machine']['cpu_count']}; server: python main.py serve, "
        f"{', '.join(workers_label(w) for w in counts)}, log level warning; load generator: "
        f"{args.loadgen_procs} process(es), {args.clients} clients",
        flush=True,
    )
    explain_notes = (
        asyncio.run(prepare_explain_database(db.dsn, db.name, embedded=pg.embedded)) if args.explain else []
    )
    started = time.perf_counter()
    references = asyncio.run(create_pending_requests(db, args.requests))
    print(f"… {len(references):,} pending payment requests created in {time.perf_counter() - started:.1f} s")
    opening_balance = asyncio.run(collection_balance(db))
    # The simulated bank's key, as the demo data registered it; it goes to the load generator on stdin only.
    key_id, key = ensure_demo_bank_key(db.var_dir)
    if not asyncio.run(bank_key_registered(db, key_id)):
        raise RuntimeError(f"the demo bank key {key_id} is not an active key of {DEMO_BANK_CODE}")
    raw_key = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    phases: dict[str, dict] = {}
    explained: dict[str, Any] = {}

    baseline = start_baseline(procs)
    spec = baseline_spec(baseline.url, args)
    _, phases["baseline"] = _phase(
        "empty handler", procs, spec, CpuMeter(baseline.proc.pid, None), citypay=False
    )
    info["loadgen"] = spec.describe()
    procs.stop(baseline.proc)

    accepted = 0
    share = len(references) // len(counts)
    for n, workers in enumerate(counts):
        refs_of_run = references[n * share : (n + 1) * share]
        citypay = start_citypay(
            procs, db, extra_env=server_env, log_name=f"callbacks-server-w{workers}", workers=workers
        )
        meter = CpuMeter(citypay.proc.pid, pg.postmaster_pid(), (db.name,))
        run_id = secrets.token_hex(4)
        cut = int(len(refs_of_run) * WARMUP_SHARE)
        # The warm-up is a phase of its own, and neither phase discards anything (warmup=0): every callback
        # sent is counted, so the accepted answers can be checked against the database row for row.
        for key_name, label, refs, seconds in (
            (f"callbacks_warmup_w{workers}", "callbacks, warm-up", refs_of_run[:cut], args.warmup),
            (
                f"callbacks_w{workers}",
                f"callbacks, {workers_label(workers)}",
                refs_of_run[cut:],
                args.seconds,
            ),
        ):
            params = {
                "path": f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}",
                "key_id": key_id,
                "private_key": base64.b64encode(raw_key).decode(),
                "references": _split(refs, args.loadgen_procs),
                "run_id": f"{run_id}{'w' if 'warmup' in key_name else 'm'}",
            }
            spec = LoadSpec(
                citypay.url,
                "callbacks:signed_callbacks",
                params,
                seconds=seconds,
                warmup=0,
                clients=args.clients,
                client=args.loadgen_client,
                procs=args.loadgen_procs,
            )
            measured = not key_name.startswith("callbacks_warmup")
            if measured:
                asyncio.run(pg.checkpoint())
            explainer = None
            if measured and args.explain:
                explainer = Explainer(
                    db.dsn,
                    label=f"callback, {workers_label(workers)}",
                    server_pid=citypay.proc.pid,
                    out_dir=RESULTS_DIR / "explain",
                )
                explainer.notes.extend(explain_notes)
            result, phases[key_name] = _phase(label, procs, spec, meter, explainer)
            if explainer is not None:
                explained[key_name] = explainer.report(sum(result.statuses.values()) / result.window_s)
            accepted += result.statuses.get("200 accepted", 0)
            if result.statuses.get("no reference left"):
                print(f"  WARNING: the phase ran out of pending requests: raise --requests ({args.requests})")
        procs.stop(citypay.proc)

    check = asyncio.run(verify_database(db, accepted, opening_balance))

    pgbench = pgbench_unless_skipped(args, procs, pg)

    verdict = report(args, info, phases, check, pgbench)
    path = write_results(
        "callbacks",
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
