"""`make bench`: runs every benchmark in bench/ (each file that defines a top-level `main()`), one after the
other, each in its own process. Arguments after the options are passed to every benchmark.

    .venv/bin/python bench/run_all.py                  # all of them, default settings
    .venv/bin/python bench/run_all.py -k payment -- --seconds 5
"""

from __future__ import annotations

import argparse
import ast
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def benchmarks() -> list[Path]:
    found = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name == Path(__file__).name:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path)
    return found


def aims_of(path: Path, since: float) -> dict | None:
    """The aims a benchmark wrote to bench/results/<name>.json in this run (None: it wrote none, or did
    not run)."""
    result = RESULTS_DIR / f"{path.stem}.json"
    if not result.exists() or result.stat().st_mtime < since:
        return None
    try:
        aims = json.loads(result.read_text()).get("aims")
    except ValueError:
        return None
    return aims if isinstance(aims, dict) else None


def print_summary(summary: list[tuple[str, str, dict | None]]) -> None:
    """Every benchmark's outcome and its aims (issue 13), met or not, in one place at the end."""
    print("\n=== summary " + "=" * 100)
    for name, outcome, aims in summary:
        print(f"{name}: {outcome}")
        for aim, verdict in (aims or {}).items():
            if isinstance(verdict, dict):  # {"value", "aim", "met"}
                value = verdict.get("value")
                shown = "—" if value is None else (f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}")
                met = "met    " if verdict.get("met") else "NOT met"
                print(f"  {met}  {aim}: {shown} (aim {verdict.get('aim')})")
            else:  # older benchmarks: name → bool
                print(f"  {'met    ' if verdict else 'NOT met'}  {aim}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run_all.py", description="run every benchmark in bench/")
    parser.add_argument("-k", dest="select", help="only benchmarks whose file name contains this")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("passthrough", nargs="*", help="arguments for every benchmark (put them after --)")
    args = parser.parse_args(argv)
    found = [p for p in benchmarks() if not args.select or args.select in p.stem]
    if args.list or not found:
        print("\n".join(p.name for p in found) or "no benchmarks found")
        return 0 if found else 1
    failed = []
    summary: list[tuple[str, str, dict | None]] = []
    for path in found:
        print(f"\n=== {path.name} " + "=" * max(3, 100 - len(path.name)), flush=True)
        started, since = time.monotonic(), time.time()
        # Same process group: a Ctrl-C reaches the benchmark too, which stops what it started.
        proc = subprocess.Popen([sys.executable, str(path), *args.passthrough], cwd=ROOT)
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            code = proc.wait()
            print(f"=== {path.name}: interrupted", file=sys.stderr)
            return 130
        except BaseException:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            raise
        outcome = "ok" if code == 0 else f"FAILED ({code})"
        print(f"=== {path.name}: {outcome} in {time.monotonic() - started:.0f} s")
        summary.append((path.name, outcome, aims_of(path, since)))
        if code != 0:
            failed.append(path.name)
    print_summary(summary)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
