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


def _clock_time(env: dict[str, str], name: str, default: str) -> str:
    """A local time of day, HH:MM (24-hour)."""
    import re

    raw = env.get(name) or default
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", raw):
        raise SystemExit(f"{name} must be a time of day HH:MM, got {raw!r}")
    return raw


def _networks(env: dict[str, str], name: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of addresses or networks; "*" means any, "none" (or empty) no one."""
    import ipaddress

    items = [p.strip() for p in env.get(name, default).split(",") if p.strip() and p.strip() != "none"]
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise SystemExit(f"{name}: {item!r} is not an address or network") from None
    return tuple(items)


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None → embedded PostgreSQL under var_dir; the service's role
    # The owner role that runs migrations (and loads demo data); None → database_url (one role does both).
    migrate_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    var_dir: Path = Path("var")
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    cookie_secure: str = "auto"  # auto | true | false
    max_body_bytes: int = 64 * 1024
    amount_cap: int = 500_000_000  # đồng; the largest single payment we accept
    # A bank credit above this (default amount_cap × 100) is held for finance, never booked as revenue.
    inbound_sanity_cap: int = 50_000_000_000
    callback_booking_window_hours: int = 48  # a callback's booking time may be this far from its arrival
    late_tolerance_s: int = 300  # paid this long after expiry (by the bank's booking time) still settles
    callback_max_attempts: int = 10  # the re-processor then gives up and shows the row to finance
    # Group commit of verified callbacks (payments/group_commit.py): credits that arrive within this many
    # milliseconds of the first waiting one settle in one transaction, at most callback_group_max of them;
    # callback_group_max = 0 settles each callback in transactions of its own (the path before group commits).
    callback_group_window_ms: int = 5
    callback_group_max: int = 64
    callback_groups_in_flight: int = 2  # groups of one process settling at once (on their own connections)
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_acquire_timeout_s: int = 5  # longest wait for a pooled connection; then 503 with Retry-After
    # Who may read /metrics without credentials (addresses or networks); others need an admin session or a
    # token with metrics:read. "*" opens it to everyone.
    metrics_allow: tuple[str, ...] = ("127.0.0.0/8", "::1")
    session_hours: int = 12
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_window_minutes: int = 15
    expiry_service_fee_minutes: int = 24 * 60
    expiry_parking_minutes: int = 15
    demo: bool = False
    audit_checkpoint_minutes: int = 10  # signed audit-chain checkpoints to var/ and the log; 0 = never
    banksim_url: str | None = (
        None  # the bank simulator, offered on pay pages in demos ("pay with the simulator")
    )
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For / X-Forwarded-Proto we believe
    public_base_url: str = "http://127.0.0.1:8080"
    # Statement files (reconciliation): the largest upload, read in chunks (not CITYPAY_MAX_BODY_BYTES); and
    # the Hà Nội time after which the daily fetch takes yesterday's statements from the banks that offer them.
    statement_max_bytes: int = 50 * 1024 * 1024
    statement_fetch_at: str = "06:00"
    # Reconciliation: how far apart a bank line's booking date and a ledger posting's business date may be to
    # be proposed as a match; how many days a ledger line may wait for its bank line before it is escalated.
    recon_date_window_days: int = 2
    recon_expected_days: int = 1

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
            migrate_url=env.get("CITYPAY_MIGRATE_URL") or None,
            host=host,
            port=port,
            var_dir=Path(env.get("CITYPAY_VAR_DIR", "var")),
            log_format=env.get("CITYPAY_LOG_FORMAT", "auto"),
            log_level=env.get("CITYPAY_LOG_LEVEL", "info"),
            cookie_secure=env.get("CITYPAY_COOKIE_SECURE", "auto"),
            max_body_bytes=_int(env, "CITYPAY_MAX_BODY_BYTES", 64 * 1024),
            amount_cap=_int(env, "CITYPAY_AMOUNT_CAP", 500_000_000),
            inbound_sanity_cap=_int(
                env, "CITYPAY_INBOUND_SANITY_CAP", 100 * _int(env, "CITYPAY_AMOUNT_CAP", 500_000_000)
            ),
            callback_booking_window_hours=_int(env, "CITYPAY_CALLBACK_BOOKING_WINDOW_HOURS", 48),
            late_tolerance_s=_int(env, "CITYPAY_LATE_TOLERANCE_S", 300),
            callback_max_attempts=_int(env, "CITYPAY_CALLBACK_MAX_ATTEMPTS", 10),
            callback_group_window_ms=_int(env, "CITYPAY_CALLBACK_GROUP_WINDOW_MS", 5),
            callback_group_max=_int(env, "CITYPAY_CALLBACK_GROUP_MAX", 64),
            callback_groups_in_flight=_int(env, "CITYPAY_CALLBACK_GROUPS_IN_FLIGHT", 2),
            db_pool_min=_int(env, "CITYPAY_DB_POOL_MIN", 1),
            db_pool_max=_int(env, "CITYPAY_DB_POOL_MAX", 10),
            db_acquire_timeout_s=_int(env, "CITYPAY_DB_ACQUIRE_TIMEOUT_S", 5),
            metrics_allow=_networks(env, "CITYPAY_METRICS_ALLOW", "127.0.0.0/8,::1"),
            session_hours=_int(env, "CITYPAY_SESSION_HOURS", 12),
            login_max_failures_per_account=_int(env, "CITYPAY_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
            login_max_failures_per_address=_int(env, "CITYPAY_LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
            login_window_minutes=_int(env, "CITYPAY_LOGIN_WINDOW_MINUTES", 15),
            expiry_service_fee_minutes=_int(env, "CITYPAY_EXPIRY_SERVICE_FEE_MINUTES", 24 * 60),
            expiry_parking_minutes=_int(env, "CITYPAY_EXPIRY_PARKING_MINUTES", 15),
            demo=env.get("CITYPAY_DEMO", "0") in ("1", "true", "yes"),
            audit_checkpoint_minutes=_int(env, "CITYPAY_AUDIT_CHECKPOINT_MINUTES", 10),
            banksim_url=env.get("CITYPAY_BANKSIM_URL") or None,
            trusted_proxies=tuple(
                p.strip() for p in env.get("CITYPAY_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            public_base_url=env.get("CITYPAY_PUBLIC_BASE_URL", f"http://{host}:{port}"),
            statement_max_bytes=_int(env, "CITYPAY_STATEMENT_MAX_BYTES", 50 * 1024 * 1024),
            statement_fetch_at=_clock_time(env, "CITYPAY_STATEMENT_FETCH_AT", "06:00"),
            recon_date_window_days=_int(env, "CITYPAY_RECON_DATE_WINDOW_DAYS", 2),
            recon_expected_days=_int(env, "CITYPAY_RECON_EXPECTED_DAYS", 1),
        )
