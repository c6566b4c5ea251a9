"""What a bank callback is checked against — the active bank profiles with their active keys, and the city's
collection accounts — kept in memory in each server process (`CallbackDirectoryCache`), so a callback costs
no database round trip for them.

The tables are small and change rarely (an admin adds or retires a key), so the cache holds all of them at
once, read in one go: an unknown bank code is answered from memory and adds nothing to it. It is trusted only
while the process listens on `CALLBACK_DIRECTORY_CHANNEL` (core/notified_cache.py): a trigger on
bank_profiles, bank_keys and collection_accounts (migration 0026) notifies every process at the COMMIT of any
change, made by citypay or by hand in SQL, and each process drops its copy before its next callback; the
process that made the change drops its own at once (`forget_callback_directories`). On top of that a copy is
used for at most `DIRECTORY_CACHE_S`. A process that does not listen reads the tables on every callback, as
before the cache (payments/callbacks.py).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import structlog
from aiohttp import web

from core.keys import AppKeys
from core.notified_cache import NotifiedCache, listening_service
from core.pii import decrypt_pii
from payments.banks import BankProfile, load_bank_public_key

log = structlog.get_logger("citypay.callbacks")

SECRET_CONTEXT = "bank_key.secret"  # noqa: S105 (an AES-GCM context label)
CALLBACK_DIRECTORY_CHANNEL = "citypay_callback_directory_changed"  # sent by the triggers of migration 0026
DIRECTORY_CACHE_S = 5.0  # how long a copy is used without asking the database (0: never cached)
# Memory bound: a directory larger than this (a runaway table, not a city's banks) is not kept; every
# callback then queries, as without the cache.
DIRECTORY_MAX_ROWS = 10_000

# Every active profile with its active keys, newest key first: `payments.callbacks.load_bank_profile`'s
# query for all banks at once (same columns, same conditions).
ALL_PROFILE_ROWS = """
SELECT p.*, k.key_id, k.kind, k.public_key_pem, k.secret_encrypted
  FROM bank_profiles p
  LEFT JOIN bank_keys k ON k.bank_code = p.code AND k.retired_at IS NULL
 WHERE p.active
 ORDER BY p.code, k.id DESC"""


@functools.lru_cache(maxsize=256)
def _public_key(pem: str):
    """Parsing a PEM key costs more than the rest of a callback's checks; the text identifies the key."""
    return load_bank_public_key(pem.encode())


def profiles_from_rows(rows: list[asyncpg.Record], keys: AppKeys) -> dict[str, BankProfile]:
    """Profiles by code from rows shaped as ALL_PROFILE_ROWS's (a row per active key, or one with no key)."""
    profiles: dict[str, BankProfile] = {}
    for row in rows:
        profile = profiles.get(row["code"])
        if profile is None:
            profile = profiles[row["code"]] = BankProfile.from_row(row)
        if row["key_id"] is None:
            continue
        if row["kind"] == "hmac":
            secret = decrypt_pii(keys, row["secret_encrypted"], context=SECRET_CONTEXT).encode()
            if secret:  # an empty secret is no key at all
                profile.secrets.append(secret)
        else:
            profile.public_keys[row["key_id"]] = _public_key(row["public_key_pem"])
    return profiles


@dataclass(frozen=True)
class CallbackDirectory:
    """The callback checks' view of the three tables at one moment. Shared by concurrent callbacks: nothing
    may change it (the profiles' key lists included)."""

    profiles: Mapping[str, BankProfile]  # active profiles by code, with their active keys
    accounts: frozenset[tuple[str, str]]  # (bin, account_number) of every collection account

    def profile(self, code: str) -> BankProfile | None:
        return self.profiles.get(code)

    def holds(self, bin_: str, account_number: str) -> bool:
        return (bin_, account_number) in self.accounts


async def read_callback_directory(conn: asyncpg.Connection, keys: AppKeys) -> CallbackDirectory:
    rows = await conn.fetch(ALL_PROFILE_ROWS)
    accounts = await conn.fetch("SELECT bin, account_number FROM collection_accounts")
    return CallbackDirectory(
        profiles_from_rows(rows, keys),
        frozenset((a["bin"], a["account_number"]) for a in accounts),
    )


class CallbackDirectoryCache(NotifiedCache):
    """This process's copy of the callback directory (one per app). `directory()` gives it, reading it once
    for all the callbacks that ask at the same moment, or None when it may not be used."""

    channel = CALLBACK_DIRECTORY_CHANNEL
    application_name = "citypay-callback-directory"
    failure_event = "callback_directory_listener_failed"

    def __init__(self, ttl_s: float = DIRECTORY_CACHE_S, max_rows: int = DIRECTORY_MAX_ROWS) -> None:
        super().__init__()
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self.reads = 0  # of the tables, by this cache (tests count them)
        self._current: tuple[float, CallbackDirectory] | None = None
        self._reading: tuple[int, asyncio.Task[CallbackDirectory]] | None = None

    def _drop(self) -> None:
        self._current = None
        self._reading = None  # a read begun before the change serves none who ask after it

    def cached(self) -> CallbackDirectory | None:
        """The copy in memory, if it may be used now."""
        if not self.listening or self._current is None:
            return None
        expires, directory = self._current
        if expires <= time.monotonic():
            self._current = None
            return None
        return directory

    async def directory(self, pool: asyncpg.Pool, keys: AppKeys) -> CallbackDirectory | None:
        """The directory from memory, or read now; None when the cache may not be used (not listening, caching
        off, or a change was heard while it was being read): the caller then queries as without a cache.
        Raises what reading raises (an unavailable database)."""
        if not self.listening or self.ttl_s <= 0:
            return None
        directory = self.cached()
        if directory is not None:
            return directory
        generation = self.generation
        if self._reading is None or self._reading[0] != generation:
            task = asyncio.create_task(self._read(pool, keys, generation), name="callback-directory-read")
            task.add_done_callback(_retrieve)  # raised to every waiter; never "never retrieved"
            self._reading = (generation, task)
        # Shielded: a caller that goes away (the bank hung up) does not cancel the read the others wait on.
        directory = await asyncio.shield(self._reading[1])
        if generation != self.generation or not self.listening:
            return None  # what was read may predate a change heard meanwhile: this caller reads for itself
        return directory

    async def _read(self, pool: asyncpg.Pool, keys: AppKeys, generation: int) -> CallbackDirectory:
        try:
            self.reads += 1
            async with pool.acquire() as conn:
                directory = await read_callback_directory(conn, keys)
        finally:
            if self._reading is not None and self._reading[0] == generation:
                self._reading = None
        size = sum(max(1, len(p.public_keys) + len(p.secrets)) for p in directory.profiles.values())
        if size + len(directory.accounts) > self.max_rows:
            log.warning("callback_directory_too_large", rows=size + len(directory.accounts))
        elif self.listening and generation == self.generation:
            self._current = (time.monotonic() + self.ttl_s, directory)
        return directory


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


forget_callback_directories = CallbackDirectoryCache.forget_in_this_process
CALLBACK_DIRECTORY = web.AppKey("callback_directory", CallbackDirectoryCache)
# cleanup_ctx: this process's callback directory cache and the connection that hears changes.
callback_directory = listening_service(
    CALLBACK_DIRECTORY,
    lambda: CallbackDirectoryCache(DIRECTORY_CACHE_S),
    task_name="callback-directory-changes",
)
