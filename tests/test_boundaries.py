"""Each package owns its tables and its modules (issue 9, point 7).

Dependencies point one way: parking → payments → ledger → core; banksim → core only (it has its own database
and migrations, so it is left out of the table map). A package reads or writes another package's data by
calling that package's public functions, or, for set-based reports, by reading a view the owner publishes.
The tests need no database: they read migrations/*.sql and the packages' source with `ast`. Only Python is
scanned: foreign keys and the trigger that closes a paid parking session cross packages in the migrations on
purpose (the database keeps those guarantees; docs/ARCHITECTURE.md, "Which way calls go").
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "core",
    "ledger",
    "payments",
    "parking",
    "reconciliation",
    "disbursements",
)  # layer order: each uses those before
LAYER = {name: i for i, name in enumerate(PACKAGES)}

# Every table and view in migrations/*.sql → the package that owns it. A new table must be added here.
OWNER: dict[str, str] = {
    **dict.fromkeys(
        (
            "staff_users",
            "staff_sessions",
            "login_attempts",
            "api_tokens",
            "audit_log",
            "audit_chain_meta",
            "demo_installation",
            "idempotency_keys",
            "outbox",
            "approvals",
        ),
        "core",
    ),
    **dict.fromkeys(
        (
            "ledger_accounts",
            "journal_entries",
            "postings",
            "ledger_closed_days",
            "ledger_balance_snapshots",
            "ledger_pending",
            "ledger_pending_parts",
            "ledger_bank_postings",
        ),
        "ledger",
    ),
    **dict.fromkeys(
        (
            "banks",
            "collection_accounts",
            "fee_catalogue",
            "subsidy_programmes",
            "payment_requests",
            "payments_received",
            "receipts",
            "receipt_series",
            "bank_profiles",
            "bank_keys",
            "callback_inbox",
            "callback_conflicts",
            "payments_parking_requests",
            "payments_active_collection_accounts",
            "payments_bank_credits",
            "payments_request_references",
            "pay_bank_apps",
        ),
        "payments",
    ),
    **dict.fromkeys(
        (
            "parking_zones",
            "parking_lots",
            "lot_capacities",
            "lot_attendants",
            "tariffs",
            "monthly_passes",
            "parking_sessions",
        ),
        "parking",
    ),
    **dict.fromkeys(
        (
            "recon_files",
            "recon_statements",
            "recon_lines",
            "recon_matches",
            "recon_exceptions",
            "recon_account_days",
            "recon_open_lines",
        ),
        "reconciliation",
    ),
    **dict.fromkeys(
        (
            "disb_programmes",
            "disb_beneficiaries",
            "disb_enrolments",
            "disb_accounts",
            "disb_account_checks",
            "disb_roster",
            "disb_batches",
            "disb_items",
        ),
        "disbursements",
    ),
}

# Views an owner publishes for the packages above it to read (only the columns those readers need).
# parking's KPIs: (id, status) of each payment request; reconciliation's matching: bank postings and credits;
# reconciliation's claimants (disbursements' returns): the statement lines no pass has taken yet;
# reconciliation's reference pass: which references name a payment request
PUBLISHED_VIEWS = {
    "payments_parking_requests",
    "payments_active_collection_accounts",
    "ledger_bank_postings",
    "payments_bank_credits",
    "payments_request_references",
    "recon_open_lines",
}

# (package, file relative to the root, table): today's SQL that names another package's table.
# Each entry says why it is still there; remove it when the code stops doing so.
SQL_ALLOWED: dict[tuple[str, str, str], str] = {}

# (importing package, imported module): today's imports of another package's non-public module.
IMPORT_ALLOWED: dict[tuple[str, str], str] = {}

_CREATE = re.compile(
    r"\bCREATE\s+(?:UNLOGGED\s+)?(?:TABLE|(?:OR\s+REPLACE\s+)?VIEW|MATERIALIZED\s+VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)",
    re.IGNORECASE,
)
_NAMES_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|USING|TABLE)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def migration_tables() -> set[str]:
    found: set[str] = set()
    for sql in sorted((ROOT / "migrations").glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", sql.read_text(encoding="utf-8"))
        found |= {m.group(1).lower() for m in _CREATE.finditer(text)}
    return found


def test_every_table_has_an_owner():
    tables = migration_tables()
    assert tables - OWNER.keys() == set(), "add the new tables to OWNER"
    assert OWNER.keys() - tables == set(), "OWNER names tables no migration creates"
    assert set(OWNER.values()) <= set(PACKAGES)
    assert tables >= PUBLISHED_VIEWS


def sql_crossings() -> set[tuple[str, str, str]]:
    """(package, file, table) for every string literal in a package that names another package's table."""
    crossings: set[tuple[str, str, str]] = set()
    for package in PACKAGES:
        for path in _sources(package):
            for node in ast.walk(_tree(path)):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                # a literal that is just a table name counts too: it is spliced into SQL (f"… FROM {t}")
                named = [m.group(1).lower() for m in _NAMES_TABLE.finditer(node.value)]
                for table in named + ([node.value] if node.value in OWNER else []):
                    owner = OWNER.get(table)
                    if owner is None or owner == package:
                        continue
                    if table in PUBLISHED_VIEWS and LAYER[owner] < LAYER[package]:
                        continue
                    crossings.add((package, path.relative_to(ROOT).as_posix(), table))
    return crossings


def test_packages_name_only_their_own_tables_in_sql():
    crossings = sql_crossings()
    unexpected = sorted(crossings - SQL_ALLOWED.keys())
    assert unexpected == [], (
        "SQL names another package's table; call the owner's public functions or read a view it publishes"
    )
    stale = sorted(SQL_ALLOWED.keys() - crossings)
    assert stale == [], "these allow-list entries are fixed: remove them from SQL_ALLOWED"


def test_the_scanner_sees_a_crossing():
    module = ast.parse('Q = f"SELECT s.id FROM parking_sessions s LEFT JOIN payment_requests pr ON {x}"')
    literals = [n.value for n in ast.walk(module) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    named = {m.group(1) for text in literals for m in _NAMES_TABLE.finditer(text)}
    assert named == {"parking_sessions", "payment_requests"}


def public_modules(package: str) -> set[str]:
    """A package's public surface: the package itself, its `__all__`, and the modules its `__init__`
    docstring names in backticks as `package.module`. Every core module is public: core is the shared
    kernel every capability builds on (its private helpers start with `_`)."""
    init = ROOT / package / "__init__.py"
    if package == "core":
        return {package} | {
            f"core.{p.stem}" for p in (ROOT / "core").glob("*.py") if not p.stem.startswith("_")
        }
    tree = _tree(init)
    public = {package}
    docstring = ast.get_docstring(tree) or ""
    public |= set(re.findall(rf"`({package}\.[a-z_][a-z0-9_.]*)`", docstring))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            public |= {f"{package}.{name}" for name in ast.literal_eval(node.value)}
    return public


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports; `from pkg import mod` counts as `pkg.mod` if mod is a module."""
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                as_path = ROOT / Path(*dotted.split("."))
                if as_path.with_suffix(".py").exists() or (as_path / "__init__.py").exists():
                    found.add(dotted)
    return found


def import_crossings() -> set[tuple[str, str]]:
    public = {package: public_modules(package) for package in (*PACKAGES, "banksim")}
    crossings: set[tuple[str, str]] = set()
    for package in (*PACKAGES, "banksim"):
        for path in _sources(package):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top == package or top not in public:
                    continue
                if module not in public[top]:
                    crossings.add((package, module))
    return crossings


def test_packages_import_only_public_surfaces():
    crossings = import_crossings()
    unexpected = sorted(crossings - IMPORT_ALLOWED.keys())
    assert unexpected == [], "import the package (its __init__) or a module its docstring names as public"
    stale = sorted(IMPORT_ALLOWED.keys() - crossings)
    assert stale == [], "these allow-list entries are fixed: remove them from IMPORT_ALLOWED"


def test_dependencies_point_one_way():
    """parking → payments → ledger → core; banksim → core only; core and the capabilities never import
    banksim."""
    wrong: set[tuple[str, str]] = set()
    for package in (*PACKAGES, "banksim"):
        allowed = {"core"} if package == "banksim" else set(PACKAGES[: LAYER[package] + 1])
        for path in _sources(package):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in (*PACKAGES, "banksim") and top not in allowed | {package}:
                    wrong.add((path.relative_to(ROOT).as_posix(), module))
    assert sorted(wrong) == []
