"""Texts of the banking-apps admin page (/admin/bank-apps); imported by bank_apps_pages.py."""

from __future__ import annotations

from core.i18n import register_messages

register_messages(
    {
        "admin.bank_apps.link": ("Ứng dụng ngân hàng", "Banking apps"),
        "admin.bank_apps.title": ("Ứng dụng ngân hàng trên trang thanh toán", "Banking apps on the pay page"),
        "admin.bank_apps.intro": (
            "Người nộp tiền chọn một ứng dụng trong danh sách này để mở ứng dụng ngân hàng với thông tin "
            "chuyển khoản điền sẵn (deeplink của VietQR). Mã ứng dụng phải đúng mã VietQR công bố.",
            "Payers pick an app from this list to open their banking app with the transfer filled in "
            "(VietQR's deeplinks). The app id must be the one VietQR publishes.",
        ),
        "admin.bank_apps.app_id": ("Mã ứng dụng (VietQR)", "App id (VietQR)"),
        "admin.bank_apps.name": ("Tên hiển thị", "Display name"),
        "admin.bank_apps.bank": ("Ngân hàng", "Bank"),
        "admin.bank_apps.sort_order": ("Thứ tự", "Order"),
        "admin.bank_apps.state": ("Trạng thái", "State"),
        "admin.bank_apps.enabled": ("Đang hiện", "Shown"),
        "admin.bank_apps.disabled": ("Đã tắt", "Disabled"),
        "admin.bank_apps.add": ("Thêm ứng dụng", "Add an app"),
        "admin.bank_apps.edit": ("Sửa", "Edit"),
        "admin.bank_apps.save": ("Lưu", "Save"),
        "admin.bank_apps.disable": ("Tắt", "Disable"),
        "admin.bank_apps.enable": ("Bật lại", "Enable"),
        "admin.bank_apps.remove": ("Xóa", "Remove"),
        "admin.bank_apps.confirm_remove": (
            "Xóa ứng dụng {app} khỏi trang thanh toán? Việc này không hoàn tác được.",
            "Remove the app {app} from the pay page? This cannot be undone.",
        ),
        "admin.bank_apps.saved": ("Đã lưu.", "Saved."),
        "admin.bank_apps.empty": ("Chưa có ứng dụng nào.", "No apps yet."),
        "admin.bank_apps.taken": ("Đã có ứng dụng với mã này.", "An app with this id exists."),
        "admin.bank_apps.no_bank": (
            "Không có ngân hàng này trong danh mục.",
            "No such bank in the directory.",
        ),
        "admin.bank_apps.not_found": ("Không tìm thấy ứng dụng này.", "No app with this id."),
        "admin.bank_apps.bad_id": (
            "Mã ứng dụng chỉ gồm chữ thường, số và dấu gạch ngang (tối đa 32 ký tự).",
            "The app id is lower-case letters, digits and hyphens (at most 32).",
        ),
    }
)
