-- Issue 12, point 1: an attendant corrects the plate or class of a session they just opened, or cancels it,
-- within a few minutes (parking.corrections.CORRECTION_WINDOW); the audit log keeps the old and new values.
-- Cancelling reuses status 'voided' (with its reason); cancelled_by says it was the entry's own undo.
ALTER TABLE parking_sessions
    ADD COLUMN corrected_at timestamptz,
    ADD COLUMN corrected_by text,
    ADD COLUMN cancelled_by text,
    ADD CONSTRAINT parking_sessions_corrected CHECK ((corrected_at IS NULL) = (corrected_by IS NULL)),
    ADD CONSTRAINT parking_sessions_cancelled CHECK (cancelled_by IS NULL OR status = 'voided');
