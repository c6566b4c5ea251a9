-- Disbursements, part 2 (issue 11, points 3–4): monthly batches with four eyes, their items, and the ledger's
-- reserves resolved in parts (a batch reserves its programme's funds once; each paid item posts its share,
-- each failed, held or cancelled one releases it).

-- Ledger: partial resolution of a reserve ---------------------------------------------------------------------
-- A reserve resolved once (post_pending / void_pending) keeps working as before. A reserve may instead be
-- resolved in parts: each part posts (a journal entry) or releases an amount, idempotent by its own key; the
-- reserve stays open while posted + released < amount and becomes `settled` when they reach it. The totals
-- are kept by a statement trigger on the parts table (never by the caller), and a CHECK refuses more than
-- remains.
ALTER TABLE ledger_pending
    ADD COLUMN posted_total   bigint NOT NULL DEFAULT 0 CHECK (posted_total >= 0),
    ADD COLUMN released_total bigint NOT NULL DEFAULT 0 CHECK (released_total >= 0),
    ADD CONSTRAINT ledger_pending_over_resolved CHECK (posted_total + released_total <= amount);
ALTER TABLE ledger_pending DROP CONSTRAINT ledger_pending_state_check;
ALTER TABLE ledger_pending ADD CONSTRAINT ledger_pending_state_check
    CHECK (state IN ('pending', 'posted', 'voided', 'settled'));
ALTER TABLE ledger_pending DROP CONSTRAINT ledger_pending_resolution;
ALTER TABLE ledger_pending ADD CONSTRAINT ledger_pending_resolution CHECK (
    (state = 'pending' AND posted_amount IS NULL AND entry_id IS NULL AND resolved_at IS NULL
        AND posted_total + released_total < amount)
    OR (state = 'posted' AND posted_amount <= amount AND entry_id IS NOT NULL AND resolved_at IS NOT NULL
        AND posted_total = 0 AND released_total = 0)
    OR (state = 'voided' AND posted_amount IS NULL AND entry_id IS NULL AND resolved_at IS NOT NULL
        AND posted_total = 0 AND released_total = 0)
    OR (state = 'settled' AND posted_amount IS NULL AND entry_id IS NULL AND resolved_at IS NOT NULL
        AND posted_total + released_total = amount));

CREATE TABLE ledger_pending_parts (
    id              bigserial PRIMARY KEY,
    pending_id      bigint NOT NULL REFERENCES ledger_pending(id),
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    action          text NOT NULL CHECK (action IN ('post', 'release')),
    amount          bigint NOT NULL CHECK (amount > 0),
    entry_id        bigint REFERENCES journal_entries(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((action = 'post') = (entry_id IS NOT NULL))
);
CREATE INDEX ledger_pending_parts_pending ON ledger_pending_parts (pending_id);
CREATE TRIGGER ledger_pending_parts_immutable BEFORE UPDATE OR DELETE ON ledger_pending_parts
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_pending_parts_no_truncate BEFORE TRUNCATE ON ledger_pending_parts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- New parts add to their reserve's totals (one UPDATE per reserve per statement); the reserve settles when
-- the totals reach its amount. A part of a resolved reserve, or more than remains, fails the whole statement.
CREATE FUNCTION ledger_pending_parts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledger_pending p
       SET posted_total = p.posted_total + s.posted,
           released_total = p.released_total + s.released,
           state = CASE WHEN p.posted_total + s.posted + p.released_total + s.released = p.amount
                        THEN 'settled' ELSE p.state END,
           resolved_at = CASE WHEN p.posted_total + s.posted + p.released_total + s.released = p.amount
                              THEN now() END
      FROM (SELECT pending_id,
                   coalesce(sum(amount) FILTER (WHERE action = 'post'), 0) AS posted,
                   coalesce(sum(amount) FILTER (WHERE action = 'release'), 0) AS released
              FROM new_parts GROUP BY pending_id) s
     WHERE p.id = s.pending_id;
    RETURN NULL;
END $$;
CREATE TRIGGER ledger_pending_parts_totals AFTER INSERT ON ledger_pending_parts
    REFERENCING NEW TABLE AS new_parts FOR EACH STATEMENT EXECUTE FUNCTION ledger_pending_parts_add();

-- The reserve's once-only rule, now with parts: an open reserve may take parts (its totals only grow, and only
-- through the parts trigger above) until it settles; a one-shot post/void needs a reserve without parts.
CREATE OR REPLACE FUNCTION ledger_pending_resolve_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending'
       OR (NEW.id, NEW.idempotency_key, NEW.kind, NEW.business_date, NEW.debit_account_id,
           NEW.credit_account_id, NEW.amount, NEW.refs, NEW.memo, NEW.content_hash, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.idempotency_key, OLD.kind, OLD.business_date, OLD.debit_account_id,
           OLD.credit_account_id, OLD.amount, OLD.refs, OLD.memo, OLD.content_hash, OLD.created_at) THEN
        RAISE EXCEPTION 'pending transfer % is already %', OLD.id, OLD.state
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_pending_resolved';
    END IF;
    IF (NEW.posted_total, NEW.released_total) IS DISTINCT FROM (OLD.posted_total, OLD.released_total) THEN
        IF pg_trigger_depth() < 2 OR NEW.posted_total < OLD.posted_total
           OR NEW.released_total < OLD.released_total OR NEW.state NOT IN ('pending', 'settled') THEN
            RAISE EXCEPTION 'the totals of reserve % change only through ledger_pending_parts', OLD.id
                USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_pending_resolved';
        END IF;
    ELSIF NEW.state = 'pending' OR NEW.state = 'settled'
          OR OLD.posted_total <> 0 OR OLD.released_total <> 0 THEN
        RAISE EXCEPTION 'pending transfer % is partly resolved; resolve the rest in parts', OLD.id
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'ledger_pending_resolved';
    END IF;
    RETURN NEW;
END $$;

-- What a guarded account has available counts only the unresolved remainder of open reserves.
CREATE OR REPLACE FUNCTION ledger_pending_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
                   - coalesce((SELECT sum(amount - posted_total - released_total) FROM ledger_pending
                                WHERE debit_account_id = acct.id AND state = 'pending'), 0)
              INTO available;
        ELSIF acct.guard = 'credits_must_not_exceed_debits' AND acct.id = NEW.credit_account_id THEN
            SELECT coalesce((SELECT sum(amount) FROM postings WHERE account_id = acct.id), 0)
                   - coalesce((SELECT sum(amount - posted_total - released_total) FROM ledger_pending
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

-- Batches -----------------------------------------------------------------------------------------------
-- One batch per programme and period (not counting cancelled ones); control totals (count and sum of the
-- ready items) fixed when it is built; made by one person, approved by another (core approvals); states only
-- move forward.
CREATE TABLE disb_batches (
    id             bigserial PRIMARY KEY,
    programme      text NOT NULL REFERENCES disb_programmes(code),
    period         text NOT NULL CHECK (period ~ '^20[0-9]{2}-(0[1-9]|1[0-2])$'),
    state          text NOT NULL DEFAULT 'awaiting_approval'
                   CHECK (state IN ('awaiting_approval', 'approved', 'executing', 'completed', 'cancelled')),
    control_count  integer NOT NULL CHECK (control_count >= 0),
    control_sum    bigint NOT NULL CHECK (control_sum >= 0),
    held_count     integer NOT NULL CHECK (held_count >= 0),
    maker          text NOT NULL CHECK (length(maker) BETWEEN 1 AND 200),
    checker        text CHECK (length(checker) BETWEEN 1 AND 200),
    approval_id    bigint REFERENCES approvals(id),
    reserve_id     bigint REFERENCES ledger_pending(id),
    last_error     text CHECK (length(last_error) <= 2000),
    created_at     timestamptz NOT NULL DEFAULT now(),
    approved_at    timestamptz,
    started_at     timestamptz,
    completed_at   timestamptz,
    cancelled_at   timestamptz,
    CONSTRAINT disb_batches_four_eyes CHECK (checker IS NULL OR checker <> maker),
    CHECK ((state IN ('approved', 'executing', 'completed')) = (checker IS NOT NULL AND approved_at IS NOT NULL)
           OR (state = 'cancelled' AND approved_at IS NULL)),
    CHECK ((state = 'completed') = (completed_at IS NOT NULL)),
    CHECK ((state = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE UNIQUE INDEX disb_batches_one_per_period ON disb_batches (programme, period) WHERE state <> 'cancelled';

-- Forward only: awaiting_approval → approved | cancelled; approved → executing | cancelled;
-- executing → completed. What was fixed at creation (programme, period, control totals, maker) never changes
-- after the transaction that built the batch (which sets the totals from the items it wrote).
CREATE FUNCTION disb_batches_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.created_at <> transaction_timestamp() AND (NEW.id, NEW.programme, NEW.period, NEW.control_count, NEW.control_sum, NEW.held_count, NEW.maker,
        NEW.created_at) IS DISTINCT FROM
       (OLD.id, OLD.programme, OLD.period, OLD.control_count, OLD.control_sum, OLD.held_count, OLD.maker,
        OLD.created_at) THEN
        RAISE EXCEPTION 'batch % is fixed at creation', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_batches_fixed';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
           (OLD.state = 'awaiting_approval' AND NEW.state IN ('approved', 'cancelled'))
        OR (OLD.state = 'approved' AND NEW.state IN ('executing', 'cancelled'))
        OR (OLD.state = 'executing' AND NEW.state = 'completed')) THEN
        RAISE EXCEPTION 'batch % cannot go from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_batches_forward';
    END IF;
    IF OLD.checker IS NOT NULL AND NEW.checker IS DISTINCT FROM OLD.checker THEN
        RAISE EXCEPTION 'batch % was approved by %', OLD.id, OLD.checker
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_batches_fixed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER disb_batches_forward BEFORE UPDATE ON disb_batches
    FOR EACH ROW EXECUTE FUNCTION disb_batches_forward();

-- Items: one per (programme, period, beneficiary) across every batch that is not cancelled. A cancelled
-- batch keeps its items (state cancelled, the record of what was proposed and stopped) and frees the period
-- for a new batch: the partial unique index below, rather than deleting them. A cancelled item was never sent
-- (cancel is refused once execution started, and an item only becomes cancelled from held or ready), so no
-- payout can exist under its end-to-end id.
CREATE TABLE disb_items (
    id              bigserial PRIMARY KEY,
    batch_id        bigint NOT NULL REFERENCES disb_batches(id),
    programme       text NOT NULL REFERENCES disb_programmes(code),
    period          text NOT NULL,
    beneficiary_id  bigint NOT NULL REFERENCES disb_beneficiaries(id),
    account_id      bigint REFERENCES disb_accounts(id),
    amount          bigint NOT NULL CHECK (amount > 0),
    end_to_end_id   text NOT NULL UNIQUE CHECK (end_to_end_id ~ '^[A-Za-z0-9-]{1,35}$'),
    state           text NOT NULL CHECK (state IN ('held', 'ready', 'sending', 'sent_unknown', 'paid', 'failed',
                                                   'returned', 'cancelled')),
    hold_reason     text CHECK (hold_reason ~ '^[a-z_0-9]{1,40}$'),
    reason_code     text CHECK (reason_code ~ '^[A-Z]{2}[0-9]{2}$'),
    retryable       boolean,
    needs_review    boolean NOT NULL DEFAULT false,
    -- The item's share of the batch's reserve is posted (paid) or released (failed, held at send time):
    -- done in large groups after the outcomes (execution.settle_shares), idempotent by the part's key.
    share_settled   boolean NOT NULL DEFAULT false,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_until     timestamptz,  -- a worker's claim (sending) or when to inquire again (sent_unknown)
    bank_txn_id     text CHECK (bank_txn_id ~ '^[!-~]{1,64}$'),
    last_error      text CHECK (length(last_error) <= 500),
    sent_at         timestamptz,
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'held') = (hold_reason IS NOT NULL)),
    CHECK (state <> 'paid' OR bank_txn_id IS NOT NULL),
    CHECK (state <> 'failed' OR reason_code IS NOT NULL),
    CHECK ((state IN ('sending', 'sent_unknown')) = (lease_until IS NOT NULL))
);
CREATE UNIQUE INDEX disb_items_once ON disb_items (programme, period, beneficiary_id) WHERE state <> 'cancelled';
CREATE INDEX disb_items_batch_state ON disb_items (batch_id, state);
CREATE INDEX disb_items_claimable ON disb_items (batch_id, lease_until) WHERE state IN ('sending', 'sent_unknown');
CREATE INDEX disb_items_ready ON disb_items (batch_id, id) WHERE state = 'ready';
CREATE INDEX disb_items_unsettled ON disb_items (batch_id, id)
    WHERE NOT share_settled AND resolved_at IS NOT NULL AND state IN ('paid', 'failed', 'held');

-- An item's money and identity never change; its state only moves forward (sending ↔ sent_unknown is the
-- inquiry loop: unknown → asked → not received → sent again under the same key); nothing of an approved
-- batch's items changes except through execution.
CREATE FUNCTION disb_items_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.batch_id, NEW.programme, NEW.period, NEW.beneficiary_id, NEW.account_id, NEW.amount,
        NEW.end_to_end_id, NEW.created_at) IS DISTINCT FROM
       (OLD.id, OLD.batch_id, OLD.programme, OLD.period, OLD.beneficiary_id, OLD.account_id, OLD.amount,
        OLD.end_to_end_id, OLD.created_at) THEN
        RAISE EXCEPTION 'item % of batch % is fixed: amount, beneficiary and account never change',
            OLD.id, OLD.batch_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_items_fixed';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
           (OLD.state = 'held' AND NEW.state = 'cancelled')
        OR (OLD.state = 'ready' AND NEW.state IN ('sending', 'held', 'cancelled'))
        OR (OLD.state = 'sending' AND NEW.state IN ('sent_unknown', 'paid', 'failed'))
        OR (OLD.state = 'sent_unknown' AND NEW.state IN ('sending', 'paid', 'failed'))
        OR (OLD.state = 'paid' AND NEW.state = 'returned')) THEN
        RAISE EXCEPTION 'item % cannot go from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_items_forward';
    END IF;
    IF NEW.state = 'cancelled' AND NOT EXISTS (
           SELECT 1 FROM disb_batches WHERE id = NEW.batch_id AND state = 'cancelled') THEN
        RAISE EXCEPTION 'item % is cancelled only with its batch', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_items_forward';
    END IF;
    IF NEW.state IN ('sending', 'held') AND OLD.state = 'ready' AND NOT EXISTS (
           SELECT 1 FROM disb_batches WHERE id = NEW.batch_id AND state = 'executing') THEN
        RAISE EXCEPTION 'item % is sent only while its batch executes', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_items_forward';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER disb_items_forward BEFORE UPDATE ON disb_items
    FOR EACH ROW EXECUTE FUNCTION disb_items_forward();

-- Items are written when the batch is built, in its transaction, and never later.
CREATE FUNCTION disb_items_only_at_creation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM disb_batches WHERE id = NEW.batch_id AND state = 'awaiting_approval'
                                                AND created_at = transaction_timestamp()) THEN
        RAISE EXCEPTION 'items join batch % only while it is built', NEW.batch_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'disb_items_fixed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER disb_items_only_at_creation BEFORE INSERT ON disb_items
    FOR EACH ROW EXECUTE FUNCTION disb_items_only_at_creation();

CREATE TRIGGER disb_items_no_delete BEFORE DELETE ON disb_items FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER disb_batches_no_delete BEFORE DELETE ON disb_batches FOR EACH ROW EXECUTE FUNCTION refuse_change();
REVOKE DELETE, TRUNCATE ON disb_batches, disb_items, ledger_pending_parts FROM citypay_app;
