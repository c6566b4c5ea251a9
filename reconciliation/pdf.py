"""Reports as PDF (fpdf2), with an embedded Unicode font so Vietnamese ("Đối soát") prints and extracts as
text. The font is DejaVu Sans (Debian's `fonts-dejavu-core`); CITYPAY_PDF_FONT names another TTF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
)


class FontMissing(RuntimeError):
    pass


def font_path() -> Path:
    configured = os.environ.get("CITYPAY_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing("no TTF font with Vietnamese glyphs: install fonts-dejavu-core or set CITYPAY_PDF_FONT")


def table_pdf(
    title: str,
    subtitle: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool] = (),
    footer: Sequence[str] | None = None,
) -> bytes:
    """A landscape A4 page (or more) with a title, a few lines under it and one table; cells are text the
    caller has already formatted (money as "1.234.567 ₫")."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("citypay")
    pdf.add_font("citypay", "", str(font_path()))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("citypay", size=15)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("citypay", size=9)
    for line in subtitle:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    width = pdf.epw / max(len(header), 1)
    align = [("R" if i < len(numeric) and numeric[i] else "L") for i in range(len(header))]
    pdf.set_font("citypay", size=8)
    for i, cell in enumerate(header):
        pdf.cell(width, 6, cell, border=1, align=align[i])
    pdf.ln()
    for row in [*rows, *([footer] if footer else [])]:
        for i, cell in enumerate(row):
            pdf.cell(width, 6, cell, border=1, align=align[i])
        pdf.ln()
    return bytes(pdf.output())
