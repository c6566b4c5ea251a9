"""Per-process caches that the database invalidates: the common part of `core.tokens.TokenCache` and
`payments.callback_directory.CallbackDirectoryCache`.

A `NotifiedCache` keeps a LISTEN connection of its own open on one channel (reconnecting with backoff, pinging
a quiet connection, since a half-open one delivers nothing and raises nothing). Its rules:

- it is trusted only while `listening`: a process that cannot hear invalidations does not use its cache;
- it is emptied whenever it starts or stops listening (whatever changed while nobody listened);
- every invalidation bumps `generation`; a reader notes the generation before it reads the database and
  stores what it read only if the generation is still the same, so a value read before a change that was
  heard meanwhile is never cached;
- the writer sends the notification inside its transaction (pg_notify, or a trigger that calls it), so
  PostgreSQL delivers it at COMMIT, and only then; a writer in this process also invalidates its own caches
  at once, without waiting for its own notification.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Self

import asyncpg
import structlog

from core.appkeys import DATABASE_URL
from core.tasks import cancel_and_wait

log = structlog.get_logger("citypay.notified_cache")

RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.2, 10.0
PING_EVERY_S = 15.0  # a half-open listening connection delivers nothing and raises nothing: a ping finds out


class NotifiedCache(abc.ABC):
    """Base of a cache invalidated by NOTIFY on `channel`. Subclasses drop their entries in `_drop` (all) and
    may read the payload in `invalidate` (the default drops everything)."""

    channel: ClassVar[str]
    application_name: ClassVar[str]  # of the LISTEN connection, as pg_stat_activity shows it
    failure_event: ClassVar[str] = "cache_listener_failed"
    _instances: ClassVar[weakref.WeakSet[NotifiedCache]]  # this process's caches of the class (one per app)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._instances = weakref.WeakSet()

    def __init__(self) -> None:
        self.generation = 0
        self.listening = False
        self.ready = asyncio.Event()  # set once it listened (tests wait on it)
        self.notifications = 0  # heard on the channel (tests wait on it)
        type(self)._instances.add(self)

    @classmethod
    def in_this_process(cls) -> list[Self]:
        return list(cls._instances)  # type: ignore[arg-type]

    @classmethod
    def forget_in_this_process(cls) -> None:
        """After this process committed a change the caches of this class depend on: its own forget at once
        (the other processes hear the notification the change sent)."""
        for cache in cls.in_this_process():
            cache.clear()

    @abc.abstractmethod
    def _drop(self) -> None:
        """Forget every entry (called by `clear`, with the generation already bumped)."""

    def clear(self) -> None:
        self.generation += 1
        self._drop()

    def invalidate(self, payload: str) -> None:
        """A notification was heard: by default, forget everything."""
        self.clear()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.notifications += 1
        self.invalidate(payload)

    async def listen_forever(self, dsn: str) -> None:
        """Keep a LISTEN connection open (reconnecting with backoff); the cache is used only while it is."""
        delay = RECONNECT_FIRST_S
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(dsn, server_settings={"application_name": self.application_name})
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._on_notify)
                self.clear()  # whatever changed while nobody listened
                self.listening = True
                self.ready.set()
                delay = RECONNECT_FIRST_S
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(PING_EVERY_S):
                            await lost.wait()
                    except TimeoutError:
                        async with asyncio.timeout(5):
                            await conn.fetchval("SELECT 1")
            except Exception as exc:
                log.info(self.failure_event, retry_in_s=delay, error=type(exc).__name__)
            finally:
                self.listening = False
                self.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)


def listening_service(key: Any, make: Callable[[], NotifiedCache], *, task_name: str):
    """An app's cleanup_ctx: a cache made by `make`, stored under the app key `key`, listening for the life of
    the app (`kept_listening`)."""

    async def service(app: Any) -> AsyncIterator[None]:
        cache = make()
        app[key] = cache
        async with kept_listening(cache, app[DATABASE_URL], task_name=task_name):
            yield

    service.__name__ = service.__qualname__ = task_name.replace("-", "_")
    return service


@contextlib.asynccontextmanager
async def kept_listening(cache: NotifiedCache, dsn: str, *, task_name: str) -> AsyncIterator[None]:
    """For an app's cleanup_ctx: listen for the life of the app (serving without the cache until it listens,
    waiting at most a few seconds for that at startup), then stop listening and empty the cache."""
    task = asyncio.create_task(cache.listen_forever(dsn), name=task_name)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await cache.ready.wait()
    try:
        yield
    finally:
        await cancel_and_wait([task])
        cache.listening = False
        cache.clear()
