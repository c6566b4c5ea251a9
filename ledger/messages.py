"""The ledger's texts, Vietnamese and English."""

from core.i18n import register_messages

register_messages(
    {
        "ledger.from": ("Từ ngày", "From"),
        "ledger.to": ("Đến ngày", "To"),
        "ledger.opening": ("Số dư đầu kỳ", "Opening balance"),
        "ledger.debits": ("Phát sinh Nợ", "Debits"),
        "ledger.credits": ("Phát sinh Có", "Credits"),
        "ledger.closing": ("Số dư cuối kỳ", "Closing balance"),
        "ledger.entries": ("Bút toán của tài khoản", "Journal entries of the account"),
        "ledger.entry": ("Bút toán", "Entry"),
        "ledger.date": ("Ngày hạch toán", "Business date"),
        "ledger.memo": ("Diễn giải", "Memo"),
        "ledger.amount": ("Số tiền", "Amount"),
        "ledger.counter": ("Tài khoản đối ứng", "Counter-accounts"),
        "ledger.refs": ("Liên kết", "Links"),
        "ledger.ref.reference": ("Yêu cầu thanh toán", "Payment request"),
        "ledger.ref.session": ("Lượt gửi xe", "Parking session"),
        "ledger.ref.payment_request": ("Mã yêu cầu", "Request id"),
        "ledger.no_entries": ("Không có bút toán trong kỳ.", "No entries in the period."),
        "ledger.truncated": (
            "Chỉ hiện 500 bút toán đầu; hãy thu hẹp kỳ.",
            "Only the first 500 entries; narrow the period.",
        ),
        "ledger.back": ("Về bảng cân đối thử", "Back to the trial balance"),
        "ledger.days.title": ("Khóa sổ ngày hạch toán", "Day close"),
        "ledger.days.link": ("Khóa sổ ngày", "Day close"),
        "ledger.days.explain": (
            "Khóa sổ một ngày thì ngày đó và mọi ngày trước đó không nhận thêm bút toán; điều chỉnh bằng "
            "bút toán đảo trong ngày còn mở. Chỉ khóa được ngày đã kết thúc (giờ Hà Nội).",
            "Closing a day freezes it and every day before it; corrections are reversing entries in an open "
            "day. Only a day that has ended (Hà Nội time) can be closed.",
        ),
        "ledger.days.closed_through": ("Đã khóa sổ đến hết ngày", "Closed through"),
        "ledger.days.none": ("chưa khóa ngày nào", "no day closed yet"),
        "ledger.days.date": ("Ngày cần khóa sổ", "Day to close"),
        "ledger.days.close": ("Khóa sổ", "Close the day"),
        "ledger.days.saved": ("Đã khóa sổ.", "The day is closed."),
        "ledger.days.closed_at": ("Lúc khóa", "Closed at"),
        "ledger.days.closed_by": ("Người khóa", "Closed by"),
        "ledger.days.accounts": ("Số tài khoản trong ảnh chụp số dư", "Accounts in the balance snapshot"),
        "ledger.close.not_over": (
            "Ngày này chưa kết thúc theo giờ Hà Nội; chỉ khóa sổ được ngày đã qua.",
            "This day has not ended in Hà Nội yet; only a past day can be closed.",
        ),
        "ledger.close.already": (
            "Ngày này đã được khóa sổ (cùng mọi ngày trước đó).",
            "This day is already closed (with every day before it).",
        ),
    }
)
