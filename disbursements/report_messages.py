"""Texts of the batch pages (disb.bp.*) and the reports (disb.rpt.*), Vietnamese first, English beside them.
The refusal codes' meanings (disb.rpt.code.*) are the ISO 20022 external status reason codes execution
records."""

from core.i18n import register_messages

register_messages(
    {
        # Refusal codes (ISO 20022 ExternalStatusReason1Code) and what follows from each.
        "disb.rpt.code.AC01": ("Sai số tài khoản", "Incorrect account number"),
        "disb.rpt.code.AC04": ("Tài khoản đã đóng", "Closed account"),
        "disb.rpt.code.AC06": ("Tài khoản bị phong tỏa", "Blocked account"),
        "disb.rpt.code.BE01": ("Tên chủ tài khoản không khớp", "Account holder's name does not match"),
        "disb.rpt.code.MD07": ("Người hưởng đã mất", "Beneficiary deceased"),
        "disb.rpt.code.AM05": ("Lệnh chi trùng lặp", "Duplicate payment"),
        "disb.rpt.code.unknown": ("Mã lý do khác ({code})", "Other reason code ({code})"),
        # Hold reasons execution adds at send time (the roster's own are disb.hold.*, messages.py).
        "disb.rpt.hold.account_changed": (
            "Tài khoản đã đổi sau khi duyệt (chưa xác minh)",
            "Account changed after approval (not verified)",
        ),
        # Item states.
        "disb.bp.item.held": ("Giữ lại", "Held"),
        "disb.bp.item.ready": ("Sẵn sàng", "Ready"),
        "disb.bp.item.sending": ("Đang gửi", "Sending"),
        "disb.bp.item.sent_unknown": ("Đã gửi, chưa rõ kết quả", "Sent, outcome unknown"),
        "disb.bp.item.paid": ("Đã chi", "Paid"),
        "disb.bp.item.failed": ("Bị từ chối", "Refused"),
        "disb.bp.item.returned": ("Bị trả lại", "Returned"),
        "disb.bp.item.cancelled": ("Đã hủy", "Cancelled"),
        # Batch states.
        "disb.bp.state.awaiting_approval": ("Chờ phê duyệt", "Awaiting approval"),
        "disb.bp.state.approved": ("Đã phê duyệt", "Approved"),
        "disb.bp.state.executing": ("Đang chi trả", "Executing"),
        "disb.bp.state.completed": ("Hoàn tất", "Completed"),
        "disb.bp.state.cancelled": ("Đã hủy", "Cancelled"),
        # Batches list and build form.
        "disb.bp.link": ("Bảng kê chi trả", "Disbursement batches"),
        "disb.bp.list.title": ("Bảng kê chi trả an sinh", "Disbursement batches"),
        "disb.bp.list.empty": ("Chưa có bảng kê nào.", "No batches yet."),
        "disb.bp.col.id": ("Số", "No."),
        "disb.bp.col.programme": ("Chế độ", "Programme"),
        "disb.bp.col.period": ("Kỳ", "Period"),
        "disb.bp.col.state": ("Trạng thái", "State"),
        "disb.bp.col.count": ("Số người", "Items"),
        "disb.bp.col.sum": ("Tổng tiền", "Total"),
        "disb.bp.col.held": ("Giữ lại", "Held"),
        "disb.bp.col.maker": ("Người lập", "Made by"),
        "disb.bp.col.created": ("Lập lúc", "Created"),
        "disb.bp.build.title": ("Lập bảng kê mới", "Build a batch"),
        "disb.bp.build.programme": ("Chế độ", "Programme"),
        "disb.bp.build.period": ("Kỳ chi trả (tháng)", "Period (month)"),
        "disb.bp.build.submit": ("Lập bảng kê", "Build batch"),
        "disb.bp.build.explain": (
            "Bảng kê lấy mọi người hưởng đang hưởng chế độ; ai chưa có tài khoản đã xác minh sẽ bị giữ lại "
            "kèm lý do. Tổng số người và tổng tiền được chốt khi lập.",
            "The batch takes everyone enrolled in the programme; whoever has no verified account is held out "
            "with the reason. The control count and sum are fixed when it is built.",
        ),
        "disb.bp.built": (
            "Đã lập bảng kê số {id}: {count} người, {sum}; {held} người bị giữ lại.",
            "Batch {id} built: {count} items, {sum}; {held} held out.",
        ),
        # One batch.
        "disb.bp.title": ("Bảng kê số {id}", "Batch {id}"),
        "disb.bp.back": ("Về danh sách bảng kê", "Back to the batches"),
        "disb.bp.control": ("Tổng kiểm soát", "Control totals"),
        "disb.bp.control_line": ("{count} người · {sum}", "{count} items · {sum}"),
        "disb.bp.progress": ("Tiến độ chi trả", "Progress"),
        "disb.bp.live": ("Cập nhật trực tiếp", "Live"),
        "disb.bp.live_off": ("Đã dừng cập nhật", "Not updating"),
        "disb.bp.counts": ("Số khoản theo trạng thái", "Items per state"),
        "disb.bp.failed_by_reason": ("Bị từ chối theo lý do", "Refused, by reason"),
        "disb.bp.held_list": ("Người hưởng bị giữ lại", "Held-out beneficiaries"),
        "disb.bp.held_none": ("Không ai bị giữ lại.", "Nobody is held out."),
        "disb.bp.held_more": ("… và {n} người nữa (xem CSV).", "… and {n} more (see the CSV)."),
        "disb.bp.col.beneficiary": ("Người hưởng", "Beneficiary"),
        "disb.bp.col.national_id": ("Số CCCD", "Citizen ID"),
        "disb.bp.col.bank": ("Ngân hàng (BIN)", "Bank (BIN)"),
        "disb.bp.col.account": ("Tài khoản", "Account"),
        "disb.bp.col.amount": ("Số tiền", "Amount"),
        "disb.bp.col.reason": ("Lý do", "Reason"),
        "disb.bp.col.code": ("Mã", "Code"),
        "disb.bp.col.meaning": ("Ý nghĩa", "Meaning"),
        "disb.bp.col.e2e": ("Mã giao dịch (end-to-end)", "End-to-end id"),
        "disb.bp.maker": ("Người lập: {maker}", "Made by: {maker}"),
        "disb.bp.checker": ("Người duyệt: {checker}", "Approved by: {checker}"),
        "disb.bp.approve": ("Phê duyệt và chi trả", "Approve and pay"),
        "disb.bp.cancel": ("Hủy bảng kê", "Cancel the batch"),
        "disb.bp.cancel_note": ("Lý do hủy", "Why it is cancelled"),
        "disb.bp.why_no_approve_maker": (
            "Bạn lập bảng kê này nên không thể tự phê duyệt: một người khác (vai trò phê duyệt) phải duyệt "
            "(nguyên tắc bốn mắt).",
            "You made this batch, so you cannot approve it: another person (approver) must (four eyes).",
        ),
        "disb.bp.why_no_approve_role": (
            "Chỉ người có vai trò phê duyệt mới phê duyệt được bảng kê.",
            "Only an approver can approve a batch.",
        ),
        "disb.bp.approved_msg": (
            "Đã phê duyệt; bảng kê đang được chi trả.",
            "Approved; the batch is being paid.",
        ),
        "disb.bp.cancelled_msg": ("Đã hủy bảng kê.", "The batch is cancelled."),
        "disb.bp.downloads": ("Tải về", "Downloads"),
        "disb.bp.pain001": ("Tệp lệnh chi ISO 20022 (pain.001)", "ISO 20022 payment file (pain.001)"),
        "disb.bp.pain001_note": (
            "Chứa số tài khoản và họ tên đầy đủ; mỗi lần tải được ghi nhật ký.",
            "Carries full account numbers and names; every download is logged.",
        ),
        "disb.bp.items_csv": ("Danh sách khoản chi (CSV)", "Items (CSV)"),
        "disb.bp.report": ("Báo cáo kỳ này", "This period's report"),
        "disb.bp.error": ("Lỗi gần nhất", "Last error"),
        # Reports.
        "disb.rpt.link": ("Báo cáo chi trả an sinh", "Disbursement reports"),
        "disb.rpt.title": ("Báo cáo chi trả", "Disbursement report"),
        "disb.rpt.subtitle": ("{programme} · tháng {period}", "{programme} · {period}"),
        "disb.rpt.show": ("Xem", "Show"),
        "disb.rpt.paid": ("Đã chi", "Paid"),
        "disb.rpt.failed": ("Bị ngân hàng từ chối", "Refused by the bank"),
        "disb.rpt.held": ("Giữ lại (chưa đủ điều kiện chi)", "Held out (not payable)"),
        "disb.rpt.returned": ("Bị trả lại", "Returned"),
        "disb.rpt.sent_unknown": ("Đã gửi, chưa rõ kết quả", "Sent, outcome unknown"),
        "disb.rpt.in_progress": ("Đang chờ gửi", "Waiting to be sent"),
        "disb.rpt.not_in_batch": ("Chưa có trong bảng kê nào", "In no batch yet"),
        "disb.rpt.coverage": ("Độ bao phủ", "Coverage"),
        "disb.rpt.coverage_line": (
            "{covered}/{enrolled} người hưởng được chi qua tài khoản ({pct}); mục tiêu của thành phố: 100 %.",
            "{covered} of {enrolled} beneficiaries paid by account ({pct}); the city's goal: 100 %.",
        ),
        "disb.rpt.coverage_none": (
            "Chương trình chưa có người hưởng.",
            "Nobody is enrolled in this programme.",
        ),
        "disb.rpt.gap": ("Còn thiếu {n} người: lý do", "{n} not paid yet: why"),
        "disb.rpt.gap_none": ("Đã đạt 100 %.", "100 % reached."),
        "disb.rpt.batches": ("Bảng kê của kỳ", "Batches of the period"),
        "disb.rpt.no_batch": ("Kỳ này chưa có bảng kê.", "No batch for this period yet."),
        "disb.rpt.col.section": ("Mục", "Section"),
        "disb.rpt.col.key": ("Mã", "Code"),
        "disb.rpt.col.what": ("Nội dung", "What"),
        "disb.rpt.col.count": ("Số lượng", "Count"),
        "disb.rpt.col.amount": ("Số tiền (đồng)", "Amount (đồng)"),
        "disb.rpt.col.gap_amount": ("Số tiền chưa chi", "Amount not paid"),
        "disb.rpt.total": ("Tổng", "Total"),
        "disb.rpt.none": ("Không có.", "None."),
        "disb.pain001.api_batch": (
            "Bảng kê này được chi qua API của ngân hàng; chỉ bảng kê lập để chi bằng tệp mới có tệp pain.001 "
            "(tránh chi hai lần).",
            "This batch is paid through the bank's API; only a batch built for a file has a pain.001 file "
            "(so nothing is paid twice).",
        ),
        "disb.pain001.not_funded": (
            "Chưa giữ được tiền của chương trình cho bảng kê này; tệp chưa được tạo.",
            "The programme's funds could not be reserved for this batch; no file was made.",
        ),
        "disb.bp.channel": ("Cách chi", "Paid by"),
        "disb.bp.channel.api": ("Qua API của ngân hàng (tự động)", "The bank's API (automatic)"),
        "disb.bp.channel.file": ("Tệp pain.001 gửi ngân hàng", "A pain.001 file for the bank"),
        "disb.bp.file_issued": (
            "Tệp đã được tải về lúc {at}; kết quả từng khoản đến từ sao kê ngân hàng.",
            "The file was downloaded at {at}; each transfer's outcome comes from the bank's statement.",
        ),
    }
)
