-- Callback safety (issue 8): a bank profile needs an active key to be active; bank accounts in the ledger are
-- only the city's registered collection accounts; credits that must not settle anything (over the sanity
-- cap, to another city account) have their own outcomes; the same bank transaction id with other content is a
-- conflict finance sees; replays of a byte-identical callback are counted, not stored again; stuck callbacks
-- back off and give up visibly; narratives and VNPay query strings are personal data, stored encrypted.

-- 1. A profile is created inactive and can be activated only while it has an active key. ------------------
ALTER TABLE bank_profiles ALTER COLUMN active SET DEFAULT false;

CREATE FUNCTION bank_profiles_need_active_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.active AND (TG_OP = 'INSERT' OR NOT OLD.active) AND NOT EXISTS (
            SELECT 1 FROM bank_keys WHERE bank_code = NEW.code AND retired_at IS NULL) THEN
        RAISE EXCEPTION 'bank profile % has no active key', NEW.code
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bank_profiles_active_needs_key';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bank_profiles_active_needs_key BEFORE INSERT OR UPDATE OF active ON bank_profiles
    FOR EACH ROW EXECUTE FUNCTION bank_profiles_need_active_key();

-- 2. The ledger never learns a bank account from callback data. ---------------------------------------------
CREATE FUNCTION ledger_bank_accounts_are_registered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.path LIKE 'asset:bank:%' AND NOT EXISTS (
            SELECT 1 FROM collection_accounts
             WHERE NEW.path = 'asset:bank:' || bin || ':' || account_number) THEN
        RAISE EXCEPTION 'ledger account % is not a registered collection account', NEW.path
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_bank_account_registered';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_bank_account_registered BEFORE INSERT OR UPDATE OF path ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_bank_accounts_are_registered();

-- 3. Outcomes that park money for finance, and the encrypted narrative. --------------------------------------
ALTER TABLE payments_received DROP CONSTRAINT payments_received_outcome_check;
ALTER TABLE payments_received ADD CONSTRAINT payments_received_outcome_check CHECK (outcome IN (
    'settled', 'overpaid', 'underpaid', 'late', 'cancelled', 'already_paid', 'unknown_reference',
    'over_cap', 'wrong_account'));
-- `narrative` now holds the redacted copy (digit runs masked) used for display and matching; the bank's text
-- is kept only encrypted. Rows stored before this migration get redacted in place (their clear text stays in
-- the encrypted raw callback body).
ALTER TABLE payments_received ADD COLUMN narrative_encrypted text;
ALTER TABLE payments_received DISABLE TRIGGER payments_received_immutable;
UPDATE payments_received
   SET narrative = regexp_replace(narrative, '[0-9]{6,}', '******', 'g')
 WHERE narrative ~ '[0-9]{6,}';
ALTER TABLE payments_received ENABLE TRIGGER payments_received_immutable;
-- Journal memos used to copy the narrative; they carry no personal data from now on.
ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_immutable;
UPDATE journal_entries
   SET memo = regexp_replace(memo, '[0-9]{6,}', '******', 'g')
 WHERE kind LIKE 'credit.%' AND memo ~ '[0-9]{6,}';
ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_immutable;

-- 4. The inbox: replay counting, back-off, a visible end for poison rows, conflicts, encrypted query. --------
ALTER TABLE callback_inbox DROP CONSTRAINT callback_inbox_status_check;
ALTER TABLE callback_inbox ADD CONSTRAINT callback_inbox_status_check
    CHECK (status IN ('received', 'processed', 'ignored', 'conflict', 'failed'));
ALTER TABLE callback_inbox
    ADD COLUMN body_hash        text,  -- keyed hash of method, query and body: finds byte-identical replays
    ADD COLUMN deliveries       integer NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
    ADD COLUMN last_delivery_at timestamptz,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN query_encrypted  text;  -- VNPay's signed query string, AES-GCM like raw_body
CREATE UNIQUE INDEX callback_inbox_replay ON callback_inbox (bank_code, body_hash);
DROP INDEX callback_inbox_unprocessed;
CREATE INDEX callback_inbox_unprocessed ON callback_inbox (next_attempt_at, id) WHERE status = 'received';

-- The same (bank, transaction id) reported again with other content: the first booking stands; finance sees
-- and resolves the conflict. Only non-personal fields are compared and kept.
CREATE TABLE callback_conflicts (
    id            bigserial PRIMARY KEY,
    bank_code     text NOT NULL,
    bank_txn_id   text NOT NULL,
    inbox_id      bigint NOT NULL UNIQUE REFERENCES callback_inbox(id),
    payment_id    bigint NOT NULL REFERENCES payments_received(id),
    differences   jsonb NOT NULL,  -- {"amount": {"first": 200000, "now": 900000}, …}
    detected_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    resolved_by   text,
    resolution    text CHECK (length(resolution) <= 1000),
    CONSTRAINT callback_conflicts_resolution CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
);
CREATE INDEX callback_conflicts_open ON callback_conflicts (detected_at) WHERE resolved_at IS NULL;

-- 5. payer_reference is an agency's case number, never a citizen's ID or phone number (parking requests carry
-- their session's uuid there, whose hex may hold a digit run). ---------------------------------------------
ALTER TABLE payment_requests ADD CONSTRAINT payment_requests_payer_reference_not_personal
    CHECK (kind = 'parking' OR payer_reference !~ '[0-9]{9,}') NOT VALID;
