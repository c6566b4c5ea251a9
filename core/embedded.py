"""The embedded PostgreSQL (pgserver wheel) used when DATABASE_URL is unset.

Several processes may share one data folder; pgserver counts its handles and the last one stops the server.
Migrations run as the server's superuser (`postgres`, the owner of every table); the service connects as
SERVICE_ROLE, which migration 0007 grants row rights only. The embedded server trusts local connections, so
the role needs no password here; on a real server see README ("A real server").
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

logging.getLogger("pgserver").setLevel(logging.WARNING)

SERVICE_ROLE = "citypay_app"
_LOGIN_READY: set[tuple[str, str]] = set()


def start_embedded_postgres(var_dir: Path, *, database: str = "citypay", stop_at_exit: bool = True) -> str:
    """Start (or join) the server under var_dir/pgdata, make sure `database` exists, return its DSN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pgserver

        var_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(var_dir / "pgdata")
        server = pgserver.get_server(
            str((var_dir / "pgdata").resolve()), cleanup_mode="stop" if stop_at_exit else None
        )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database)


def login_role_sql(role: str) -> str:
    """Makes `role` exist and able to log in (migration 0007 creates it NOLOGIN when it is missing)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    return f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
    BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  END IF;
  IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}') THEN ALTER ROLE {role} LOGIN; END IF;
END $$;"""


def ensure_login_role(var_dir: Path, role: str = SERVICE_ROLE) -> None:
    """On the embedded server (already started by start_embedded_postgres in this process)."""
    import pgserver

    pgdata = str((var_dir / "pgdata").resolve())
    if (pgdata, role) in _LOGIN_READY:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pgserver.get_server(pgdata).psql(login_role_sql(role))
    _LOGIN_READY.add((pgdata, role))


def with_user(dsn: str, user: str) -> str:
    """The same server and database as `dsn`, as another role (no password: the embedded server trusts)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last handle exits; a handle whose process was killed never exits, so
    the server would outlive every Ctrl-C after it. Drop handles of processes that no longer exist."""
    import json

    import psutil
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with PostgresServer._lock:  # the same inter-process lock pgserver takes around this file
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def embedded_bin(name: str) -> Path:
    """Path of a PostgreSQL binary shipped in the pgserver wheel (pgbench for the benchmarks)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name
