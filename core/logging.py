"""structlog set-up: JSON lines in production, a console renderer on a terminal, personal data masked."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson
import structlog

from core.pii import mask_account, mask_citizen_id, mask_text

# Keys whose whole value is personal data, whatever it looks like.
_ACCOUNT_KEYS = {"account", "account_number", "credited_account", "payer_account", "beneficiary_account"}
_CITIZEN_KEYS = {"citizen_id", "cccd", "national_id"}
# Identifiers that are long digit runs by design and are not personal data; and fields of the canonical
# request line that the service itself fills (not `event`: a message may quote anything). Skipping them
# keeps masking off the per-request cost (scripts/bench_request_overhead.py).
_NOT_PII = {
    "request_id",
    "bank_txn_id",
    "reference",
    "entry_id",
    "idempotency_key",
    "timestamp",
    "level",
    "method",
    "route",
    "status",
    "duration_ms",
}


def _json_line(event_dict: Any, **kwargs: Any) -> str:
    """structlog's JSON renderer through orjson (what it cannot encode is written as its repr, as before)."""
    kwargs.pop("default", None)
    return orjson.dumps(event_dict, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def _mask_value(key: str, value: Any) -> Any:
    if key in _NOT_PII:
        return value
    if key in _ACCOUNT_KEYS and isinstance(value, str | int):
        return mask_account(str(value))
    if key in _CITIZEN_KEYS and isinstance(value, str | int):
        return mask_citizen_id(str(value))
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


# PostgreSQL's DETAIL quotes the row or key a statement failed on ("Failing row contains (…)", "Key (…)=(…)"):
# names and other values of people, which the masks above cannot tell from other words.
_DB_DETAIL = re.compile(r"^DETAIL:  .*$", re.MULTILINE)


def mask_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: masks citizen ids and account numbers anywhere in the event, and drops the row
    values a database error quotes from a logged traceback."""
    exception = event_dict.get("exception")
    if isinstance(exception, str) and "DETAIL:  " in exception:
        event_dict = {
            **event_dict,
            "exception": _DB_DETAIL.sub("DETAIL:  (the row's values are not logged)", exception),
        }
    return {k: _mask_value(k, v) for k, v in event_dict.items()}


def configure_logging(fmt: str = "auto", level: str = "info", *, cache: bool = False) -> None:
    """`cache`: each logger keeps what it bound at its first use (a serving process; saves a bind on every
    call). Off elsewhere: tests swap stderr, and a cached logger would keep writing to the old one."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if fmt == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if fmt == "json" else structlog.dev.set_exc_info,
        mask_personal_data,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Look stderr up per logger, not once: tests swap it out, and a stale stream must not break requests.
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=cache,
    )
