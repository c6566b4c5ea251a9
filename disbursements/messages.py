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
        "disb.import.too_large": (
            "Tệp quá lớn (tối đa 5 MB); hãy chia thành nhiều tệp.",
            "The file is too large (at most 5 MB); split it.",
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
