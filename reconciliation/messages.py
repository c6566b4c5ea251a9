"""Reconciliation's texts, Vietnamese first and English beside them (one table for the package; each part
keeps its keys under its own prefix: recon.import.*, recon.match.*, recon.exception.*, recon.day.*)."""

from core.i18n import register_messages

register_messages(
    {
        "recon.link": ("Đối soát ngân hàng", "Bank reconciliation"),
    }
)
