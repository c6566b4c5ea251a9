"""`make bench`: runs every benchmark in bench/ (each file that defines a top-level `main()`), one after the
other, each in its own process. Arguments after the options are passed to every benchmark.

    .venv/bin/python bench/run_all.py                  # all of them, default settings
    .venv/bin/python bench/run_all.py -k payment -- --seconds 5
"""

from __future__ import annotations

import argparse
import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def benchmarks() -> list[Path]:
    found = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name == Path(__file__).name:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path)
    return found


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
    for path in found:
        print(f"\n=== {path.name} " + "=" * max(3, 100 - len(path.name)), flush=True)
        started = time.monotonic()
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
        if code != 0:
            failed.append(path.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
