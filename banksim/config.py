"""The simulator's settings (BANKSIM_* environment variables) and where its own database lives."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.demo_bank_key import DEMO_BANK_BIN, DEMO_BANK_CODE, DEMO_CITY_ACCOUNT, ensure_demo_bank_key

BANKSIM_DATABASE = "citypay_banksim"
CITY_ACCOUNT = DEMO_CITY_ACCOUNT
CITY_ACCOUNT_NAME = "KHO BAC NHA NUOC HA NOI"


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class BankSimConfig:
    signing_key: Ed25519PrivateKey
    signing_key_id: str
    citypay_url: str = "http://127.0.0.1:8080"
    bank_code: str = DEMO_BANK_CODE
    bin: str = DEMO_BANK_BIN
    host: str = "127.0.0.1"
    port: int = 8081
    city_account: str = CITY_ACCOUNT
    city_account_name: str = CITY_ACCOUNT_NAME
    # The city's answer-signing keys by key id. None: fetched from citypay's published key when first needed
    # (and again when an answer names a key id we do not know, which is how a rotation reaches us).
    city_public_keys: Mapping[str, Ed25519PublicKey] | None = None
    # Retries: about retry_base_s before the first retry, doubling, at most retry_max_s apart, ±20 % jitter.
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 15
    delivery_timeout_s: float = 30.0
    answer_tolerance_s: int = 300
    poll_interval_s: float = 1.0
    worker: bool = True  # tests may turn the delivery worker off (to stop before delivering)

    @property
    def callback_url(self) -> str:
        return f"{self.citypay_url.rstrip('/')}/api/v1/bank-callbacks/{self.bank_code}"

    @property
    def city_key_url(self) -> str:
        return f"{self.citypay_url.rstrip('/')}/api/v1/receipts/public-key"

    @classmethod
    def from_env(cls, var_dir: Path, env: Mapping[str, str] | None = None) -> BankSimConfig:
        env = os.environ if env is None else env
        key_id, key = ensure_demo_bank_key(var_dir)
        return cls(
            signing_key=key,
            signing_key_id=key_id,
            citypay_url=env.get("BANKSIM_CITYPAY_URL") or "http://127.0.0.1:8080",
            bank_code=env.get("BANKSIM_BANK_CODE") or DEMO_BANK_CODE,
            bin=env.get("BANKSIM_BIN") or DEMO_BANK_BIN,
            host=env.get("BANKSIM_HOST") or "127.0.0.1",
            port=_number(env, "BANKSIM_PORT", 8081, int),
            city_account=env.get("BANKSIM_CITY_ACCOUNT") or CITY_ACCOUNT,
            retry_base_s=_number(env, "BANKSIM_RETRY_BASE_S", 1.0),
            retry_max_s=_number(env, "BANKSIM_RETRY_MAX_S", 300.0),
            max_attempts=_number(env, "BANKSIM_MAX_ATTEMPTS", 15, int),
        )


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


async def ensure_database(server_dsn: str, name: str) -> None:
    """CREATE DATABASE name on the server of server_dsn unless it exists (racing creators are fine)."""
    conn = await asyncpg.connect(server_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def resolve_banksim_database_url(var_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """BANKSIM_DATABASE_URL; else citypay_banksim on DATABASE_URL's server; else on the embedded server."""
    import asyncio

    env = os.environ if env is None else env
    if env.get("BANKSIM_DATABASE_URL"):
        return env["BANKSIM_DATABASE_URL"]
    if env.get("DATABASE_URL"):
        asyncio.run(ensure_database(env["DATABASE_URL"], BANKSIM_DATABASE))
        return with_database(env["DATABASE_URL"], BANKSIM_DATABASE)
    from core.embedded import start_embedded_postgres

    return start_embedded_postgres(var_dir, database=BANKSIM_DATABASE)
