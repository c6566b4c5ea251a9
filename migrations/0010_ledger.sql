-- Business days and day close: a closed day is frozen (no entry may be dated on or before the last closed
-- day; corrections are reversing entries in an open day), and each close keeps every account's closing
-- balance as a snapshot, so balances read the last snapshot plus the open days instead of all history.

CREATE TABLE ledger_closed_days (
    business_date date PRIMARY KEY,
    closed_at     timestamptz NOT NULL DEFAULT now(),
    closed_by     text NOT NULL CHECK (length(closed_by) BETWEEN 1 AND 200)
);

-- Closing balance (debits − credits) of every account that has postings up to the closed day.
CREATE TABLE ledger_balance_snapshots (
    business_date date NOT NULL REFERENCES ledger_closed_days(business_date),
    account_id    bigint NOT NULL REFERENCES ledger_accounts(id),
    balance       bigint NOT NULL,
    PRIMARY KEY (business_date, account_id)
);

CREATE TRIGGER ledger_closed_days_immutable BEFORE UPDATE OR DELETE ON ledger_closed_days
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_closed_days_no_truncate BEFORE TRUNCATE ON ledger_closed_days
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_balance_snapshots_immutable BEFORE UPDATE OR DELETE ON ledger_balance_snapshots
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_balance_snapshots_no_truncate BEFORE TRUNCATE ON ledger_balance_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Days close in order: closing a day freezes it and every day before it. close_day takes
-- `LOCK TABLE journal_entries IN SHARE MODE`, so no entry of that day can be in flight while it closes.
CREATE FUNCTION refuse_entry_on_closed_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_closed date;
BEGIN
    -- A repeat of an existing key goes on to ON CONFLICT, which returns the original entry (idempotency
    -- outlives the day close); only new entries are refused.
    IF EXISTS (SELECT 1 FROM journal_entries WHERE idempotency_key = NEW.idempotency_key) THEN
        RETURN NEW;
    END IF;
    SELECT max(business_date) INTO last_closed FROM ledger_closed_days;
    IF last_closed IS NOT NULL AND NEW.business_date <= last_closed THEN
        RAISE EXCEPTION 'business day % is closed (closed through %); post a correction in an open day',
            NEW.business_date, last_closed
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_day_closed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER journal_entries_open_day BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_entry_on_closed_day();

-- The balance check once per entry, not once per posting: `postings_balanced` re-summed the whole entry for
-- every line (a 10,000-line entry: 10,000 sums of 10,000 rows at commit). It is redundant: a posting can only
-- join an entry made in the same transaction (`postings_take_entry_date`), and that entry's own deferred
-- `journal_entries_balanced` checks all of its postings at commit.
DROP TRIGGER postings_balanced ON postings;

-- Pending → post / void (TigerBeetle's two-phase transfers): money reserved before it moves. A pending
-- transfer is one debit and one credit; it is not in the balances until it is posted (in full or in part, as
-- a journal entry) or voided, at most once. A guarded account may not be taken below zero by a reserve.
ALTER TABLE ledger_accounts ADD COLUMN guard text
    CHECK (guard IN ('debits_must_not_exceed_credits', 'credits_must_not_exceed_debits'));

CREATE TABLE ledger_pending (
    id                bigserial PRIMARY KEY,
    idempotency_key   text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    kind              text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,62}$'),
    business_date     date NOT NULL,
    debit_account_id  bigint NOT NULL REFERENCES ledger_accounts(id),
    credit_account_id bigint NOT NULL REFERENCES ledger_accounts(id),
    amount            bigint NOT NULL CHECK (amount > 0),
    refs              jsonb NOT NULL DEFAULT '{}'::jsonb,
    memo              text,
    content_hash      text NOT NULL,
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'posted', 'voided')),
    posted_amount     bigint CHECK (posted_amount > 0),
    entry_id          bigint REFERENCES journal_entries(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,
    CHECK (debit_account_id <> credit_account_id),
    CONSTRAINT ledger_pending_resolution CHECK (
        (state = 'pending' AND posted_amount IS NULL AND entry_id IS NULL AND resolved_at IS NULL)
        OR (state = 'posted' AND posted_amount <= amount AND entry_id IS NOT NULL AND resolved_at IS NOT NULL)
        OR (state = 'voided' AND posted_amount IS NULL AND entry_id IS NULL AND resolved_at IS NOT NULL))
);
CREATE INDEX ledger_pending_open_debit ON ledger_pending (debit_account_id) INCLUDE (amount)
    WHERE state = 'pending';
CREATE INDEX ledger_pending_open_credit ON ledger_pending (credit_account_id) INCLUDE (amount)
    WHERE state = 'pending';

-- Only pending → posted or pending → voided, once; nothing else about a reserve ever changes.
CREATE FUNCTION ledger_pending_resolve_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending' OR NEW.state = 'pending'
       OR (NEW.id, NEW.idempotency_key, NEW.kind, NEW.business_date, NEW.debit_account_id,
           NEW.credit_account_id, NEW.amount, NEW.refs, NEW.memo, NEW.content_hash, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.idempotency_key, OLD.kind, OLD.business_date, OLD.debit_account_id,
           OLD.credit_account_id, OLD.amount, OLD.refs, OLD.memo, OLD.content_hash, OLD.created_at) THEN
        RAISE EXCEPTION 'pending transfer % is already %', OLD.id, OLD.state
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_pending_resolved';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_pending_once BEFORE UPDATE ON ledger_pending
    FOR EACH ROW EXECUTE FUNCTION ledger_pending_resolve_once();
CREATE TRIGGER ledger_pending_no_delete BEFORE DELETE ON ledger_pending
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_pending_no_truncate BEFORE TRUNCATE ON ledger_pending
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- A reserve on a guarded account locks that account's row (concurrent reserves queue) and checks what is
-- available: the posted balance less what other open reserves already hold.
CREATE FUNCTION ledger_pending_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acct record;
    available numeric;
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_pending WHERE idempotency_key = NEW.idempotency_key) THEN
        RETURN NEW;  -- a repeat: ON CONFLICT returns the original
    END IF;
    FOR acct IN SELECT id, guard FROM ledger_accounts
                 WHERE id IN (NEW.debit_account_id, NEW.credit_account_id) AND guard IS NOT NULL
                 ORDER BY id FOR UPDATE LOOP
        IF acct.guard = 'debits_must_not_exceed_credits' AND acct.id = NEW.debit_account_id THEN
            SELECT -coalesce((SELECT sum(amount) FROM postings WHERE account_id = acct.id), 0)
                   - coalesce((SELECT sum(amount) FROM ledger_pending
                                WHERE debit_account_id = acct.id AND state = 'pending'), 0)
              INTO available;
        ELSIF acct.guard = 'credits_must_not_exceed_debits' AND acct.id = NEW.credit_account_id THEN
            SELECT coalesce((SELECT sum(amount) FROM postings WHERE account_id = acct.id), 0)
                   - coalesce((SELECT sum(amount) FROM ledger_pending
                                WHERE credit_account_id = acct.id AND state = 'pending'), 0)
              INTO available;
        ELSE
            CONTINUE;
        END IF;
        IF NEW.amount > available THEN
            RAISE EXCEPTION 'reserve of % would take guarded account % below zero (available %)',
                NEW.amount, acct.id, available
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_insufficient_funds';
        END IF;
    END LOOP;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_pending_guarded BEFORE INSERT ON ledger_pending
    FOR EACH ROW EXECUTE FUNCTION ledger_pending_guard();
