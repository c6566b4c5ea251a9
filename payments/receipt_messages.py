"""vi/en texts of the e-receipt's legal fields, the receipt verification form and "find my payment" (issue
12 point 12). Imported by receipt_pages.py and find_payment.py: registered before a page is painted."""

from __future__ import annotations

from core.i18n import register_messages

register_messages(
    {
        # The receipt as a Vietnamese e-receipt for fees (Nghị định 123/2020/NĐ-CP, Thông tư 78/2021/TT-BTC)
        "receipts.doc_title": ("Biên lai điện tử thu phí, lệ phí", "E-receipt for fees and charges"),
        "receipts.template_code": ("Ký hiệu mẫu biên lai", "Receipt template code"),
        "receipts.series": ("Ký hiệu biên lai", "Receipt series"),
        "receipts.number": ("Số biên lai", "Receipt number"),
        "receipts.payer": ("Người nộp", "Payer"),
        "receipts.payer_unknown": (
            "Ngân hàng không cho biết tên người nộp",
            "The bank did not report the payer's name",
        ),
        "receipts.fee_name": ("Tên loại phí, lệ phí", "Fee or charge"),
        "receipts.legal_basis": ("Căn cứ thu", "Legal basis"),
        "receipts.agency": ("Cơ quan thu", "Collecting agency"),
        "receipts.issuer": ("Đơn vị phát hành biên lai", "Receipt issued by"),
        "receipts.tax_code": ("Mã số thuế", "Tax code"),
        "receipts.issued_at": ("Ngày lập biên lai (giờ Hà Nội)", "Issued on (Hà Nội time)"),
        "receipts.receipt_id": ("Mã biên lai", "Receipt id"),
        "receipts.numbered_later": (
            "Biên lai phát hành trước khi đánh số: ký hiệu và số được ghi vào hồ sơ sau, "
            "không nằm trong nội dung đã ký.",
            "Issued before receipts were numbered: its series and number were recorded later and are not "
            "part of the signed content.",
        ),
        # The verification form (/receipts/verify)
        "receipts.verify.form_title": ("Kiểm tra một biên lai", "Check a receipt"),
        "receipts.verify.label": (
            "Số biên lai hoặc nội dung mã QR",
            "Receipt number or the QR code's content",
        ),
        "receipts.verify.hint": (
            "Nhập ký hiệu và số biên lai (ví dụ HN-26E 0000123), mã biên lai, "
            "hoặc dán nội dung đọc được từ mã QR trên biên lai.",
            "Type the receipt's series and number (e.g. HN-26E 0000123), its id, "
            "or paste what a QR reader shows for the receipt's QR code.",
        ),
        "receipts.verify.submit": ("Kiểm tra", "Check"),
        "receipts.verify.photo_label": (
            "Hoặc gửi ảnh chụp mã QR trên biên lai",
            "Or send a photo of the receipt's QR code",
        ),
        "receipts.verify.photo_pick": ("Chụp hoặc chọn ảnh", "Take or choose a photo"),
        "receipts.verify.photo_submit": ("Gửi ảnh và kiểm tra", "Send the photo and check"),
        "receipts.verify.on_record_hint": (
            "Biên lai này do thành phố phát hành và chữ ký số hợp lệ. "
            "Hãy đối chiếu các thông tin dưới đây với biên lai bạn đang có.",
            "The city issued this receipt and its digital signature is valid. "
            "Compare the details below with the receipt you hold.",
        ),
        "receipts.verify.empty": (
            "Hãy nhập số biên lai hoặc nội dung mã QR.",
            "Type a receipt number or the QR code's content.",
        ),
        "receipts.verify.unrecognised": (
            "Không đọc được số biên lai. Hãy nhập ký hiệu và số, ví dụ HN-26E 0000123, "
            "hoặc dán nội dung mã QR.",
            "That is not a receipt number we can read. Type the series and number, e.g. HN-26E 0000123, "
            "or paste the QR code's content.",
        ),
        "receipts.verify.not_found": (
            "Không có biên lai nào mang số này. Hãy kiểm tra lại ký hiệu và số trên biên lai.",
            "There is no receipt with this number. Check the series and number on the receipt.",
        ),
        "receipts.verify.photo_unreadable": (
            "Không đọc được mã QR trong ảnh. Hãy chụp lại rõ hơn, chỉ một mã QR, hoặc nhập số biên lai.",
            "No QR code could be read in the photo. Take a sharper photo of one QR code, or type the "
            "receipt number.",
        ),
        "receipts.verify.photo_too_large": (
            "Ảnh quá lớn (tối đa 8 MB). Hãy chụp lại chỉ phần mã QR.",
            "The photo is too large (at most 8 MB). Take a photo of the QR code alone.",
        ),
        "receipts.verify.too_many": (
            "Bạn đã kiểm tra quá nhiều lần trong thời gian ngắn. Vui lòng thử lại sau một phút.",
            "Too many checks in a short time. Please try again in a minute.",
        ),
        # Find my payment (the public home and /find-payment)
        "find_payment.title": ("Tìm khoản thanh toán của tôi", "Find my payment"),
        "find_payment.label": ("Mã thanh toán", "Payment reference"),
        "find_payment.hint": (
            "Mã thanh toán in trên giấy hẹn hoặc tin nhắn, bắt đầu bằng CP, ví dụ CP7K2M9QX4R1T.",
            "The payment reference on your appointment slip or message, starting with CP, "
            "e.g. CP7K2M9QX4R1T.",
        ),
        "find_payment.submit": ("Tìm", "Find"),
        "find_payment.empty": ("Hãy nhập mã thanh toán.", "Type the payment reference."),
        "find_payment.malformed": (
            "Mã thanh toán không đúng. Mã gồm 13 ký tự, bắt đầu bằng CP; hãy kiểm tra lại từng ký tự.",
            "That payment reference is not right. It has 13 characters and starts with CP; check each one.",
        ),
        "find_payment.not_found": (
            "Không tìm thấy khoản thanh toán với mã này. Hãy kiểm tra lại mã trên giấy hẹn.",
            "No payment has this reference. Check the reference on your slip.",
        ),
        "find_payment.too_many": (
            "Bạn đã tìm quá nhiều lần trong thời gian ngắn. Vui lòng thử lại sau một phút.",
            "Too many searches in a short time. Please try again in a minute.",
        ),
    }
)
