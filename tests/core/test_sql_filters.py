"""core.sql_filters: only the filters set, numbered from where the caller's parameters start."""

from __future__ import annotations

from core.sql_filters import where_set


def test_only_the_filters_set_are_numbered_in_order():
    where, args = where_set([("a = {}", 1), ("b = {}", None), ("c >= {}", "x"), ("d = {}", False)])
    assert where == "WHERE a = $1 AND c >= $2 AND d = $3"
    assert args == [1, "x", False]  # False is a value, None is "not set"


def test_no_filter_is_no_clause_and_numbering_may_start_later():
    assert where_set([("a = {}", None)]) == ("", [])
    assert where_set([("a = {}", 5)], first=3) == ("WHERE a = $3", [5])
