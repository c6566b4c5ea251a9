"""Staff sessions verified in the last few seconds, kept in memory in each server process
(`StaffSessionCache`), so an attendant's or a finance officer's request costs no database round trip to know
who they are.

A session is trusted from memory only while the process listens on `STAFF_SESSION_CHANNEL`
(core/notified_cache.py): the triggers of migration 0027 notify every process at the COMMIT of anything that
can end a session or change what it may do (an UPDATE, DELETE or TRUNCATE of staff_sessions or staff_users,
by citypay or by hand in SQL), and each empties its cache before its next request; the process that made
the change empties its own at once (`forget_staff_sessions`). An entry is used for at most
`STAFF_SESSION_CACHE_S` and never past the session's own expiry.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

from core.notified_cache import NotifiedCache, listening_service

if TYPE_CHECKING:
    from core.auth import Principal

STAFF_SESSION_CHANNEL = "citypay_staff_sessions_changed"  # sent by the triggers of migration 0027
STAFF_SESSION_CACHE_S = 5.0  # how long a verified session is trusted without asking the database (0: never)
STAFF_SESSION_CACHE_MAX = 10_000  # memory bound: beyond it the oldest entries are dropped


class StaffSessionCache(NotifiedCache):
    """Principals of recently verified session cookies, keyed by the cookie's SHA-256 (as the table is)."""

    channel = STAFF_SESSION_CHANNEL
    application_name = "citypay-staff-sessions"
    failure_event = "staff_session_listener_failed"

    def __init__(
        self, ttl_s: float = STAFF_SESSION_CACHE_S, max_entries: int = STAFF_SESSION_CACHE_MAX
    ) -> None:
        super().__init__()
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, datetime, Principal]] = {}

    def get(self, key: bytes, now: datetime) -> Principal | None:
        if not self.listening:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, session_expires, principal = entry
        if until <= time.monotonic() or session_expires <= now:
            del self._entries[key]
            return None
        return principal

    def put(self, key: bytes, principal: Principal, session_expires: datetime, generation: int) -> None:
        """Keep a session read at `generation` (noted before the read): not if a change was heard since."""
        if not self.listening or generation != self.generation or self.ttl_s <= 0:
            return
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (time.monotonic() + self.ttl_s, session_expires, principal)

    def _drop(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


forget_staff_sessions = StaffSessionCache.forget_in_this_process
STAFF_SESSION_CACHE = web.AppKey("staff_session_cache", StaffSessionCache)
# cleanup_ctx: this process's staff session cache and the connection that hears changes.
staff_session_changes = listening_service(
    STAFF_SESSION_CACHE, lambda: StaffSessionCache(STAFF_SESSION_CACHE_S), task_name="staff-session-changes"
)
