"""The camera button's sentences (Vietnamese, English); registered when parking.plate_scan is imported."""

from __future__ import annotations

from core.i18n import register_messages

PLATE_SCAN_MESSAGES: dict[str, tuple[str, str]] = {
    "plate_scan.button": ("Chụp biển số", "Scan the plate"),
    "plate_scan.reading": ("Đang đọc biển số…", "Reading the plate…"),
    "plate_scan.found": ("Đọc được: {plate}", "Read: {plate}"),
    "plate_scan.failed": (
        "Không đọc được biển số, hãy chụp lại hoặc gõ tay.",
        "Could not read the plate: take another photo or type it.",
    ),
}

register_messages(PLATE_SCAN_MESSAGES)
