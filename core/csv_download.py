"""Every list a person can take away as a spreadsheet goes out the same way: UTF-8 led by a byte-order mark
(Excel then reads Vietnamese right), RFC 4180 with CRLF, every text cell formula-safe
(`core.text.spreadsheet_safe`: a cell an attacker typed as `=HYPERLINK(…)` opens as text), as an attachment
that no shared cache keeps (exports carry names and amounts)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from core.text import spreadsheet_safe


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        writer.writerow(["" if cell is None else spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


def csv_download(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> web.Response:
    resp = web.Response(body=csv_text(header, rows).encode("utf-8"), content_type="text/csv", charset="utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "no-store"
    return resp
