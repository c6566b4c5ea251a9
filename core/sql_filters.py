"""A WHERE clause of only the filters a caller set.

A list statement written once with every filter as "($n IS NULL OR column = $n)" is one prepared statement,
and after five runs PostgreSQL plans it generically: with the parameters unknown, no condition can pick an
index, so a search by a unique reference or a date range reads the whole table. Building the clause from the
filters set gives each combination its own statement and a plan that uses the index its conditions name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def where_set(filters: Iterable[tuple[str, Any]], *, first: int = 1) -> tuple[str, list[Any]]:
    """`WHERE …` (or "") of the (condition, value) pairs whose value is not None, and their values in order.
    A condition is a constant SQL text with `{}` where its value's parameter goes ($first, $first+1, …)."""
    conditions: list[str] = []
    args: list[Any] = []
    for condition, value in filters:
        if value is not None:
            args.append(value)
            conditions.append(condition.format(f"${first + len(args) - 1}"))
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), args
