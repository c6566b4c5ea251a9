"""Ed25519 on the callback path: libsodium (core/ed25519.py) against OpenSSL through `cryptography` (the
baseline), measured in the same run, interleaved, best of five rounds, CPU time of this process. Each bank
callback costs one verification and two signatures of ours (the signed answer, the receipt).

    .venv/bin/python bench/ed25519.py [--n 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import ed25519

MESSAGE = b"1764790000." + b'{"bank_txn_id":"FT2612030001","amount":200000,"narrative":"CP7K3Q9X"}' * 4


def per_op_us(fn, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000, help="operations per round")
    n = p.parse_args(argv).n
    key = Ed25519PrivateKey.generate()
    public, signature = key.public_key(), key.sign(MESSAGE)
    cases = {
        "verify": (
            lambda: public.verify(signature, MESSAGE),
            lambda: ed25519.verify(public, signature, MESSAGE),
        ),
        "sign": (lambda: key.sign(MESSAGE), lambda: ed25519.sign(key, MESSAGE)),
    }
    best: dict[tuple[str, str], float] = {}
    for _ in range(5):
        for name, (openssl, sodium) in cases.items():
            for impl, fn in (("openssl", openssl), ("libsodium", sodium)):
                us = per_op_us(fn, n)
                best[name, impl] = min(us, best.get((name, impl), us))
    print(f"{'operation':10s} {'OpenSSL µs':>11s} {'libsodium µs':>13s} {'ratio':>6s}")
    for name in cases:
        a, b = best[name, "openssl"], best[name, "libsodium"]
        print(f"{name:10s} {a:11.1f} {b:13.1f} {b / a:6.2f}")
    per_callback = best["verify", "openssl"] + 2 * best["sign", "openssl"]
    per_callback_new = best["verify", "libsodium"] + 2 * best["sign", "libsodium"]
    print(
        f"per callback (1 verification + 2 signatures): {per_callback:.1f} µs → {per_callback_new:.1f} µs "
        f"({per_callback_new / per_callback:.2f})"
    )


if __name__ == "__main__":
    main()
