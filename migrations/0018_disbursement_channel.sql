-- How a batch reaches the bank, fixed when it is built (issue 11, point 7): `api` — the worker sends each
-- payout through the bank's API; `file` — finance downloads one pain.001 file for the bank to execute, and the
-- outcome of each transfer comes back on the statement. Never both: a batch the API pays offers no file, and
-- a file batch is never given to the worker — the same money cannot leave twice by two roads.
ALTER TABLE disb_batches
    ADD COLUMN channel text NOT NULL DEFAULT 'api' CHECK (channel IN ('api', 'file')),
    ADD COLUMN file_issued_at timestamptz;  -- when the pain.001 file was first handed out (file batches)

CREATE FUNCTION disb_batches_channel_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.channel IS DISTINCT FROM OLD.channel
       OR (OLD.file_issued_at IS NOT NULL AND NEW.file_issued_at IS DISTINCT FROM OLD.file_issued_at) THEN
        RAISE EXCEPTION 'batch % keeps its channel and its first file', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_batches_fixed';
    END IF;
    IF NEW.file_issued_at IS NOT NULL AND NEW.channel <> 'file' THEN
        RAISE EXCEPTION 'batch % is paid through the API: it has no file', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_batches_channel';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER disb_batches_channel_fixed BEFORE UPDATE ON disb_batches
    FOR EACH ROW EXECUTE FUNCTION disb_batches_channel_fixed();
