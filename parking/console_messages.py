"""The attendant console's words added by issue 12 (undo and correct, the vehicle card, the plate keypad,
typo help, the last-action line): vi/en pairs, registered once. parking/messages.py keeps the older ones."""

from __future__ import annotations

from datetime import timedelta

from core.i18n import register_messages

# How long after a check-in its attendant may still correct the plate or class, or cancel it (an admin voids
# with a reason after that). Said on the console's vehicle card.
CORRECTION_WINDOW = timedelta(minutes=10)
WINDOW_MINUTES = int(CORRECTION_WINDOW.total_seconds() // 60)

# Refusals: Problem(message=...) keys, the sentence a page shows instead of the API's English detail.
register_messages(
    {
        "console.err.window_over": (
            f"Đã quá {WINDOW_MINUTES} phút sau khi nhận xe: không sửa hay huỷ được nữa. "
            "Quản trị viên có thể huỷ lượt kèm lý do.",
            f"More than {WINDOW_MINUTES} minutes since check-in: it can no longer be corrected or "
            "cancelled. An admin can void it with a reason.",
        ),
        "console.err.not_yours": (
            "Chỉ người đã nhận xe này (hoặc quản trị viên) mới sửa hay huỷ được.",
            "Only whoever checked this vehicle in (or an admin) can correct or cancel it.",
        ),
        "console.err.awaiting": (
            "Xe đang chờ thanh toán: không sửa hay huỷ được nữa.",
            "The vehicle is awaiting payment: it can no longer be corrected or cancelled.",
        ),
        "console.err.finished": ("Lượt gửi xe này đã kết thúc.", "This parking session has ended."),
        "console.err.payment_changed": (
            "Thanh toán của lượt này vừa thay đổi: mở lại xe này để xem.",
            "This turn's payment just changed: open the vehicle again to see it.",
        ),
        "console.err.unchanged": (
            "Biển số và loại xe vẫn như cũ: không có gì để sửa.",
            "Plate and class are unchanged: nothing to correct.",
        ),
        "console.err.no_plate": ("Nhập biển số trước.", "Type the plate first."),
        "console.err.unsure_reading": (
            "Máy đọc biển số không chắc chắn: hãy nhập biển số hoặc chọn trong các gợi ý.",
            "The plate reader is not sure: type the plate, or choose one of the suggestions.",
        ),
        "console.err.class_not_taken": ("Bãi không nhận loại xe này.", "This lot takes no such vehicle."),
        "console.err.override_plate": (
            "Biển số chỉ gồm tối đa 15 chữ cái A–Z, Đ và chữ số.",
            "A plate is at most 15 letters A–Z, Đ and digits.",
        ),
        # A field error of the plate (routes.PlateText): pydantic error type "parking_plate_characters".
        "form.parking_plate_characters": (
            "Biển số chỉ gồm chữ số, chữ cái A–Z và Đ.",
            "A plate holds only digits, letters A–Z and Đ.",
        ),
    }
)

# Labels the console's script uses (config.labels), beside parking.messages.CONSOLE_JS_MESSAGES.
CONSOLE_JS_MORE: dict[str, tuple[str, str]] = {
    "card_title": ("Xe trong bãi", "Vehicle inside"),
    "card_entered": ("Vào lúc {at}", "In at {at}"),
    "card_window": (
        f"Sửa hoặc huỷ được trong {WINDOW_MINUTES} phút sau khi nhận xe (đến {{until}}).",
        f"Can be corrected or cancelled for {WINDOW_MINUTES} minutes after check-in (until {{until}}).",
    ),
    "card_window_over": (
        f"Đã quá {WINDOW_MINUTES} phút: chỉ quản trị viên huỷ được, kèm lý do.",
        f"Over {WINDOW_MINUTES} minutes: only an admin can void it, with a reason.",
    ),
    "card_checkout": ("Cho xe ra", "Check out"),
    "card_correct": ("Sửa biển số / loại xe", "Correct plate / class"),
    "card_cancel": ("Huỷ lượt vào (nhập nhầm)", "Cancel this entry (mistake)"),
    "card_cancel_confirm": ("Chắc chắn huỷ lượt vào này", "Yes, cancel this entry"),
    "card_void": ("Huỷ lượt (quản trị)", "Void (admin)"),
    "card_void_reason": ("Lý do huỷ (ít nhất 5 ký tự)", "Why void it (5+ characters)"),
    "card_void_confirm": ("Xác nhận huỷ lượt", "Confirm void"),
    "card_close": ("Đóng", "Close"),
    "card_save": ("Lưu sửa", "Save correction"),
    "card_plate": ("Biển số đúng", "Correct plate"),
    "corrected": ("Đã sửa: {old} → {new}.", "Corrected: {old} → {new}."),
    "cancelled": ("Đã huỷ lượt vào của xe {plate}.", "Cancelled the entry of {plate}."),
    "voided": ("Đã huỷ lượt của xe {plate}.", "Voided the session of {plate}."),
    "last_paid": ("{plate} đã thanh toán {amount}.", "{plate} paid {amount}."),
    "last_cash": (
        "{plate} thu tiền mặt {amount}: lý do {reason}.",
        "{plate} cash {amount}: reason {reason}.",
    ),
    "last_unpaid": (
        "{plate} chưa thanh toán {amount}: xe vẫn trong bãi (chờ thanh toán).",
        "{plate} has not paid {amount}: still inside (awaiting payment).",
    ),
    "last_cancelled": ("{plate}: yêu cầu thanh toán đã huỷ.", "{plate}: payment request cancelled."),
    "candidates": ("Chạm vào xe đúng để cho ra.", "Tap the right vehicle to check it out."),
    "candidates_none": (
        "Không tìm thấy xe nào giống biển này trong bãi.",
        "No vehicle with a plate like this is inside.",
    ),
    "kind.exact": ("đúng biển", "exact"),
    "kind.confusion": ("dễ đọc nhầm", "look-alike"),
    "kind.typo": ("sai 1 ký tự", "one character off"),
    "keypad_typing": ("Gõ bằng bàn phím điện thoại", "Use the phone keyboard"),
    "keypad_show": ("Dùng bàn phím biển số", "Use the plate keypad"),
    "keypad_back": ("Xoá ký tự", "Delete a character"),
    "keypad_clear": ("Xoá hết", "Clear"),
}
register_messages({f"console.js.{k}": v for k, v in CONSOLE_JS_MORE.items()})
