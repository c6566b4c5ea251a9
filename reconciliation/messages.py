"""Reconciliation's texts, Vietnamese first and English beside them (one table for the package; each part
keeps its keys under its own prefix: recon.import.*, recon.match.*, recon.exception.*, recon.day.*)."""

from core.i18n import register_messages

register_messages(
    {
        "recon.link": ("Đối soát ngân hàng", "Bank reconciliation"),
        # recon.import.* — statements in (importer, upload page, CLI, daily fetch)
        "recon.import.link": ("Sao kê ngân hàng", "Bank statements"),
        "recon.import.title": ("Sao kê ngân hàng", "Bank statements"),
        "recon.import.explain": (
            "Tải lên sao kê ngày của tài khoản thu (camt.053/054, MT940, CSV/Excel). Tệp đã nhập sẽ bị "
            "từ chối; dòng đã có từ sao kê khác không được ghi hai lần.",
            "Upload an account's daily statement (camt.053/054, MT940, CSV/Excel). A file imported before is "
            "refused; a line already known from another statement is not stored twice.",
        ),
        "recon.import.file": ("Tệp sao kê (tối đa {mb} MB)", "Statement file (at most {mb} MB)"),
        "recon.import.mapping_label": (
            "Mẫu cột CSV/Excel (không bắt buộc)",
            "CSV/Excel column mapping (optional)",
        ),
        "recon.import.account_label": (
            "Số tài khoản (nếu tệp CSV không ghi)",
            "Account number (if the CSV does not print it)",
        ),
        "recon.import.submit": ("Tải lên", "Upload"),
        "recon.import.uploading": ("Đang tải lên…", "Uploading…"),
        "recon.import.checking": ("Đang kiểm tra và ghi…", "Checking and storing…"),
        "recon.import.done": (
            "Đã nhập {statements} sao kê: {new} dòng mới, {dup} dòng đã có.",
            "Imported {statements} statement(s): {new} new lines, {dup} already known.",
        ),
        "recon.import.gap": ("Thiếu sao kê trong chuỗi", "Statement sequence gap"),
        "recon.import.failed": ("Không nhập được", "Not imported"),
        "recon.import.noscript": (
            "Trang này cần JavaScript để tải tệp; hoặc dùng `python main.py import-statement TỆP`.",
            "This page needs JavaScript to upload; or use `python main.py import-statement FILE`.",
        ),
        "recon.import.none": ("Chưa có sao kê nào.", "No statement yet."),
        "recon.import.account": ("Tài khoản", "Account"),
        "recon.import.period": ("Kỳ", "Period"),
        "recon.import.opening": ("Số dư đầu", "Opening"),
        "recon.import.closing": ("Số dư cuối", "Closing"),
        "recon.import.lines": ("Số dòng (mới)", "Lines (new)"),
        "recon.import.sequence": ("Số thứ tự", "Sequence"),
        "recon.import.source": ("Nguồn", "Source"),
        "recon.import.imported": ("Nhập lúc", "Imported"),
        "recon.import.duplicate": (
            "Tệp sao kê này đã được nhập trước đó.",
            "This statement file was imported before.",
        ),
        "recon.import.unbalanced": (
            "Số dư đầu cộng các dòng không bằng số dư cuối.",
            "Opening balance plus the lines does not equal the closing balance.",
        ),
        "recon.import.currency": ("Chỉ đối soát tài khoản VND.", "Only VND accounts are reconciled."),
        "recon.import.unknown_account": (
            "Tài khoản này không phải tài khoản thu của thành phố.",
            "This account is not a collection account of the city.",
        ),
        "recon.import.ambiguous_account": (
            "Thành phố có tài khoản số này ở nhiều ngân hàng.",
            "The city holds this account number at several banks.",
        ),
        "recon.import.unreadable": ("Không đọc được tệp sao kê.", "The statement file cannot be read."),
        "recon.import.empty": ("Tệp không có sao kê nào.", "The file holds no statement."),
        "recon.import.too_large": ("Tệp quá lớn.", "The file is too large."),
    }
)

# recon.match.*, recon.exception.*, recon.day.* — matching, exceptions with four eyes, day close per account
register_messages(
    {
        "recon.exception.link": ("Ngoại lệ đối soát", "Reconciliation exceptions"),
        "recon.exception.title": ("Ngoại lệ đối soát", "Reconciliation exceptions"),
        "recon.exception.one": ("Ngoại lệ", "Exception"),
        "recon.exception.none": ("Không có ngoại lệ nào.", "No exceptions."),
        "recon.exception.filter": ("Lọc", "Filter"),
        "recon.exception.kind": ("Loại", "Kind"),
        "recon.exception.kind.in_bank_not_ledger": (
            "Có ở ngân hàng, chưa có trong sổ",
            "In bank, not in ledger",
        ),
        "recon.exception.kind.in_ledger_not_bank": (
            "Có trong sổ, chưa có ở ngân hàng",
            "In ledger, not in bank",
        ),
        "recon.exception.kind.amount_differs": ("Số tiền lệch", "Amount differs"),
        "recon.exception.kind.duplicate": ("Ghi có hai lần", "Duplicate"),
        "recon.exception.kind.reversal": ("Bút toán đảo", "Reversal"),
        "recon.exception.kind.callback_conflict": ("Thông báo ngân hàng mâu thuẫn", "Callback conflict"),
        "recon.exception.state": ("Trạng thái", "State"),
        "recon.exception.state.open": ("Đang mở", "Open"),
        "recon.exception.state.resolved": ("Đã xử lý", "Resolved"),
        "recon.exception.state.carried": ("Chuyển kỳ sau", "Carried"),
        "recon.exception.state.all": ("Tất cả", "All"),
        "recon.exception.date": ("Ngày", "Date"),
        "recon.exception.amount": ("Chênh lệch với tài khoản ngân hàng", "Worth to the bank account"),
        "recon.exception.age": ("Tuổi", "Age"),
        "recon.exception.days": ("{n} ngày", "{n} days"),
        "recon.exception.escalated": ("quá hạn", "escalated"),
        "recon.exception.owner": ("Người phụ trách", "Owner"),
        "recon.exception.note": ("Ghi chú (bắt buộc)", "Note (required)"),
        "recon.exception.line": ("Dòng sao kê", "Bank line"),
        "recon.exception.entry": ("Bút toán", "Journal entry"),
        "recon.exception.entry_id": ("Mã bút toán (khi liên kết)", "Entry id (to link)"),
        "recon.exception.proposal": ("Đề xuất khớp", "Proposed match"),
        "recon.exception.action": ("Cách xử lý", "Action"),
        "recon.exception.action.link": ("Liên kết với bút toán", "Link to an entry"),
        "recon.exception.action.accept_match": ("Chấp nhận đề xuất khớp", "Accept the proposed match"),
        "recon.exception.action.expected": ("Đang chờ (hợp lệ)", "Expected"),
        "recon.exception.action.carry": ("Chuyển kỳ sau (nêu lý do)", "Carry forward (with a reason)"),
        "recon.exception.action.refund": ("Hoàn tiền (cần duyệt)", "Refund (needs approval)"),
        "recon.exception.action.adjustment": ("Điều chỉnh (cần duyệt)", "Adjustment (needs approval)"),
        "recon.exception.action.write_off": ("Xóa sổ (cần duyệt)", "Write off (needs approval)"),
        "recon.exception.resolve": ("Xử lý", "Resolve"),
        "recon.exception.saved": ("Đã ghi nhận.", "Recorded."),
        "recon.exception.pending": (
            "Đang chờ người duyệt: {action}, do {maker} đề xuất.",
            "Waiting for an approver: {action}, made by {maker}.",
        ),
        "recon.exception.not_open": ("Ngoại lệ này đã được xử lý.", "This exception is already resolved."),
        "recon.exception.note_required": ("Hãy ghi lý do.", "Write down why."),
        "recon.exception.link_what": ("Nhập mã bút toán cần liên kết.", "Enter the entry to link."),
        "recon.exception.link_other_account": (
            "Dòng sao kê và bút toán phải cùng tài khoản ngân hàng này.",
            "The line and the entry must both be on this bank account.",
        ),
        "recon.exception.already_matched": ("Dòng hoặc bút toán này đã được khớp.", "Already matched."),
        "recon.exception.no_proposal": ("Không có đề xuất khớp này.", "No such proposed match."),
        "recon.exception.nothing_to_post": (
            "Ngoại lệ này không làm lệch số dư; không có gì để hạch toán.",
            "This exception moves no money; there is nothing to post.",
        ),
        "recon.day.link": ("Khóa sổ theo tài khoản", "Account day close"),
        "recon.day.title": ("Khóa sổ ngày theo tài khoản thu", "Day close per collection account"),
        "recon.day.explain": (
            "Khóa được khi đã có sao kê của ngày, mọi ngoại lệ đã xử lý hoặc chuyển kỳ có lý do, và số dư "
            "cuối trong sổ bằng số dư cuối của sao kê. Khi mọi tài khoản đã khóa, sổ cái khóa ngày đó.",
            "A day closes when its statement is in, every exception is resolved or carried with a reason, "
            "and the ledger's closing balance equals the statement's. When every account has closed it, the "
            "ledger's day closes too.",
        ),
        "recon.day.bin": ("BIN ngân hàng", "Bank BIN"),
        "recon.day.account": ("Số tài khoản", "Account number"),
        "recon.day.date": ("Ngày", "Day"),
        "recon.day.close": ("Khóa sổ ngày", "Close the day"),
        "recon.day.saved": ("Đã khóa sổ ngày của tài khoản.", "The account's day is closed."),
        "recon.day.statement_closing": ("Số dư cuối", "Closing balance"),
        "recon.day.carried": ("Chuyển kỳ", "Carried"),
        "recon.day.closed_by": ("Người khóa", "Closed by"),
        "recon.day.already": ("Ngày này của tài khoản đã khóa.", "This account's day is already closed."),
        "recon.day.no_statement": (
            "Chưa nhập sao kê (có số dư cuối) của ngày này.",
            "No statement with a closing balance for this day has been imported.",
        ),
        "recon.day.open_exceptions": (
            "Còn {open_exceptions} ngoại lệ mở và {unreconciled_lines} dòng chưa đối soát.",
            "{open_exceptions} exception(s) still open and {unreconciled_lines} line(s) not reconciled.",
        ),
        "recon.day.balance_differs": (
            "Số dư cuối trong sổ {ledger_closing} khác số dư sao kê {statement_closing}: lệch {difference}.",
            "The ledger's closing balance {ledger_closing} differs from the statement's {statement_closing} "
            "by {difference}.",
        ),
    }
)
