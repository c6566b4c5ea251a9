"""vi/en texts of the shared page frame (core/templates/base.html): the confirmation dialog that
core/static/confirm.js opens for a form with `data-confirm`, the staff pages' confirmation questions, and the
staff login link in the public home's footer."""

from __future__ import annotations

from core.i18n import register_messages

register_messages(
    {
        "base.staff_login": ("Dành cho cán bộ: đăng nhập", "For staff: log in"),
        "confirm.title": ("Xác nhận", "Please confirm"),
        "confirm.yes": ("Đồng ý", "Yes, go ahead"),
        "confirm.cancel": ("Huỷ", "Cancel"),
        "confirm.retire_key": (
            "Ngừng dùng khoá {key_id} của {bank}? Thông báo ký bằng khoá này sẽ bị từ chối.",
            "Retire key {key_id} of {bank}? Notifications signed with it will be refused.",
        ),
        "confirm.deactivate_bank": (
            "Tạm ngừng nhận thông báo từ {bank}?",
            "Stop accepting notifications from {bank}?",
        ),
        "confirm.revoke_token": (
            "Thu hồi mã truy cập {name}? Hệ thống đang dùng mã này sẽ không gọi được nữa.",
            "Revoke the token {name}? Systems using it will be refused from now on.",
        ),
        "confirm.deactivate_staff": (
            "Khoá tài khoản {user}? Người này sẽ không đăng nhập được nữa.",
            "Disable the account {user}? They will no longer be able to log in.",
        ),
        "confirm.revoke_sessions": ("Đăng xuất {user} khỏi mọi thiết bị?", "Log {user} out on every device?"),
    }
)
