"""The service's notion of "now", behind one object so tests (and the browser test that moves the clock
forward) can shift it without touching the system clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        """For tests and demos only: every later now() is `delta` later."""
        self._offset += delta
