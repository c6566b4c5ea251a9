-- An approved batch that has not started (it waits for funds, say) may be cancelled: the code and the
-- forward-only trigger allowed approved → cancelled, but 0016's check wanted a cancelled batch never approved,
-- so the cancel failed with a check violation (a 500) and the batch stayed, to pay on its own once funded.
-- A cancelled batch now keeps its approval (who approved it, when) beside when it was cancelled.
DO $$
DECLARE name text;
BEGIN
    SELECT conname INTO name FROM pg_constraint
     WHERE conrelid = 'disb_batches'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%approved_at IS NULL%';
    IF name IS NULL THEN
        RAISE EXCEPTION 'the approval check of disb_batches was not found';
    END IF;
    EXECUTE format('ALTER TABLE disb_batches DROP CONSTRAINT %I', name);
END $$;
ALTER TABLE disb_batches ADD CONSTRAINT disb_batches_approval
    CHECK (state = 'cancelled'
           OR (state IN ('approved', 'executing', 'completed')) = (checker IS NOT NULL AND approved_at IS NOT NULL));
