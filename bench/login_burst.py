"""Does a burst of bogus logins stall everyone else? (issue 8, point 10)

One `python main.py serve`; a probe sends, one after the other, `GET /healthz` and a signed citypay-bank-v1
callback (as bench/callbacks.py does) for `--seconds` while nothing else happens, then for `--seconds` while
`--logins` clients post wrong passwords for made-up usernames as fast as they are answered (each one an argon2
check; the per-address limit is lifted for the run). Prints p50/p95/p99/max of each probe, idle and under the
burst, and the ratio; the aim is p95 under the burst ≤ 2 × idle (+ 5 ms for a shared machine's noise).

    .venv/bin/python bench/login_burst.py --seconds 10 --logins 32
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from callbacks import bank_key_registered, create_pending_requests, signed_callbacks
from common import (
    PgServer,
    Processes,
    bench_var_dir,
    exit_on_signals,
    machine_info,
    percentile,
    prepare_citypay_database,
    print_table,
    start_citypay,
    write_results,
)

NOISE_MS = 5.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/login_burst.py", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each phase (idle, burst)")
    p.add_argument("--logins", type=int, default=32, help="concurrent clients posting wrong passwords")
    p.add_argument("--keep-db", action="store_true")
    return p.parse_args(argv)


async def _probe(url: str, callback_params: dict[str, Any], seconds: float, samples: dict[str, list[float]]):
    import aiohttp

    send_callback = signed_callbacks(callback_params, 0)
    deadline = time.perf_counter() + seconds
    seq = 0
    async with aiohttp.ClientSession(base_url=url) as session:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.get("/healthz") as resp:
                await resp.read()
                ok = resp.status == 200
            samples["healthz" if ok else "healthz errors"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ok, _, _ = await send_callback(session, seq)
            seq += 1
            samples["callback" if ok else "callback errors"].append((time.perf_counter() - start) * 1000)


async def _login_client(url: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    import re

    import aiohttp

    # unsafe=True: keep cookies from an IP-address host (the login form's CSRF cookie from 127.0.0.1)
    async with aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get("/login") as resp:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
        while not stop.is_set():
            form = {
                "username": f"bogus-{secrets.token_hex(4)}",
                "password": "not-the-password",
                "csrf_token": token,
            }
            async with session.post("/login", data=form, allow_redirects=False) as resp:
                await resp.read()
                counts[str(resp.status)] = counts.get(str(resp.status), 0) + 1


async def _phase(url: str, params: dict[str, Any], seconds: float, logins: int) -> tuple[dict, dict]:
    samples: dict[str, list[float]] = {
        "healthz": [],
        "callback": [],
        "healthz errors": [],
        "callback errors": [],
    }
    counts: dict[str, int] = {}
    stop = asyncio.Event()
    clients = [asyncio.create_task(_login_client(url, stop, counts)) for _ in range(logins)]
    if clients:
        await asyncio.sleep(0.5)  # the burst is on before the probe starts
    await _probe(url, params, seconds, samples)
    stop.set()
    await asyncio.gather(*clients)
    return samples, counts


def _stats(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    if not v:
        return {"n": 0}
    return {"n": len(v), **{f"p{q}": percentile(v, q) for q in (50, 95, 99)}, "max": v[-1]}


def run(args: argparse.Namespace, procs: Processes, pg: PgServer, db) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    from core.demo_bank_key import DEMO_BANK_CODE, ensure_demo_bank_key

    references = asyncio.run(create_pending_requests(db, 20_000))
    key_id, key = ensure_demo_bank_key(db.var_dir)
    if not asyncio.run(bank_key_registered(db, key_id)):
        raise RuntimeError(f"the demo bank key {key_id} is not an active key of {DEMO_BANK_CODE}")
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    citypay = start_citypay(
        procs,
        db,
        extra_env={"CITYPAY_LOGIN_MAX_FAILURES_PER_ADDRESS": "1000000"},
        log_name="login-burst-server",
    )
    half = len(references) // 2
    results: dict[str, Any] = {}
    for name, refs, logins in (("idle", references[:half], 0), ("burst", references[half:], args.logins)):
        params = {
            "path": f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}",
            "key_id": key_id,
            "private_key": base64.b64encode(raw).decode(),
            "references": [refs],
            "run_id": f"{secrets.token_hex(3)}{name[0]}",
        }
        print(f"… {name}: {args.seconds:.0f} s" + (f", {logins} login clients" if logins else ""), flush=True)
        samples, counts = asyncio.run(_phase(citypay.url, params, args.seconds, logins))
        results[name] = {
            "healthz": _stats(samples["healthz"]),
            "callback": _stats(samples["callback"]),
            "errors": {k: len(samples[k]) for k in ("healthz errors", "callback errors")},
            "logins": counts,
            "logins_per_s": sum(counts.values()) / args.seconds,
        }
    procs.stop(citypay.proc)
    rows, aims = [], {}
    for probe in ("healthz", "callback"):
        idle, burst = results["idle"][probe], results["burst"][probe]
        for phase, s in (("idle", idle), ("burst", burst)):
            rows.append([probe, phase, s["n"], s.get("p50"), s.get("p95"), s.get("p99"), s.get("max")])
        if idle["n"] and burst["n"]:
            aims[f"{probe}_p95_within_2x_idle"] = burst["p95"] <= 2 * idle["p95"] + NOISE_MS
            rows.append(
                [
                    probe,
                    "burst ÷ idle",
                    "",
                    round(burst["p50"] / idle["p50"], 2),
                    round(burst["p95"] / idle["p95"], 2),
                    round(burst["p99"] / idle["p99"], 2),
                    "",
                ]
            )
    print_table(
        "latency (ms), one probe request at a time", ["probe", "phase", "n", "p50", "p95", "p99", "max"], rows
    )
    b = results["burst"]
    print(f"burst: {b['logins_per_s']:.1f} logins/s answered {b['logins']}; probe errors {b['errors']}")
    print("aims (p95 under burst ≤ 2 × idle + 5 ms): " + ", ".join(f"{k}={v}" for k, v in aims.items()))
    path = write_results(
        "login_burst",
        {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "args": vars(args),
            "machine": machine_info(),
            **results,
            "aims": aims,
        },
    )
    print(f"\nwritten: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return {"aims": aims}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with exit_on_signals(), Processes() as procs, bench_var_dir() as var_dir:
            pg = PgServer.resolve()
            db = asyncio.run(
                prepare_citypay_database(
                    pg, var_dir, name="citypay_bench_login", scopes=["payment-requests:read"]
                )
            )
            try:
                run(args, procs, pg, db)
            finally:
                procs.stop_all()
                if not args.keep_db:
                    asyncio.run(pg.drop(db.name))
    except KeyboardInterrupt:
        print("\ninterrupted; every process this benchmark started has been stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
