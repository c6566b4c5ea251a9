"""JSON for request and response bodies through orjson (about 10× the standard library here). Output means
the same as `json.dumps` gave: the same keys in the same order, non-ASCII written as UTF-8 rather than
backslash-u escapes (as `\\u1ea1` for "ạ"), no spaces after separators. Signed bodies (bank callbacks,
receipts) keep their own canonical encoders and never come here: their exact bytes are part of the
signature."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """UTF-8 JSON; raises TypeError for what JSON cannot hold (as json.dumps does), except that datetimes,
    dates and UUIDs are written as ISO text."""
    return orjson.dumps(value, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """For aiohttp's `web.json_response(dumps=…)` and other callers that want text."""
    return orjson.dumps(value, option=_OPTIONS).decode()


loads = orjson.loads


def json_body_response(
    value: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """`web.json_response` with orjson: Content-Type application/json; charset=utf-8, as before."""
    return web.Response(
        body=dumps(value), status=status, headers=headers, content_type="application/json", charset="utf-8"
    )
