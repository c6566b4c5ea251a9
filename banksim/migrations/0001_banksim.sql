-- The bank simulator's own database: accounts, an immutable double-entry ledger of transfers, the callback
-- outbox with every delivery attempt, payouts by idempotency key, and the standing fault mode.

CREATE TABLE sim_installation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Two base-36 characters in every bank transaction id, so a re-created simulator database never reuses
    -- an id citypay has already seen (citypay would answer "duplicate" for a different credit).
    tag        text NOT NULL CHECK (tag ~ '^[0-9A-Z]{2}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    bin             text NOT NULL CHECK (bin ~ '^[0-9]{6}$'),
    account_number  text NOT NULL CHECK (account_number ~ '^[0-9]{6,19}$'),
    -- Banks hold names upper-case without diacritics, as NAPAS name inquiry returns them.
    holder_name     text NOT NULL CHECK (holder_name ~ '^[A-Z0-9 .&-]{2,70}$'),
    kind            text NOT NULL CHECK (kind IN ('city', 'citizen')),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'blocked', 'deceased')),
    initial_balance bigint NOT NULL CHECK (initial_balance >= 0),
    balance         bigint NOT NULL CHECK (balance >= 0),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_bin_number_key UNIQUE (bin, account_number)
);

CREATE SEQUENCE bank_txn_seq;

CREATE TABLE transfers (
    id                bigserial PRIMARY KEY,
    bank_txn_id       text NOT NULL UNIQUE CHECK (bank_txn_id ~ '^[!-~]{1,64}$'),
    kind              text NOT NULL CHECK (kind IN ('qr_payment', 'payout')),
    debit_account_id  bigint NOT NULL REFERENCES accounts (id),
    credit_account_id bigint NOT NULL REFERENCES accounts (id),
    amount            bigint NOT NULL CHECK (amount > 0 AND amount <= 9999999999999),
    narrative         text NOT NULL CHECK (length(narrative) <= 500),
    end_to_end_id     text,  -- the QR purpose (payment reference) or the payout's idempotency key
    booked_at         timestamptz NOT NULL DEFAULT now(),
    qr_payload        text,
    qr_amount         bigint,  -- what the QR asked for; differs from amount under the wrong_amount fault
    fault             text,
    CHECK (debit_account_id <> credit_account_id)
);

-- One row per account leg: amount > 0 credits the account, < 0 debits it. Each transfer has exactly one of
-- each and they sum to zero (constraint trigger below); postings are never changed.
CREATE TABLE postings (
    id          bigserial PRIMARY KEY,
    transfer_id bigint NOT NULL REFERENCES transfers (id),
    account_id  bigint NOT NULL REFERENCES accounts (id),
    amount      bigint NOT NULL CHECK (amount <> 0),
    booked_at   timestamptz NOT NULL,
    UNIQUE (transfer_id, account_id)
);
CREATE INDEX postings_account_time ON postings (account_id, booked_at, id);

CREATE FUNCTION postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    legs  integer;
BEGIN
    SELECT coalesce(sum(amount), 0), count(*) INTO total, legs FROM postings WHERE transfer_id = NEW.transfer_id;
    IF total <> 0 OR legs <> 2 THEN
        RAISE EXCEPTION 'transfer % is unbalanced (% legs, sum %)', NEW.transfer_id, legs, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postings_balanced();

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER transfers_immutable BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- The outbox: a callback to deliver to citypay. The body bytes are fixed at booking so every retry sends the
-- same bytes (docs/bank-protocol.md §6); only the timestamp and signature change per attempt.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    transfer_id     bigint NOT NULL REFERENCES transfers (id),
    bank_txn_id     text NOT NULL,
    url             text NOT NULL,
    body            bytea NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'held', 'delivered', 'rejected', 'failed')),
    fault           text CHECK (fault IN ('bad_signature')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_transfer ON deliveries (transfer_id);

CREATE TABLE delivery_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES deliveries (id),
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    key_id       text NOT NULL,
    http_status  integer,
    answer_body  text,
    outcome      text NOT NULL CHECK (outcome IN ('acknowledged', 'retry', 'rejected')),
    error        text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);

CREATE TABLE payouts (
    idempotency_key  text PRIMARY KEY CHECK (idempotency_key ~ '^[!-~]{1,255}$'),
    request_hash     text NOT NULL,
    from_account_id  bigint NOT NULL REFERENCES accounts (id),
    to_bin           text NOT NULL,
    to_account       text NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    narrative        text NOT NULL,
    beneficiary_name text,
    status           text NOT NULL CHECK (status IN ('booked', 'rejected')),
    reason_code      text CHECK (reason_code ~ '^[A-Z]{2}[0-9]{2}$'),
    transfer_id      bigint REFERENCES transfers (id),
    fault            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'booked') = (transfer_id IS NOT NULL AND reason_code IS NULL)),
    CHECK ((status = 'rejected') = (reason_code IS NOT NULL))
);
CREATE INDEX payouts_duplicate_check ON payouts (to_bin, to_account, amount, created_at) WHERE status = 'booked';

-- A standing fault mode set through POST /sim/api/faults; applies to the next `remaining` operations it fits
-- (NULL: until cleared).
CREATE TABLE fault_mode (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fault         text CHECK (fault IN ('duplicate', 'delay', 'drop', 'bad_signature', 'wrong_amount',
                                        'payout_timeout')),
    delay_seconds integer NOT NULL DEFAULT 10 CHECK (delay_seconds BETWEEN 0 AND 86400),
    remaining     integer CHECK (remaining > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fault_mode (singleton) VALUES (true);
