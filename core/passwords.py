"""Password hashing with argon2, off the event loop: a small pool of its own low-priority threads, so a burst
of logins queues there instead of stalling every other request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing of "no such user" and "wrong password"
# the same (so it is made again with the parameters whenever they change).
_dummy_hash = _hasher.hash(secrets.token_urlsafe(16))

# argon2 takes 100–400 ms of CPU per check. It runs in a small pool of its own threads (argon2-cffi releases
# the GIL), so a burst of logins queues there instead of stalling the event loop and every other request;
# two workers at the lowest CPU priority leave the event loop and PostgreSQL first call on the cores (at the
# default priority a burst still doubled callback latency on 2 cores: bench/login_burst.py). Under other load
# a login waits longer; nothing else does.
PASSWORD_HASH_WORKERS = 2
PASSWORD_HASH_NICENESS = 19
_password_pool: ThreadPoolExecutor | None = None


def _lower_thread_priority() -> None:
    # Linux keeps a niceness per thread (argon2's own lane threads inherit it); elsewhere this does nothing.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_HASH_NICENESS)


def _password_executor() -> ThreadPoolExecutor:
    global _password_pool
    if _password_pool is None:
        _password_pool = ThreadPoolExecutor(
            max_workers=PASSWORD_HASH_WORKERS, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )
    return _password_pool


async def close_password_executor() -> None:
    global _password_pool
    executor, _password_pool = _password_pool, None
    if executor is not None:
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


async def password_hashing(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the argon2 threads stop with the app."""
    yield
    await close_password_executor()


def _verify_password_sync(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_password_executor(), _hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _password_executor(), _verify_password_sync, password_hash, password
    )


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Replaces this process's argon2 parameters. Only the test suite calls it, with cheap ones: its thousands
    of logins would otherwise spend a third of the suite's time in argon2."""
    global _hasher, _dummy_hash
    _hasher = hasher
    _dummy_hash = hasher.hash(secrets.token_urlsafe(16))


def dummy_hash() -> str:
    """A hash of no one's password, at the current parameters: checked when the user does not exist."""
    return _dummy_hash


def hash_password_sync(password: str) -> str:
    """For command-line tools and demo data, which have no event loop to keep free."""
    return _hasher.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses older argon2 parameters (it is replaced at the next successful login)."""
    return _hasher.check_needs_rehash(password_hash)
