"""A small per-address limit for the public look-ups of receipts and payments (/receipts/verify and
/find-payment): at most `LIMIT` look-ups a minute from one address, per app. The look-ups reveal no more than
the pages they lead to (a payment reference's 50 random bits and a signed receipt already resist guessing);
the limit keeps a script from walking receipt numbers or references quickly. In process memory: a restart
forgets it, which is fine for a brake."""

from __future__ import annotations

import time
from collections import deque
from weakref import WeakKeyDictionary

from aiohttp import web

from core.auth import client_address

LIMIT = 30
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # memory bound: beyond it the oldest addresses are forgotten


class AddressLimiter:
    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}

    def allow(self, address: str, now: float | None = None) -> bool:
        """Count one look-up from `address`; False when it is over the limit (the refused one counts too)."""
        now = time.monotonic() if now is None else now
        times = self._seen.pop(address, None) or deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        times.append(now)
        self._seen[address] = times  # re-inserted: the dict's order is least recently seen first
        while len(self._seen) > MAX_ADDRESSES:
            del self._seen[next(iter(self._seen))]
        return len(times) <= self.limit


_limiters: WeakKeyDictionary[web.Application, dict[str, AddressLimiter]] = WeakKeyDictionary()


def allow_lookup(request: web.Request, action: str) -> bool:
    """One look-up of `action` ("verify", "find") by the caller's address, on this app's own limiter."""
    per_app = _limiters.setdefault(request.app, {})
    limiter = per_app.setdefault(action, AddressLimiter())
    return limiter.allow(client_address(request))
