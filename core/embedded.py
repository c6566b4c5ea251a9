"""The embedded PostgreSQL (pgserver wheel) used when DATABASE_URL is unset.

Several processes may share one data folder; pgserver counts its handles and the last one stops the server.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

logging.getLogger("pgserver").setLevel(logging.WARNING)


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
