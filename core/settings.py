"""Settings read once from the environment; every variable is listed in README.md's settings table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None → embedded PostgreSQL under var_dir
    host: str = "127.0.0.1"
    port: int = 8080
    var_dir: Path = Path("var")
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    cookie_secure: str = "auto"  # auto | true | false
    max_body_bytes: int = 64 * 1024
    amount_cap: int = 500_000_000  # đồng; the largest single payment we accept
    db_pool_min: int = 1
    db_pool_max: int = 10
    session_hours: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_window_minutes: int = 15
    expiry_service_fee_minutes: int = 24 * 60
    expiry_parking_minutes: int = 15
    demo: bool = False
    banksim_url: str | None = (
        None  # the bank simulator, offered on pay pages in demos ("pay with the simulator")
    )
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For / X-Forwarded-Proto we believe
    public_base_url: str = "http://127.0.0.1:8080"

    @property
    def embedded(self) -> bool:
        return not self.database_url

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        port = _int(env, "CITYPAY_PORT", 8080)
        host = env.get("CITYPAY_HOST", "127.0.0.1")
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            host=host,
            port=port,
            var_dir=Path(env.get("CITYPAY_VAR_DIR", "var")),
            log_format=env.get("CITYPAY_LOG_FORMAT", "auto"),
            log_level=env.get("CITYPAY_LOG_LEVEL", "info"),
            cookie_secure=env.get("CITYPAY_COOKIE_SECURE", "auto"),
            max_body_bytes=_int(env, "CITYPAY_MAX_BODY_BYTES", 64 * 1024),
            amount_cap=_int(env, "CITYPAY_AMOUNT_CAP", 500_000_000),
            db_pool_min=_int(env, "CITYPAY_DB_POOL_MIN", 1),
            db_pool_max=_int(env, "CITYPAY_DB_POOL_MAX", 10),
            session_hours=_int(env, "CITYPAY_SESSION_HOURS", 12),
            login_max_failures_per_account=_int(env, "CITYPAY_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
            login_max_failures_per_address=_int(env, "CITYPAY_LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
            login_window_minutes=_int(env, "CITYPAY_LOGIN_WINDOW_MINUTES", 15),
            expiry_service_fee_minutes=_int(env, "CITYPAY_EXPIRY_SERVICE_FEE_MINUTES", 24 * 60),
            expiry_parking_minutes=_int(env, "CITYPAY_EXPIRY_PARKING_MINUTES", 15),
            demo=env.get("CITYPAY_DEMO", "0") in ("1", "true", "yes"),
            banksim_url=env.get("CITYPAY_BANKSIM_URL") or None,
            trusted_proxies=tuple(
                p.strip() for p in env.get("CITYPAY_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            public_base_url=env.get("CITYPAY_PUBLIC_BASE_URL", f"http://{host}:{port}"),
        )
