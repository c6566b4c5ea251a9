"""Disbursements' texts, Vietnamese first and English beside them (keys under disb.*: disb.ben.* for
beneficiaries, disb.verify.* for verification, disb.import.* for CSV import, disb.review.* for mismatch
review; batches keep theirs under disb.batch.*)."""

from core.i18n import register_messages

register_messages(
    {
        "disb.link": ("Chi trả an sinh xã hội", "Social-security payments"),
        "disb.programme.pension": ("Lương hưu", "Pension"),
        "disb.programme.social_insurance": ("Trợ cấp bảo hiểm xã hội", "Social-insurance allowance"),
        "disb.programme.unemployment": ("Trợ cấp thất nghiệp", "Unemployment insurance allowance"),
        "disb.programme.social_assistance": ("Trợ cấp xã hội", "Social assistance"),
        # account states (disb_accounts.state) and roster hold reasons
        "disb.state.unverified": ("Chưa xác minh", "Unverified"),
        "disb.state.verified": ("Đã xác minh", "Verified"),
        "disb.state.mismatch": ("Tên không khớp", "Name mismatch"),
        "disb.state.not_found": ("Không tìm thấy tài khoản", "Account not found"),
        "disb.state.closed": ("Tài khoản đã đóng", "Account closed"),
        "disb.state.blocked": ("Tài khoản bị phong tỏa", "Account blocked"),
        "disb.state.deceased": ("Chủ tài khoản đã mất", "Holder deceased"),
        "disb.state.error": ("Lỗi khi hỏi ngân hàng", "Bank inquiry failed"),
        "disb.hold.no_account": ("Chưa có tài khoản", "No account"),
        "disb.hold.unverified": ("Chưa xác minh", "Unverified"),
        "disb.hold.expired": ("Xác minh đã hết hạn", "Verification expired"),
        "disb.hold.mismatch": ("Tên không khớp", "Name mismatch"),
        "disb.hold.not_found": ("Không tìm thấy tài khoản", "Account not found"),
        "disb.hold.closed": ("Tài khoản đã đóng", "Account closed"),
        "disb.hold.blocked": ("Tài khoản bị phong tỏa", "Account blocked"),
        "disb.hold.deceased": ("Chủ tài khoản đã mất", "Holder deceased"),
        "disb.hold.stopped_ac04": ("Dừng chi: tài khoản đã đóng (AC04)", "Stopped: account closed (AC04)"),
        "disb.hold.stopped_md07": (
            "Dừng chi: người hưởng đã mất (MD07)",
            "Stopped: beneficiary deceased (MD07)",
        ),
    }
)

register_messages(
    {
        "disb.import.not_utf8": (
            "Tệp không phải văn bản UTF-8: trong bảng tính, chọn Lưu thành 'CSV UTF-8'.",
            "The file is not UTF-8 text: save the spreadsheet as 'CSV UTF-8'.",
        ),
        "disb.import.nul": (
            "Tệp chứa ký tự NUL: đây không phải tệp CSV dạng văn bản.",
            "The file holds NUL characters: it is not a CSV text file.",
        ),
        "disb.import.empty": ("Tệp trống.", "The file is empty."),
        "disb.import.header_missing": (
            "Dòng tiêu đề thiếu cột {missing}. Các cột cần có: {expected}.",
            "The header row lacks {missing}. The columns are: {expected}.",
        ),
        "disb.import.header_twice": (
            "Dòng tiêu đề có cột {column} hai lần.",
            "The header row names {column} twice.",
        ),
        "disb.import.too_many_rows": (
            "Mỗi tệp tối đa {max_rows} dòng; hãy chia thành nhiều tệp.",
            "At most {max_rows} rows per file; split it.",
        ),
        "disb.import.unreadable": (
            "Dòng {line} không đọc được như CSV (dấu ngoặc kép chưa đóng?).",
            "Line {line} is not readable as CSV (an unclosed quote?).",
        ),
        "disb.import.too_large": (
            "Tệp quá lớn (tối đa 5 MB); hãy chia thành nhiều tệp.",
            "The file is too large (at most 5 MB); split it.",
        ),
        "disb.review.id_refuted": (
            "Ngân hàng cho biết chủ tài khoản mang số CCCD khác: không thể chấp nhận, chỉ có thể từ chối.",
            "The bank says the account holder has another CCCD: it cannot be accepted, only rejected.",
        ),
        "disb.review.not_mismatch": (
            "Chỉ đề xuất được cho tài khoản đang 'tên không khớp' và chưa có quyết định.",
            "Only an undecided name mismatch can be proposed for a decision.",
        ),
        "disb.review.stale": (
            "Tài khoản đã thay đổi hoặc được kiểm tra lại sau khi đề xuất; hãy từ chối đề xuất này.",
            "The account changed or was checked again since the proposal; reject this request.",
        ),
        "disb.review.not_stopped": (
            "Người hưởng này không bị dừng chi.",
            "Payments to this beneficiary are not stopped.",
        ),
    }
)

# Beneficiary pages (disbursements/beneficiary_pages.py)
register_messages(
    {
        "disb.ben.link": ("Người hưởng an sinh", "Beneficiaries"),
        "disb.ben.title": ("Người hưởng chi trả an sinh", "Social-security beneficiaries"),
        "disb.ben.explain": (
            "Số CCCD, họ tên và số tài khoản được mã hóa khi lưu và luôn hiển thị che bớt. Chỉ tài khoản đã "
            "xác minh với ngân hàng mới được chi trả.",
            "CCCD, name and account number are stored encrypted and always shown masked. Only accounts "
            "verified with the bank are ever paid.",
        ),
        "disb.ben.search": (
            "Tìm theo số CCCD hoặc số tài khoản (đủ số)",
            "Search by CCCD or account number (exact)",
        ),
        "disb.ben.filter_state": ("Trạng thái", "State"),
        "disb.ben.filter_programme": ("Chương trình", "Programme"),
        "disb.ben.all": ("Tất cả", "All"),
        "disb.ben.search_submit": ("Tìm", "Search"),
        "disb.ben.search_clear": ("Bỏ tìm kiếm", "Clear the search"),
        "disb.ben.apply": ("Lọc", "Filter"),
        "disb.ben.export": ("Tải CSV", "Download CSV"),
        "disb.ben.import_link": ("Nhập từ tệp CSV", "Import a CSV file"),
        "disb.ben.review_link": ("Xem xét tên không khớp", "Mismatch review"),
        "disb.ben.verify_all": (
            "Xác minh tất cả tài khoản chưa xác minh/hết hạn",
            "Verify every unverified or expired account",
        ),
        "disb.ben.queued": (
            "Đã xếp {n} tài khoản vào hàng đợi xác minh; tải lại trang sau ít phút.",
            "{n} accounts queued for verification; reload in a few minutes.",
        ),
        "disb.ben.none": ("Không có người hưởng nào.", "No beneficiaries."),
        "disb.ben.total": ("{n} người hưởng", "{n} beneficiaries"),
        "disb.ben.page": ("Trang {page}/{pages}", "Page {page} of {pages}"),
        "disb.ben.prev": ("« Trước", "« Previous"),
        "disb.ben.next": ("Sau »", "Next »"),
        "disb.ben.id": ("Mã", "Id"),
        "disb.ben.national_id": ("Số CCCD", "CCCD"),
        "disb.ben.name": ("Họ tên", "Name"),
        "disb.ben.birth_date": ("Ngày sinh", "Birth date"),
        "disb.ben.account": ("Tài khoản", "Account"),
        "disb.ben.bank_bin": ("Mã ngân hàng (BIN)", "Bank BIN"),
        "disb.ben.account_number": ("Số tài khoản", "Account number"),
        "disb.ben.state": ("Xác minh", "Verification"),
        "disb.ben.programmes": ("Chương trình", "Programmes"),
        "disb.ben.held": ("Tạm giữ vì", "Held for"),
        "disb.ben.payable": ("Được chi trả", "Payable"),
        "disb.ben.one": ("Người hưởng", "Beneficiary"),
        "disb.ben.enrolments": ("Tham gia chương trình", "Enrolments"),
        "disb.ben.monthly": ("Mỗi tháng", "Monthly"),
        "disb.ben.accounts": ("Tài khoản ngân hàng", "Bank accounts"),
        "disb.ben.active": ("Đang dùng", "Active"),
        "disb.ben.inactive": ("Đã thay", "Replaced"),
        "disb.ben.checked_at": ("Kiểm tra lúc", "Checked at"),
        "disb.ben.verified_until": ("Hiệu lực đến", "Valid until"),
        "disb.ben.history": ("Lịch sử xác minh", "Verification history"),
        "disb.ben.bank_name": ("Tên tại ngân hàng", "Name at the bank"),
        "disb.ben.id_match": ("Khớp CCCD", "CCCD confirmed"),
        "disb.ben.id_yes": ("khớp", "yes"),
        "disb.ben.id_no": ("không khớp", "no"),
        "disb.ben.id_unknown": ("ngân hàng không có", "bank holds none"),
        "disb.ben.by": ("Người thực hiện", "By"),
        "disb.ben.review": ("Quyết định", "Decision"),
        "disb.ben.review.accepted": ("đã chấp nhận", "accepted"),
        "disb.ben.review.rejected": ("đã từ chối", "rejected"),
        "disb.ben.verify": ("Xác minh với ngân hàng ngay", "Verify with the bank now"),
        "disb.ben.change_account": ("Đổi tài khoản", "Change the account"),
        "disb.ben.change_explain": (
            "Tài khoản mới phải được xác minh lại trước khi chi trả.",
            "A new account must be verified again before anything is paid to it.",
        ),
        "disb.ben.save": ("Lưu", "Save"),
        "disb.ben.propose": ("Đề xuất (cần người duyệt khác)", "Propose (another person approves)"),
        "disb.ben.decision.accept": ("Chấp nhận: chi trả vào tài khoản này", "Accept: pay this account"),
        "disb.ben.decision.reject": (
            "Từ chối: giữ lại đến khi đổi tài khoản",
            "Reject: hold until the account changes",
        ),
        "disb.ben.note": ("Ghi chú (lý do)", "Note (why)"),
        "disb.ben.mismatch_title": ("Tên không khớp: cần quyết định", "Name mismatch: a decision is needed"),
        "disb.ben.stopped_title": ("Đang dừng chi", "Payments stopped"),
        "disb.ben.resume": ("Đề xuất chi trả lại", "Propose resuming payments"),
        "disb.ben.pending": ("Đang chờ duyệt", "Waiting for approval"),
        "disb.ben.pending_at": (
            "Đề xuất #{id} của {maker} đang chờ người duyệt",
            "Request #{id} by {maker} waits for an approver",
        ),
        "disb.ben.saved.verified": ("Đã hỏi ngân hàng.", "The bank was asked."),
        "disb.ben.saved.account": ("Đã lưu tài khoản.", "The account is saved."),
        "disb.ben.saved.proposed": ("Đã gửi đề xuất cho người duyệt.", "Sent to an approver."),
        "disb.ben.back": ("Danh sách người hưởng", "All beneficiaries"),
        "disb.ben.none_yet": ("Chưa có.", "None yet."),
        "disb.ben.approvals": ("Trang phê duyệt", "Approvals page"),
        # import page
        "disb.import.title": ("Nhập người hưởng từ tệp CSV", "Import beneficiaries from CSV"),
        "disb.import.explain": (
            "Mỗi dòng một người trong một chương trình. Dòng đúng được nhập; dòng sai được liệt kê (số dòng, "
            "cột, lỗi) và có thể tải về để sửa rồi tải lên lại. Tải lên lại cùng tệp không tạo trùng.",
            "One row per person and programme. Good rows go in; bad rows are listed (line, column, problem) "
            "and can be downloaded to fix and upload again. Uploading the same file again adds nothing "
            "twice.",
        ),
        "disb.import.columns": ("Các cột", "Columns"),
        "disb.import.sample": ("Tải tệp mẫu (dữ liệu demo)", "Download a sample file (demo data)"),
        "disb.import.file": ("Tệp CSV (UTF-8, tối đa {mb} MB)", "CSV file (UTF-8, at most {mb} MB)"),
        "disb.import.submit": ("Tải lên", "Upload"),
        "disb.import.uploading": ("Đang tải lên…", "Uploading…"),
        "disb.import.checking": ("Đang kiểm tra và ghi từng dòng…", "Checking and storing each row…"),
        "disb.import.done": (
            "{rows} dòng: {created} người mới, {enrolled} thêm chương trình, {unchanged} không đổi, "
            "{failed} lỗi.",
            "{rows} rows: {created} new, {enrolled} enrolled in another programme, {unchanged} unchanged, "
            "{failed} failed.",
        ),
        "disb.import.failed": ("Không nhập được", "Not imported"),
        "disb.import.download": ("Tải các dòng lỗi (CSV) để sửa", "Download the failed rows (CSV) to fix"),
        "disb.import.line": ("Dòng", "Line"),
        "disb.import.field": ("Cột", "Column"),
        "disb.import.message": ("Lỗi", "Problem"),
        "disb.import.noscript": (
            "Trang này cần JavaScript để tải tệp; hoặc gửi tệp tới "
            "POST /api/v1/disbursements/beneficiaries/import.",
            "This page needs JavaScript to upload; or POST the file to "
            "/api/v1/disbursements/beneficiaries/import.",
        ),
        # review page
        "disb.review.title": ("Xem xét xác minh tài khoản", "Account verification review"),
        "disb.review.explain": (
            "Tài khoản có tên không khớp được giữ lại đến khi một người đề xuất và một người duyệt "
            "khác quyết định. Người hưởng bị dừng chi (AC04 tài khoản đóng, MD07 đã mất) chỉ được chi "
            "lại theo cách đó.",
            "An account whose name does not match is held until one person proposes and another approves a "
            "decision. A beneficiary stopped by execution (AC04 closed, MD07 deceased) is released the "
            "same way.",
        ),
        "disb.review.none": ("Không có gì cần xem xét.", "Nothing to review."),
        "disb.review.pending": ("Đề xuất đang chờ duyệt", "Requests waiting for an approver"),
        "disb.review.kind.disbursements.accept_mismatch": (
            "Chấp nhận tên không khớp",
            "Accept a name mismatch",
        ),
        "disb.review.kind.disbursements.reject_mismatch": (
            "Từ chối tên không khớp",
            "Reject a name mismatch",
        ),
        "disb.review.kind.disbursements.resume_payments": ("Chi trả lại", "Resume payments"),
        "disb.review.open": ("Mở", "Open"),
    }
)
