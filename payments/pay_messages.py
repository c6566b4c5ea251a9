"""The pay page's texts added for issue 12 (paying from the same phone, partial payments, a slow bank).
Kept out of payments/messages.py so they can change without touching the package's shared table; imported by
pay_pages.py, which is always loaded."""

from __future__ import annotations

from core.i18n import register_messages

register_messages(
    {
        "pay.apps.title": ("Mở ứng dụng ngân hàng trên điện thoại này", "Open a banking app on this phone"),
        "pay.apps.hint": (
            "Chọn ứng dụng của bạn: số tài khoản, số tiền và nội dung chuyển khoản được điền sẵn "
            "(một số ứng dụng chỉ mở ra, khi đó hãy lưu ảnh QR rồi quét từ thư viện ảnh).",
            "Pick your app: the account, amount and transfer note are filled in (some apps only open; "
            "then save the QR image and scan it from your photos).",
        ),
        "pay.apps.open": ("Mở {app}", "Open {app}"),
        "pay.save_qr": ("Lưu ảnh QR", "Save the QR image"),
        "pay.copy.account": ("Sao chép số tài khoản", "Copy the account number"),
        "pay.copy.amount": ("Sao chép số tiền", "Copy the amount"),
        "pay.copy.note": ("Sao chép nội dung chuyển khoản", "Copy the transfer note"),
        "pay.copy.done": ("Đã chép", "Copied"),
        "pay.copy.failed": (
            "Không chép được. Hãy giữ ngón tay trên chữ để chọn rồi chép.",
            "Could not copy. Press and hold the text to select and copy it.",
        ),
        "pay.amount_remaining": ("Số tiền còn phải trả", "Amount still to pay"),
        "pay.partial_headline": (
            "Đã nhận {received}, còn phải trả {remaining}.",
            "{received} received; {remaining} still to pay.",
        ),
        "pay.slow": (
            "Ngân hàng đang xử lý…, mã QR vẫn dùng được đến {time}.",
            "The bank is still processing…; the QR code stays valid until {time}.",
        ),
        "pay.reconnecting": (
            "Mất kết nối, đang kết nối lại… Trang vẫn tự kiểm tra trạng thái thanh toán.",
            "Connection lost, reconnecting… The page keeps checking the payment status.",
        ),
        "pay.remaining_changed": (
            "Số tiền còn phải trả đã thay đổi. Hãy dùng mã QR mới trên trang thanh toán.",
            "The amount still to pay has changed. Use the new QR code on the pay page.",
        ),
    }
)
