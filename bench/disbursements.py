"""Benchmark: a 100,000-item disbursement batch executed through the real code (`python main.py
disbursements-worker`: outbox lanes, SKIP LOCKED claims with the intent committed, one payout per item under
its end-to-end id over a pooled keep-alive session, outcomes recorded a chunk per transaction with a journal
entry per paid item) against the simulated bank (`python main.py bank-sim`), both on this machine; beside the
bank's own payout acceptance rate measured alone in the same run (the same number of payouts posted straight
to the simulator with the same concurrency). Then, from the bank's database: duplicates (must be 0). Last, the
same batch size for another programme against an instant stand-in bank (no database), which shows what our
side alone sustains when the bank is not the limit.

    .venv/bin/python bench/disbursements.py                  # 100,000 items
    .venv/bin/python bench/disbursements.py --items 5000     # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    ROOT,
    PgServer,
    Processes,
    bench_var_dir,
    exit_on_signals,
    free_port,
    machine_info,
    prepare_citypay_database,
    print_table,
    write_results,
)

BIN, CITY_ACCOUNT = "970436", "0011001234567"  # the demo collection account = the programmes' funding account
AMOUNT = 1_500_000
AIM_RATE, AIM_RATIO = 500.0, 0.5
SIM_DB = "citypay_bench_banksim"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/disbursements.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=100_000, help="items in the batch (default 100,000)")
    p.add_argument("--chunk", type=int, default=10, help="items a worker loop claims and sends at once")
    p.add_argument("--loops", type=int, default=1, help="claim–send–record loops per lane")
    p.add_argument("--no-instant", action="store_true", help="skip the run against an instant stand-in bank")
    p.add_argument("--keep-db", action="store_true", help="keep the databases afterwards")
    return p.parse_args(argv)


# Set-up -----------------------------------------------------------------------------------------------------


def people(n: int) -> list[tuple[str, str, str, str]]:
    """(CCCD, name as enrolled, name as the bank holds it, account number)."""
    return [
        (f"00120{i:07d}", f"Nguyễn Văn Hưởng {i:06d}", f"NGUYEN VAN HUONG {i:06d}", f"77{i:010d}")
        for i in range(n)
    ]


async def enrol(dsn: str, keys: Any, rows: list[tuple[str, str, str, str]]) -> float:
    """Beneficiaries, enrolments and verified accounts written with COPY, encrypted as the service does."""
    from core.db import connect
    from core.pii import encrypt_pii, lookup_hash, mask_account, mask_citizen_id

    t = time.perf_counter()
    conn = await connect(dsn)
    try:
        await conn.execute("UPDATE disb_enrolments SET active = false")  # the batch holds only these people
        first = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM disb_beneficiaries")
        ids = list(range(first, first + len(rows)))
        await conn.copy_records_to_table(
            "disb_beneficiaries",
            columns=[
                "id", "national_id_enc", "national_id_hash", "national_id_masked", "full_name_enc",
                "full_name_masked", "birth_date",
            ],
            records=[
                (
                    i,
                    encrypt_pii(keys, cccd, context="disb.national_id"),
                    lookup_hash(keys, cccd, context="disb.national_id"),
                    mask_citizen_id(cccd),
                    encrypt_pii(keys, name, context="disb.name"),
                    name[0] + "***",
                    datetime(1955, 1, 1).date(),
                )
                for i, (cccd, name, _, _) in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip
        await conn.execute("SELECT setval('disb_beneficiaries_id_seq', $1)", ids[-1])
        await conn.copy_records_to_table(
            "disb_enrolments",
            columns=["programme", "beneficiary_id", "monthly_amount"],
            records=[(p, i, AMOUNT) for i in ids for p in ("pension", "social_assistance")],
        )
        await conn.copy_records_to_table(
            "disb_accounts",
            columns=[
                "beneficiary_id", "bank_bin", "account_enc", "account_hash", "account_masked", "state",
                "checked_at", "verified_until",
            ],
            records=[
                (
                    i,
                    BIN,
                    encrypt_pii(keys, account, context="disb.account"),
                    lookup_hash(keys, account, context="disb.account"),
                    mask_account(account),
                    "verified",
                    datetime.now().astimezone(),
                    datetime.now().astimezone().replace(year=datetime.now().year + 1),
                )
                for i, (_, _, _, account) in zip(ids, rows, strict=True)
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE disb_beneficiaries; ANALYZE disb_enrolments; ANALYZE disb_accounts")
    finally:
        await conn.close()
    return time.perf_counter() - t


async def open_accounts_at_bank(sim_dsn: str, rows: list[tuple[str, str, str, str]], payouts: int) -> None:
    """The citizens' accounts at the simulated bank, and enough in the city's account for both runs."""
    import asyncpg

    conn = await asyncpg.connect(sim_dsn)
    try:
        await conn.copy_records_to_table(
            "accounts",
            columns=["bin", "account_number", "holder_name", "kind", "status", "initial_balance", "balance"],
            records=[(BIN, account, holder, "citizen", "open", 0, 0) for _, _, holder, account in rows],
        )
        await conn.execute(
            "UPDATE accounts SET balance = balance + $2 WHERE bin = $3 AND account_number = $1",
            CITY_ACCOUNT,
            payouts * AMOUNT,
            BIN,
        )
        await conn.execute("ANALYZE accounts")
    finally:
        await conn.close()


def start_bank(procs: Processes, sim_dsn: str, var_dir: Path, port: int) -> str:
    env = {
        **os.environ,
        "BANKSIM_DATABASE_URL": sim_dsn,
        "BANKSIM_PORT": str(port),
        "CITYPAY_VAR_DIR": str(var_dir),
        "CITYPAY_LOG_LEVEL": "warning",
    }
    procs.start("bank-sim", [PYTHON, "main.py", "bank-sim"], env=env, log_path=var_dir / "banksim.log")
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/sim/api/faults")
    return url


def wait_http(url: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our own URL)
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.2)


# The bank alone ---------------------------------------------------------------------------------------------


async def bank_alone(url: str, rows: list[tuple[str, str, str, str]], concurrency: int) -> dict[str, float]:
    """The same number of payouts posted straight to the simulator, `concurrency` in flight over keep-alive
    connections: the bank's own acceptance rate on this machine."""
    import aiohttp

    queue = iter(enumerate(rows))
    booked = failed = 0

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal booked, failed
        for n, (_, _, holder, account) in queue:
            body = {"to_bin": BIN, "to_account": account, "amount": AMOUNT, "narrative": f"BASELINE {n}",
                    "beneficiary_name": holder}  # fmt: skip
            async with session.post(
                f"{url}/sim/api/payouts", json=body, headers={"Idempotency-Key": f"BASE-{n}"}
            ) as r:
                ok = r.status == 200 and (await r.json())["status"] == "booked"
            booked += ok
            failed += not ok

    connector = aiohttp.TCPConnector(limit=concurrency)
    t = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "booked": booked, "failed": failed, "rate": booked / seconds}


# Our side alone --------------------------------------------------------------------------------------------


async def instant_bank(port: int) -> Any:
    """A stand-in bank that books every payout at once (no database): what our side alone can do."""
    from aiohttp import web

    seq = 0

    async def payout(request: web.Request) -> web.Response:
        nonlocal seq
        body = await request.json()
        seq += 1
        return web.json_response({"status": "booked", "bank_txn_id": f"FTINSTANT{seq:09d}",
                                  "booked_at": None, "amount": body["amount"]})  # fmt: skip

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"status": 404}, status=404)

    app = web.Application()
    app.router.add_post("/sim/api/payouts", payout)
    app.router.add_get("/sim/api/payouts/{key}", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


# Ours -------------------------------------------------------------------------------------------------------


async def execute(
    procs: Processes, db: Any, url: str, var_dir: Path, args: argparse.Namespace, programme: str = "pension"
) -> dict[str, Any]:
    from core.db import connect
    from disbursements.batches import approve_batch, build_batch

    conn = await connect(db.dsn)
    try:
        t = time.perf_counter()
        batch = await build_batch(
            conn, programme, datetime.now().strftime("%Y-%m"), maker="staff:bench-maker"
        )
        build_s = time.perf_counter() - t
        await approve_batch(conn, batch.id, checker="staff:bench-checker")
    finally:
        await conn.close()
    env = {
        **os.environ,
        **db.keys_env,
        "DATABASE_URL": db.dsn,
        "CITYPAY_BANKSIM_URL": url,
        "CITYPAY_VAR_DIR": str(var_dir),
        "CITYPAY_LOG_LEVEL": "warning",
    }
    t = time.perf_counter()
    procs.start(
        "disbursements-worker",
        [PYTHON, "main.py", "disbursements-worker", "--chunk", str(args.chunk), "--loops", str(args.loops)],
        env=env,
        log_path=var_dir / f"worker-{programme}.log",
    )
    conn = await connect(db.dsn)
    first_paid = None
    try:
        while True:
            row = await conn.fetchrow(
                "SELECT state, (SELECT count(*) FROM disb_items WHERE batch_id = $1 AND state = 'paid') "
                "AS paid FROM disb_batches WHERE id = $1",
                batch.id,
            )
            if first_paid is None and row["paid"]:
                first_paid = time.perf_counter() - t
            if row["state"] == "completed":
                break
            await asyncio.sleep(0.5)
        total_s = time.perf_counter() - t
        counts = dict(
            await conn.fetch(
                "SELECT state, count(*) FROM disb_items WHERE batch_id = $1 GROUP BY 1", batch.id
            )
        )
        window = await conn.fetchrow(
            "SELECT min(sent_at) AS a, max(resolved_at) AS b FROM disb_items WHERE batch_id = $1", batch.id
        )
        reserve = await conn.fetchrow(
            "SELECT state, amount, posted_total, released_total FROM ledger_pending "
            "WHERE idempotency_key = $1",
            f"disb-batch:{batch.id}",
        )
        entries = await conn.fetchval(
            "SELECT count(*) FROM journal_entries WHERE kind = 'disbursement.payout' AND refs->>'batch' = $1",
            str(batch.id),
        )
        unbalanced = await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM postings")
        one = await conn.fetchval(
            "SELECT end_to_end_id FROM disb_items WHERE batch_id = $1 LIMIT 1", batch.id
        )
        prefix = one.rsplit("-", 1)[0] + "-"
    finally:
        await conn.close()
    paying_s = (window["b"] - window["a"]).total_seconds()
    paid = counts.get("paid", 0)
    return {
        "batch_id": batch.id,
        "build_s": build_s,
        "total_s": total_s,
        "start_s": first_paid or 0.0,
        "paying_s": paying_s,
        "paid": paid,
        "counts": counts,
        "rate_total": paid / total_s,
        "rate_paying": paid / paying_s if paying_s else 0.0,
        "reserve": dict(reserve),
        "entries": entries,
        "ledger_sum": unbalanced,
        "prefix": prefix,
    }


async def duplicates_at_bank(sim_dsn: str, prefix: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(sim_dsn)
    try:
        return dict(
            await conn.fetchrow(
                """SELECT
                     (SELECT count(*) FROM (SELECT end_to_end_id FROM transfers WHERE kind = 'payout'
                        AND end_to_end_id LIKE $1 GROUP BY 1 HAVING count(*) > 1) d) AS keys_booked_twice,
                     (SELECT count(*) FROM (SELECT credit_account_id FROM transfers WHERE kind = 'payout'
                        AND end_to_end_id LIKE $1 GROUP BY 1 HAVING count(*) > 1) d) AS accounts_paid_twice,
                     (SELECT count(*) FROM transfers WHERE kind = 'payout'
                        AND end_to_end_id LIKE $1) AS transfers""",
                prefix + "%",
            )
        )
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> int:
    from core.db import connect
    from core.keys import parse_env_keys
    from core.money import LOCAL_TZ
    from ledger import post_entry
    from ledger.accounts import OPENING_BALANCES, bank_account

    server = PgServer.resolve()
    concurrency = args.chunk * args.loops * 4  # 4 lanes (disbursements.batches.EXECUTION_LANES)
    with bench_var_dir() as var_dir, Processes() as procs:
        t = time.perf_counter()
        db = await prepare_citypay_database(server, var_dir, scopes=["disbursements:read"])
        keys = parse_env_keys(db.keys_env)
        rows = people(args.items)
        enrol_s = await enrol(db.dsn, keys, rows)
        conn = await connect(db.dsn)
        try:  # the treasury's budget for the month, on top of the demo's opening balance
            await post_entry(
                conn,
                idempotency_key="bench:funding",
                kind="opening_balance",
                business_date=datetime.now(LOCAL_TZ).date(),
                lines=[(bank_account(BIN, CITY_ACCOUNT), 2 * args.items * AMOUNT),
                       (OPENING_BALANCES, -2 * args.items * AMOUNT)],
            )  # fmt: skip
        finally:
            await conn.close()
        sim_dsn = await server.recreate(SIM_DB)
        url = start_bank(procs, sim_dsn, var_dir, free_port())
        await open_accounts_at_bank(sim_dsn, rows, 2 * args.items)
        print(
            f"setup: {args.items:,} beneficiaries (enrolled in {enrol_s:.1f} s); "
            f"{time.perf_counter() - t:.1f} s",
            flush=True,
        )
        await server.checkpoint()
        base = await bank_alone(url, rows, concurrency)
        print(f"bank alone: {base}", flush=True)
        await server.checkpoint()
        ours = await execute(procs, db, url, var_dir, args)
        print(f"ours: {ours}", flush=True)
        dup = await duplicates_at_bank(sim_dsn, ours["prefix"])
        alone: dict[str, Any] = {}
        if not args.no_instant:
            await server.checkpoint()
            port = free_port()
            runner = await instant_bank(port)
            try:
                alone = await execute(
                    procs, db, f"http://127.0.0.1:{port}", var_dir, args, "social_assistance"
                )
            finally:
                await runner.cleanup()
            print(f"ours against an instant bank: {alone}", flush=True)
        if not args.keep_db:
            procs.stop_all()
            await server.drop(db.name)
            await server.drop(SIM_DB)
    return report(args, concurrency, base, ours, dup, alone)


def report(args: argparse.Namespace, concurrency: int, base: dict, ours: dict, dup: dict, alone: dict) -> int:
    ratio = ours["rate_total"] / base["rate"] if base["rate"] else float("nan")
    print_table(
        f"Disbursement batch of {args.items:,} items, {concurrency} payouts in flight",
        ["measure", "value"],
        [
            ["build the batch from the roster (s)", round(ours["build_s"], 2)],
            ["time to complete, approval → completed (s)", round(ours["total_s"], 1)],
            ["  of which worker start-up to first payout (s)", round(ours["start_s"], 1)],
            ["payouts/s (paid ÷ time to complete)", round(ours["rate_total"], 1)],
            ["payouts/s while paying (first send → last outcome)", round(ours["rate_paying"], 1)],
            ["bank alone: payouts/s, same count and concurrency", round(base["rate"], 1)],
            ["ratio ours / bank alone", round(ratio, 3)],
            ["paid items", ours["paid"]],
            ["bank transfers for the batch", dup["transfers"]],
            ["duplicates at the bank (keys booked twice)", dup["keys_booked_twice"]],
            ["duplicates at the bank (accounts paid twice)", dup["accounts_paid_twice"]],
            ["journal entries (one per paid item)", ours["entries"]],
            ["our side alone (instant stand-in bank): payouts/s", round(alone.get("rate_total", 0), 1)],
            ["  while paying", round(alone.get("rate_paying", 0), 1)],
        ],
    )
    reserve = ours["reserve"]
    ok = (
        dup["keys_booked_twice"] == 0
        and dup["accounts_paid_twice"] == 0
        and dup["transfers"] == ours["paid"] == args.items
        and ours["entries"] == args.items
        and ours["ledger_sum"] == 0
        and reserve["state"] == "settled"
        and reserve["posted_total"] + reserve["released_total"] == reserve["amount"]
    )
    aims = {
        f"≥ {AIM_RATE:g} payouts/s": ours["rate_total"] >= AIM_RATE,
        f"≥ {AIM_RATIO:g} × the bank-alone rate": ratio >= AIM_RATIO,
        "0 duplicates, every item paid once, ledger balanced": ok,
    }
    print(f"reserve: {reserve}; counts: {ours['counts']}")
    print("Aims")
    for k, v in aims.items():
        print(f"  {k}: {'met' if v else 'NOT met'}")
    write_results(
        "disbursements",
        {"items": args.items, "concurrency": concurrency, "bank_alone": base, "ours": ours, "duplicates": dup,
         "ratio": ratio, "aims": aims, "ours_instant_bank": alone, "machine": machine_info()},
    )  # fmt: skip
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    with exit_on_signals():
        return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
