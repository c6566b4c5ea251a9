"""Payments' vi/en texts: one table for the package (core.i18n.register_messages). Route modules import it
(`from payments import messages as _messages`) so the texts are registered before a page is painted."""

from __future__ import annotations

from core.i18n import register_messages
from ledger.accounts import fee_revenue

# The citizen's pay page and receipts (pay_pages.py, receipt_pages.py)
register_messages(
    {
        "pay.title": ("Thanh toán", "Payment"),
        "pay.amount": ("Số tiền cần thanh toán", "Amount to pay"),
        "pay.amount_paid": ("Số tiền đã thanh toán", "Amount paid"),
        "pay.details": ("Thông tin", "Details"),
        "pay.payee": ("Đơn vị thụ hưởng", "Payee"),
        "pay.reference": ("Mã thanh toán", "Payment reference"),
        "pay.scan": (
            "Quét mã bằng ứng dụng ngân hàng bất kỳ",
            "Scan with any Vietnamese banking app",
        ),
        "pay.qr_alt": ("Mã VietQR để thanh toán {amount}", "VietQR code to pay {amount}"),
        "pay.download_qr": ("Tải mã QR", "Download the QR code"),
        "pay.manual": ("Hoặc chuyển khoản thủ công", "Or transfer by hand"),
        "pay.bank": ("Ngân hàng", "Bank"),
        "pay.account": ("Số tài khoản", "Account number"),
        "pay.holder": ("Chủ tài khoản", "Account holder"),
        "pay.transfer_amount": ("Số tiền", "Amount"),
        "pay.note": ("Nội dung chuyển khoản", "Transfer note"),
        "pay.note_hint": (
            "Ghi đúng mã này trong nội dung chuyển khoản để hệ thống tự ghi nhận.",
            "Type exactly this reference in the transfer note so the payment is matched automatically.",
        ),
        "pay.with_simulator": (
            "Thanh toán bằng ngân hàng mô phỏng (SIMULATED – không phải tiền thật)",
            "Pay with the simulated bank (SIMULATED – no real money)",
        ),
        "pay.copy": ("Sao chép", "Copy"),
        "pay.copied": ("Đã sao chép", "Copied"),
        "pay.expires_in": ("Hết hạn sau", "Expires in"),
        "pay.expires_at": ("Hạn thanh toán: {time} (giờ Hà Nội)", "Pay by {time} (Hà Nội time)"),
        "pay.status.pending": ("Đang chờ thanh toán", "Waiting for payment"),
        "pay.status.partial": ("Đã nhận một phần", "Partly paid"),
        "pay.status.paid": ("Đã thanh toán", "Paid"),
        "pay.status.expired": ("Đã hết hạn", "Expired"),
        "pay.status.cancelled": ("Đã hủy", "Cancelled"),
        "pay.received": ("Đã nhận", "Received"),
        "pay.remaining": ("Còn phải trả", "Still to pay"),
        "pay.partial_hint": (
            "Ngân hàng mới chuyển một phần. Mã QR dưới đây là cho số tiền còn lại.",
            "Only part of the amount has arrived. The QR code below is for the rest.",
        ),
        "pay.partial_reload": ("Tải lại để lấy mã QR cho số còn lại", "Reload for a QR code for the rest"),
        "pay.paid_hint": (
            "Cảm ơn bạn. Khoản thanh toán đã được ghi nhận.",
            "Thank you. Your payment has been received.",
        ),
        "pay.receipt": ("Xem biên lai điện tử", "View the e-receipt"),
        "pay.subsidised": (
            "Khoản phí này do chương trình của thành phố chi trả",
            "This fee was paid by the city's programme",
        ),
        "pay.subsidised_hint": ("Bạn không cần chuyển tiền.", "You do not need to transfer anything."),
        "pay.fee": ("Mức phí", "Fee"),
        "pay.subsidy": ("Thành phố hỗ trợ", "Paid by the city"),
        "pay.expired_hint": (
            "Yêu cầu thanh toán này đã hết hạn. Xin đừng chuyển tiền; hãy đề nghị một yêu cầu mới "
            "tại nơi bạn nộp hồ sơ.",
            "This payment request has expired. Please do not transfer money; ask for a new request "
            "where you applied.",
        ),
        "pay.cancelled_hint": (
            "Yêu cầu thanh toán này đã bị hủy. Xin đừng chuyển tiền.",
            "This payment request was cancelled. Please do not transfer money.",
        ),
        "pay.refund_hint": (
            "Số tiền {amount} đã nhận sẽ được hoàn lại.",
            "The {amount} already received will be refunded.",
        ),
        "pay.unknown": ("Không tìm thấy yêu cầu thanh toán", "Payment request not found"),
        "pay.unknown_hint": (
            "Vui lòng kiểm tra lại đường dẫn hoặc mã thanh toán bạn nhận được.",
            "Please check the link or the reference you were given.",
        ),
        "pay.live": (
            "Trang tự cập nhật khi tiền đến, không cần tải lại.",
            "This page updates itself when the money arrives; no need to reload.",
        ),
        "receipt.title": ("Biên lai thanh toán điện tử", "Electronic payment receipt"),
        "receipt.number": ("Số biên lai", "Receipt number"),
        "receipt.issuer": ("Đơn vị phát hành", "Issued by"),
        "receipt.reference": ("Mã thanh toán", "Payment reference"),
        "receipt.purpose": ("Nội dung", "Purpose"),
        "receipt.payer_reference": ("Mã hồ sơ", "Case reference"),
        "receipt.fee": ("Mức phí", "Fee"),
        "receipt.subsidy": ("Thành phố hỗ trợ", "Paid by the city"),
        "receipt.paid": ("Số tiền đã thanh toán", "Amount paid"),
        "receipt.payee": ("Đơn vị thụ hưởng", "Payee"),
        "receipt.settled_at": ("Thời điểm thanh toán (giờ Hà Nội)", "Paid at (Hà Nội time)"),
        "receipt.transactions": ("Giao dịch ngân hàng", "Bank transactions"),
        "receipt.txn_id": ("Mã giao dịch", "Transaction id"),
        "receipt.txn_time": ("Thời gian", "Time"),
        "receipt.txn_amount": ("Số tiền", "Amount"),
        "receipt.no_transactions": (
            "Không có — khoản phí do chương trình của thành phố chi trả.",
            "None — the fee was paid by the city's programme.",
        ),
        "receipt.scan_to_verify": ("Quét mã để kiểm tra biên lai", "Scan to verify this receipt"),
        "receipt.signed_by": (
            "Ký số Ed25519 bằng khóa của thành phố, mã khóa {key_id}",
            "Signed with the city's Ed25519 key, key id {key_id}",
        ),
        "receipt.print": ("In biên lai", "Print"),
        "receipt.signed_data": ("Dữ liệu đã ký (để tự kiểm tra)", "Signed data (to check it yourself)"),
        "receipt.body": ("Nội dung đã ký", "Signed text"),
        "receipt.signature": ("Chữ ký (base64url)", "Signature (base64url)"),
        "receipt.public_key": ("Khóa công khai của thành phố", "The city's public key"),
        "receipt.verify_title": ("Kiểm tra biên lai", "Verify a receipt"),
        "receipt.valid": ("Biên lai HỢP LỆ", "This receipt is VALID"),
        "receipt.valid_hint": (
            "Chữ ký khớp với khóa của thành phố và với biên lai đã phát hành.",
            "The signature matches the city's key and the receipt that was issued.",
        ),
        "receipt.invalid": ("Biên lai KHÔNG hợp lệ", "This receipt is NOT valid"),
        "receipt.invalid_hint": (
            "Chữ ký không khớp: biên lai có thể đã bị sửa đổi hoặc giả mạo.",
            "The signature does not match: the receipt may have been altered or forged.",
        ),
        "receipt.unknown": ("Không tìm thấy biên lai", "Receipt not found"),
        "receipt.unknown_hint": (
            "Không có biên lai nào với số này. Hãy kiểm tra lại mã bạn quét.",
            "There is no receipt with this number. Check the code you scanned.",
        ),
        "receipt.view": ("Xem biên lai", "View the receipt"),
    }
)

# Fee catalogue, subsidy programmes, collection accounts (catalogue_pages.py) and finance (finance_pages.py)
register_messages(
    {
        "admin.fees.link": ("Danh mục phí, lệ phí", "Fee catalogue"),
        "admin.fees.title": ("Danh mục phí, lệ phí", "Fee catalogue"),
        "admin.fees.code": ("Mã", "Code"),
        "admin.fees.name": ("Tên", "Name"),
        "admin.fees.name_vi": ("Tên tiếng Việt", "Vietnamese name"),
        "admin.fees.name_en": ("Tên tiếng Anh", "English name"),
        "admin.fees.amount": ("Số tiền (đồng)", "Amount (đồng)"),
        "admin.fees.agency": ("Cơ quan thu", "Collecting agency"),
        "admin.fees.revenue_account": ("Tài khoản doanh thu", "Revenue account"),
        "admin.fees.revenue_hint": (
            f"Để trống: {fee_revenue('<mã>')}",
            f"Leave empty for {fee_revenue('<code>')}",
        ),
        "admin.fees.collection_account": ("Tài khoản thu", "Collection account"),
        "admin.fees.window": ("Thời gian áp dụng", "Active window"),
        "admin.fees.active_from": ("Áp dụng từ (giờ Hà Nội)", "Active from (Hà Nội time)"),
        "admin.fees.active_until": (
            "Áp dụng đến (giờ Hà Nội, để trống: không thời hạn)",
            "Active until (Hà Nội time, empty: open-ended)",
        ),
        "admin.fees.open_ended": ("không thời hạn", "open-ended"),
        "admin.fees.state": ("Trạng thái", "State"),
        "admin.fees.state_active": ("đang áp dụng", "active"),
        "admin.fees.state_inactive": ("không áp dụng", "not active"),
        "admin.fees.create": ("Thêm khoản phí", "Add a fee"),
        "admin.fees.edit": ("Sửa", "Edit"),
        "admin.fees.save": ("Lưu", "Save"),
        "admin.fees.saved": ("Đã lưu.", "Saved."),
        "admin.fees.empty": ("Chưa có khoản phí nào.", "No fees yet."),
        "admin.fees.edit_note": (
            "Yêu cầu thanh toán đã phát hành giữ nguyên số tiền cũ.",
            "Payment requests already issued keep their amount.",
        ),
        "admin.accounts.title": ("Tài khoản thu của thành phố", "The city's collection accounts"),
        "admin.accounts.code": ("Mã", "Code"),
        "admin.accounts.bank": ("Ngân hàng", "Bank"),
        "admin.accounts.number": ("Số tài khoản", "Account number"),
        "admin.accounts.holder": ("Tên chủ tài khoản (chữ in hoa không dấu)", "Holder name (ASCII capitals)"),
        "admin.accounts.active": ("đang dùng", "in use"),
        "admin.accounts.inactive": ("ngừng dùng", "not in use"),
        "admin.accounts.create": ("Thêm tài khoản thu", "Add a collection account"),
        "admin.subsidies.link": ("Chương trình hỗ trợ phí", "Subsidy programmes"),
        "admin.subsidies.title": ("Chương trình hỗ trợ phí", "Subsidy programmes"),
        "admin.subsidies.code": ("Mã", "Code"),
        "admin.subsidies.name": ("Tên", "Name"),
        "admin.subsidies.fee": ("Khoản phí", "Fee"),
        "admin.subsidies.channel": ("Kênh (để trống: mọi kênh)", "Channel (empty: every channel)"),
        "admin.subsidies.any_channel": ("mọi kênh", "every channel"),
        "admin.subsidies.per_request": ("Hỗ trợ mỗi yêu cầu (đồng)", "Paid per request (đồng)"),
        "admin.subsidies.each": ("mỗi yêu cầu", "per request"),
        "admin.subsidies.budget_cap": ("Hạn mức ngân sách (đồng)", "Budget cap (đồng)"),
        "admin.subsidies.used": ("Đã dùng", "Used"),
        "admin.subsidies.cap": ("Hạn mức", "Cap"),
        "admin.subsidies.remaining": ("Còn lại", "Remaining"),
        "admin.subsidies.window": ("Thời gian hiệu lực", "Validity"),
        "admin.subsidies.valid_from": ("Hiệu lực từ (giờ Hà Nội)", "Valid from (Hà Nội time)"),
        "admin.subsidies.valid_until": ("Hiệu lực đến (giờ Hà Nội)", "Valid until (Hà Nội time)"),
        "admin.subsidies.open": ("đang hiệu lực", "open"),
        "admin.subsidies.closed": ("hết/chưa hiệu lực", "not open"),
        "admin.subsidies.create": ("Tạo chương trình hỗ trợ", "Create a programme"),
        "admin.subsidies.empty": ("Chưa có chương trình nào.", "No programmes yet."),
        "admin.subsidies.cap_note": (
            "Hạn mức không thể thấp hơn số đã dùng.",
            "The cap cannot go below what has been used.",
        ),
        "finance.payments.link": ("Yêu cầu thanh toán và tiền chờ hoàn", "Payment requests and refunds"),
        "finance.payments.title": ("Yêu cầu thanh toán", "Payment requests"),
        "finance.payments.status": ("Trạng thái", "Status"),
        "finance.payments.all": ("Tất cả", "All"),
        "finance.payments.fee": ("Khoản phí", "Fee"),
        "finance.payments.date_from": ("Từ ngày", "From"),
        "finance.payments.date_to": ("Đến ngày", "To"),
        "finance.payments.underpaid": (
            "Chỉ yêu cầu trả thiếu đang tạm giữ",
            "Only underpaid requests on hold",
        ),
        "finance.payments.show": ("Lọc", "Filter"),
        "finance.payments.reference": ("Mã thanh toán", "Reference"),
        "finance.payments.purpose": ("Nội dung", "Purpose"),
        "finance.payments.amount_due": ("Phải trả", "Due"),
        "finance.payments.subsidised": ("ngân sách hỗ trợ {amount}", "{amount} paid by the city"),
        "finance.payments.received": ("Đã nhận", "Received"),
        "finance.payments.created": ("Tạo lúc", "Created"),
        "finance.payments.count": ("{shown} / {total} yêu cầu", "{shown} of {total} requests"),
        "finance.payments.empty": ("Không có yêu cầu nào phù hợp.", "No matching requests."),
        "finance.payments.status.pending": ("chờ thanh toán", "pending"),
        "finance.payments.status.paid": ("đã thanh toán", "paid"),
        "finance.payments.status.expired": ("hết hạn", "expired"),
        "finance.payments.status.cancelled": ("đã hủy", "cancelled"),
        "finance.payments.status.underpaid": ("trả thiếu, đang giữ", "underpaid, held"),
        "finance.payments.cancelled_by": ("{actor} hủy", "cancelled by {actor}"),
        "finance.payments.refunds_title": (
            "Tiền treo và tiền chờ hoàn trả",
            "Money in suspense and to refund",
        ),
        "finance.payments.refunds_note": (
            "Các khoản tiền ngân hàng báo có nhưng không thể ghi nhận cho một yêu cầu đang chờ.",
            "Credits the bank reported that could not settle a pending request.",
        ),
        "finance.payments.amount": ("Số tiền", "Amount"),
        "finance.payments.to_refund": ("Phải hoàn", "To refund"),
        "finance.payments.bank_txn": ("Mã giao dịch ngân hàng", "Bank transaction id"),
        "finance.payments.narrative": ("Nội dung chuyển khoản", "Transfer note"),
        "finance.payments.outcome": ("Kết quả", "Outcome"),
        "finance.payments.booked": ("Ghi có lúc", "Booked"),
        "finance.payments.refunds_total": ("Tổng phải hoàn", "Total to refund"),
        "finance.payments.refunds_empty": ("Không có khoản nào.", "None."),
        "finance.payments.outcome.late": ("trả sau khi hết hạn", "paid after expiry"),
        "finance.payments.outcome.cancelled": ("trả cho yêu cầu đã hủy", "paid a cancelled request"),
        "finance.payments.outcome.already_paid": ("trả lần nữa", "paid twice"),
        "finance.payments.outcome.unknown_reference": ("không rõ mã thanh toán", "unknown reference"),
        "finance.payments.outcome.overpaid": ("trả thừa", "overpaid"),
        "finance.payments.limit_note": (
            "Hiển thị tối đa {limit} dòng mới nhất.",
            "Showing at most the newest {limit} rows.",
        ),
    }
)

# Bank profiles and keys (bank_profiles_pages.py)
register_messages(
    {
        "banks.title": ("Ngân hàng và cổng thanh toán", "Banks and gateways"),
        "banks.code": ("Mã", "Code"),
        "banks.name": ("Tên", "Name"),
        "banks.scheme": ("Giao thức", "Scheme"),
        "banks.keys": ("Khóa", "Keys"),
        "banks.active_key": ("đang dùng", "active"),
        "banks.retired": ("đã thu hồi", "retired"),
        "banks.retire": ("Thu hồi", "Retire"),
        "banks.add_key": ("Thêm khóa", "Add key"),
        "banks.key_id": ("Mã khóa", "Key id"),
        "banks.public_key": ("Khóa công khai (PEM)", "Public key (PEM)"),
        "banks.secret": ("Khóa bí mật dùng chung (VNPay/payOS)", "Shared secret (VNPay/payOS)"),
        "banks.create": ("Đăng ký ngân hàng", "Register a bank"),
        "banks.credited_account": ("Tài khoản nhận (cổng thanh toán)", "Credited account (gateways)"),
        "banks.merchant_code": ("Mã website (VNPay TmnCode)", "Merchant code (VNPay TmnCode)"),
        "banks.tolerance": ("Dung sai thời gian (giây)", "Timestamp tolerance (s)"),
        "banks.saved": ("Đã lưu.", "Saved."),
        "banks.inactive": (
            "Chưa kích hoạt: mọi thông báo từ ngân hàng này bị từ chối.",
            "Inactive: every callback from this bank is refused.",
        ),
        "banks.no_key": (
            "Không có khóa đang dùng: mọi thông báo bị từ chối.",
            "No active key: every callback is refused.",
        ),
        "banks.activate": ("Kích hoạt", "Activate"),
        "banks.add_key_first": (
            "Thêm một khóa bên dưới rồi mới kích hoạt được.",
            "Add a key below before activating.",
        ),
        "banks.deactivate": ("Ngừng kích hoạt", "Deactivate"),
        "link.banks": ("Ngân hàng và khóa", "Banks and keys"),
    }
)

# Refusals of the catalogue's service (payments/catalogue.py), as a person reads them beside a field
register_messages(
    {
        "catalogue.fee_code_taken": ("Đã có khoản phí với mã này.", "A fee with this code exists."),
        "catalogue.programme_taken": (
            "Đã có chương trình hỗ trợ với mã này.",
            "A subsidy programme with this code exists.",
        ),
        "catalogue.account_code_taken": (
            "Đã có tài khoản thu với mã này.",
            "A collection account with this code exists.",
        ),
        "catalogue.account_taken": (
            "Tài khoản này tại ngân hàng này đã được đăng ký.",
            "This account at this bank is already registered.",
        ),
        "catalogue.no_bank": ("Không có ngân hàng với mã BIN này.", "No bank with this BIN."),
        "catalogue.no_active_bank": (
            "Không có ngân hàng đang hoạt động với mã BIN này.",
            "No active bank with this BIN.",
        ),
        "catalogue.bank_inactive": (
            "Ngân hàng của tài khoản này đã ngừng hoạt động.",
            "Its bank is no longer active.",
        ),
        "catalogue.no_fee": ("Không có khoản phí với mã này.", "No fee with this code."),
        "catalogue.no_active_account": (
            "Không có tài khoản thu đang dùng với mã này.",
            "No collection account in use with this code.",
        ),
        "catalogue.window": (
            "Thời điểm kết thúc phải sau thời điểm bắt đầu.",
            "The end must come after the start.",
        ),
        "catalogue.over_amount_cap": (
            "Vượt quá mức tối đa cho một khoản thanh toán.",
            "Above the most a single payment may be.",
        ),
        "catalogue.cap_below_used": (
            "Hạn mức không thể thấp hơn số đã dùng.",
            "The cap cannot go below what has been used.",
        ),
        "catalogue.nothing_to_change": ("Không có thay đổi nào để lưu.", "Nothing to change."),
    }
)

# Refusals of bank profiles and keys (payments/bank_profiles.py)
register_messages(
    {
        "banks.code_taken": ("Đã có ngân hàng với mã này.", "A bank profile with this code exists."),
        "banks.key_id_taken": (
            "Ngân hàng này đã có khóa với mã này.",
            "This bank already has a key with this id.",
        ),
        "banks.two_active": (
            "Ngân hàng đã có hai khóa đang dùng; hãy thu hồi một khóa trước.",
            "The bank already has two active keys; retire one first.",
        ),
        "banks.unknown_bin": ("Không có ngân hàng với mã BIN này.", "No bank with this BIN."),
        "banks.needs_key": (
            "Chỉ kích hoạt được khi có khóa đang dùng: hãy thêm khóa trước.",
            "A bank profile can be active only with an active key: add one first.",
        ),
        "banks.gateway_account": (
            "Cổng thanh toán cần tài khoản nhận tiền.",
            "A gateway profile needs the account it credits.",
        ),
        "banks.not_collection_account": (
            "Không phải tài khoản thu đã đăng ký tại ngân hàng này.",
            "Not a registered collection account at this bank.",
        ),
        "banks.unknown_scheme": ("Giao thức không được hỗ trợ.", "Not a supported scheme."),
        "banks.public_key_needed": (
            "Ngân hàng theo giao thức này đăng ký khóa công khai (PEM), không dùng khóa bí mật.",
            "Banks of this scheme register a public key (PEM), not a secret.",
        ),
        "banks.secret_needed": (
            "Cổng thanh toán này dùng khóa bí mật dùng chung, không dùng khóa công khai.",
            "This gateway registers a shared secret, not a public key.",
        ),
        "banks.bad_key": (
            "Không phải khóa công khai dùng được: cần PEM (-----BEGIN PUBLIC KEY-----) Ed25519, hoặc RSA "
            "2048–4096 bit với số mũ 65537.",
            "Not a usable public key: a PEM (-----BEGIN PUBLIC KEY-----) of Ed25519, or RSA of 2048–4096 "
            "bits with exponent 65537.",
        ),
    }
)

# Callbacks needing a person, on the finance page (callback_issues.py)
register_messages(
    {
        "callbacks.conflicts_title": (
            "Giao dịch ngân hàng báo lại với nội dung khác",
            "Bank transactions reported again with different content",
        ),
        "callbacks.conflicts_note": (
            "Lần ghi sổ đầu tiên được giữ nguyên. Đối chiếu với sao kê ngân hàng trước khi xử lý.",
            "The first booking stands. Check against the bank statement before acting.",
        ),
        "callbacks.failed_title": (
            "Thông báo ngân hàng không xử lý được",
            "Bank callbacks that could not be processed",
        ),
        "callbacks.failed_note": (
            "Đã thử lại nhiều lần rồi dừng; tiền chưa được ghi sổ. Đối chiếu với sao kê.",
            "Retried several times, then stopped; nothing was booked. Check against the statement.",
        ),
        "callbacks.field": ("Trường", "Field"),
        "callbacks.field.amount": ("Số tiền", "Amount"),
        "callbacks.field.credited_bin": ("Ngân hàng nhận (BIN)", "Credited bank (BIN)"),
        "callbacks.field.credited_account": ("Tài khoản nhận", "Credited account"),
        "callbacks.field.reference": ("Mã thanh toán", "Payment reference"),
        "callbacks.field.booked_at": ("Thời điểm ghi có", "Booked at"),
        "callbacks.first": ("Lần đầu", "First"),
        "callbacks.now": ("Lần sau", "Later"),
        "callbacks.detected": ("Phát hiện lúc", "Detected"),
        "callbacks.attempts": ("Số lần thử", "Attempts"),
        "callbacks.error": ("Lỗi", "Error"),
        "callbacks.more": ("và {count} mục khác", "and {count} more"),
        "finance.payments.outcome.over_cap": (
            "vượt ngưỡng kiểm soát, chờ xem xét",
            "above the sanity cap, held for review",
        ),
        "finance.payments.outcome.wrong_account": (
            "chuyển vào tài khoản khác của thành phố",
            "paid into another city account",
        ),
    }
)
