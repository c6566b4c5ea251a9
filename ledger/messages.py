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
    }
)
