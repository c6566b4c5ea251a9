"""What logging and metrics cost per request: the request middleware (request id, one canonical log line,
Prometheus counter and histogram) around a handler that does nothing, driven directly (no sockets), with
logging as the server writes it (JSON to a file) and with info logging off. Prints the CPU time of this
process per request (so other work on a busy machine weighs little), best of five interleaved rounds.

    .venv/bin/python scripts/bench_request_overhead.py [requests]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from core.appkeys import METRICS, SETTINGS
from core.logging import configure_logging
from core.metrics import Metrics
from core.middleware import request_context_middleware
from core.settings import Settings


async def handler(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def per_request_us(n: int, *, middleware: bool) -> float:
    app = web.Application()
    app[METRICS] = Metrics()
    app[SETTINGS] = Settings()
    app.router.add_get("/healthz", handler)

    class Transport:  # what the log line reads the client address from
        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("127.0.0.1", 40000) if name == "peername" else default

    # One request, reused (building mocks is slow), routed by the real router: no mock is touched per call.
    request = make_mocked_request("GET", "/healthz", app=app, transport=Transport())

    async def run() -> float:
        match_info = await app.router.resolve(request)
        match_info.add_app(app)
        request._match_info = match_info
        started = time.process_time()
        for _ in range(n):
            if middleware:
                await request_context_middleware(request, handler)
            else:
                await handler(request)
        return time.process_time() - started

    return asyncio.run(run()) / n * 1e6


def _before_issue_13() -> None:
    """Logging as it was configured before issue 13: the standard library's JSON, every field masked."""
    import json

    import core.logging

    core.logging._NOT_PII = {
        "request_id",
        "bank_txn_id",
        "reference",
        "entry_id",
        "idempotency_key",
        "timestamp",
    }
    core.logging._json_line = lambda event_dict, **kw: json.dumps(event_dict, **kw)  # type: ignore[assignment]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = 5  # interleaved, best of each: the machine may be busy with other work
    sink = open(os.devnull, "w")  # noqa: SIM115 (open for the whole run)
    sys.stderr, real_stderr = sink, sys.stderr
    best: dict[str, float] = {}

    def measure(name: str, **kw: bool) -> None:
        best[name] = min(best.get(name, float("inf")), per_request_us(n, **kw))

    try:
        import core.logging

        now = (core.logging._NOT_PII, core.logging._json_line)
        for _ in range(rounds):
            measure("handler alone", middleware=False)
            configure_logging("json", "warning")
            measure("middleware, info logging off", middleware=True)
            configure_logging("json", "info")
            measure("middleware + JSON log line", middleware=True)
            _before_issue_13()
            configure_logging("json", "info")
            measure("the same, logging as before", middleware=True)
            core.logging._NOT_PII, core.logging._json_line = now
    finally:
        sys.stderr = real_stderr
    for name, us in best.items():
        print(f"{name:32} {us:7.1f} µs/request")
    base, off = best["handler alone"], best["middleware, info logging off"]
    line, before = best["middleware + JSON log line"], best["the same, logging as before"]
    print(f"request id + metrics: {off - base:.1f} µs; the log line: {line - off:.1f} µs")
    print(f"the log line as configured before issue 13: {before - off:.1f} µs")


if __name__ == "__main__":
    main()
