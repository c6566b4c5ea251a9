"""`python main.py import-statement FILE [--mapping NAME] [--account NUMBER]`: finance's statement import
from a shell, the same import as the page and the API (audited as the operating-system user), with a
progress bar on stderr. Exit 1 with the reason when the file is refused."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from core.db import create_pool
from core.errors import Problem
from core.keys import load_keys
from core.settings import Settings
from reconciliation.importer import ImportResult, import_statement_file

BAR_WIDTH = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-statement", help="import a bank statement file (camt.053/054, MT940, CSV/xlsx)"
    )
    p.add_argument("file", help="the statement file")
    p.add_argument("--mapping", help="CSV/Excel column mapping name (else recognised by the header)")
    p.add_argument("--account", help="the account number, for an export that does not print it")
    p.set_defaults(func=cmd_import_statement)


class ProgressBar:
    """'\\r[#####     ]  52 %' on a stream, redrawn only when the percentage moves."""

    def __init__(self, stream=sys.stderr, width: int = BAR_WIDTH) -> None:
        self.stream, self.width, self.shown = stream, width, -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        if percent == self.shown:
            return
        self.shown = percent
        filled = percent * self.width // 100
        self.stream.write(f"\r[{'#' * filled}{' ' * (self.width - filled)}] {percent:3d} %")
        self.stream.flush()

    def end(self) -> None:
        if self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _service_dsn(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from core.embedded import SERVICE_ROLE, ensure_login_role, start_embedded_postgres, with_user

    owner = start_embedded_postgres(settings.var_dir)
    ensure_login_role(settings.var_dir, SERVICE_ROLE)
    return with_user(owner, SERVICE_ROLE)


def _report(result: ImportResult) -> str:
    lines = [
        f"import-statement: file #{result.file_id} ({result.format}): {len(result.statements)} statement(s), "
        f"{result.new_lines} new line(s), {result.duplicate_lines} already known"
    ]
    for s in result.statements:
        what = "already imported, skipped" if s.already_imported else f"statement #{s.id}"
        lines.append(
            f"  {s.bin} {s.account_number} {s.from_date}..{s.to_date} {s.statement_ref}: {what}, "
            f"{s.line_count} line(s), {s.new_lines} new"
            + (f"; SEQUENCE GAP: {s.sequence_gap}" if s.sequence_gap else "")
        )
    return "\n".join(lines)


def cmd_import_statement(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        size = path.stat().st_size
        if size > settings.statement_max_bytes:
            print(
                f"import-statement: {path} is {size} bytes, above CITYPAY_STATEMENT_MAX_BYTES "
                f"({settings.statement_max_bytes})",
                file=sys.stderr,
            )
            return 1
        data = path.read_bytes()
    except OSError as exc:
        print(f"import-statement: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    keys = load_keys(embedded=settings.embedded, var_dir=settings.var_dir)
    bar = ProgressBar()

    async def run() -> ImportResult:
        pool = await create_pool(_service_dsn(settings), min_size=1, max_size=2)
        try:
            return await import_statement_file(
                pool,
                keys,
                data,
                filename=path.name,
                source="cli",
                actor=f"cli:{getpass.getuser()}",
                mapping=args.mapping,
                account=args.account,
                progress=bar,
                match_window_days=settings.recon_date_window_days,
            )
        finally:
            await pool.close()

    try:
        result = asyncio.run(run())
    except Problem as exc:
        bar.end()
        print(f"import-statement: refused: {exc.detail or exc.title_en}", file=sys.stderr)
        return 1
    bar.end()
    print(_report(result))
    return 0
