-- Reconciliation (issue 10): the bank's statements, their lines, what each line was matched to, the
-- exceptions finance works, and each bank account's day close. Owned by the `reconciliation` package; it
-- refers to payments' collection accounts and bank records and to the ledger's entries by value or key.

-- One row per file taken in: the same bytes twice are refused (the hash), whoever sends them.
CREATE TABLE recon_files (
    id           bigserial PRIMARY KEY,
    sha256       bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    filename     text CHECK (length(filename) <= 255),
    format       text NOT NULL CHECK (length(format) BETWEEN 1 AND 40),
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    source       text NOT NULL CHECK (source IN ('upload', 'cli', 'fetch')),
    imported_by  text NOT NULL CHECK (length(imported_by) BETWEEN 1 AND 200),
    imported_at  timestamptz NOT NULL DEFAULT now()
);

-- One statement of one of the city's collection accounts for a period (a file may hold several).
CREATE TABLE recon_statements (
    id              bigserial PRIMARY KEY,
    file_id         bigint NOT NULL REFERENCES recon_files(id),
    bin             text NOT NULL CHECK (bin ~ '^[0-9]{6}$'),
    account_number  text NOT NULL CHECK (account_number ~ '^[A-Za-z0-9]{1,34}$'),
    statement_ref   text NOT NULL CHECK (length(statement_ref) BETWEEN 1 AND 140),
    sequence        integer,
    from_date       date NOT NULL,
    to_date         date NOT NULL CHECK (to_date >= from_date),
    opening_balance bigint,
    closing_balance bigint,
    line_count      integer NOT NULL CHECK (line_count >= 0),
    new_lines       integer NOT NULL CHECK (new_lines >= 0),  -- lines not already known from an overlap
    sequence_gap    text,  -- what the integrity check saw (e.g. "expected 31, got 33"); reported, not refused
    UNIQUE (bin, account_number, statement_ref)
);
CREATE INDEX recon_statements_account_day ON recon_statements (bin, account_number, to_date);

-- The bank's lines. A line is known by the bank's own reference on its account: an overlapping statement
-- or a second format of the same day adds no line twice.
CREATE TABLE recon_lines (
    id                   bigserial PRIMARY KEY,
    statement_id         bigint NOT NULL REFERENCES recon_statements(id),
    bin                  text NOT NULL,
    account_number       text NOT NULL,
    bank_ref             text NOT NULL CHECK (length(bank_ref) BETWEEN 1 AND 140),
    end_to_end_id        text CHECK (length(end_to_end_id) <= 140),
    booking_date         date NOT NULL,
    value_date           date,
    direction            text NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount               bigint NOT NULL CHECK (amount > 0),
    reversal             boolean NOT NULL DEFAULT false,
    narrative            text NOT NULL,  -- redacted (digit runs masked): for display and matching
    narrative_encrypted  text NOT NULL,  -- the bank's text, AES-GCM
    counterparty_name    text,
    counterparty_account text,  -- masked
    state                text NOT NULL DEFAULT 'unmatched'
                         CHECK (state IN ('unmatched', 'matched', 'proposed', 'exception')),
    UNIQUE (bin, account_number, bank_ref, direction, reversal)
);
CREATE INDEX recon_lines_day ON recon_lines (bin, account_number, booking_date);
CREATE INDEX recon_lines_open ON recon_lines (bin, account_number, booking_date) WHERE state <> 'matched';

-- What a bank line was matched to: a booked credit (payments_received), a journal entry, or several entries
-- (one-to-many: a payout batch, a bank's daily sum). `proposed` waits for a person; only `accepted` counts.
CREATE TABLE recon_matches (
    id             bigserial PRIMARY KEY,
    line_id        bigint NOT NULL REFERENCES recon_lines(id),
    rule           text NOT NULL
                   CHECK (rule IN ('bank_txn_id', 'reference', 'amount_date', 'one_to_many', 'manual')),
    entry_ids      bigint[] NOT NULL CHECK (cardinality(entry_ids) >= 1),
    state          text NOT NULL CHECK (state IN ('proposed', 'accepted', 'rejected')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    decided_by     text,
    decided_at     timestamptz,
    note           text CHECK (length(note) <= 2000)
);
CREATE UNIQUE INDEX recon_matches_one_accepted ON recon_matches (line_id) WHERE state = 'accepted';
CREATE INDEX recon_matches_entries ON recon_matches USING gin (entry_ids) WHERE state = 'accepted';

-- Differences finance works: each has an age (opened_at), an owner and a state.
CREATE TABLE recon_exceptions (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN (
                       'in_bank_not_ledger', 'in_ledger_not_bank', 'amount_differs', 'duplicate', 'reversal',
                       'callback_conflict')),
    bin            text NOT NULL,
    account_number text NOT NULL,
    business_date  date NOT NULL,
    line_id        bigint REFERENCES recon_lines(id),
    entry_id       bigint,  -- ledger journal entry (in_ledger_not_bank, amount_differs)
    amount         bigint NOT NULL,  -- signed: what the difference is worth to the bank account
    owner          text,
    state          text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved', 'carried')),
    resolution     text CHECK (resolution IN (
                       'linked', 'accepted_match', 'refund', 'adjustment', 'write_off', 'expected', 'carried')),
    note           text CHECK (length(note) <= 2000),
    opened_at      timestamptz NOT NULL DEFAULT now(),
    resolved_by    text,
    resolved_at    timestamptz,
    CHECK ((state = 'open') = (resolution IS NULL)),
    CHECK (line_id IS NOT NULL OR entry_id IS NOT NULL)
);
CREATE UNIQUE INDEX recon_exceptions_line ON recon_exceptions (line_id, kind) WHERE line_id IS NOT NULL;
CREATE UNIQUE INDEX recon_exceptions_entry ON recon_exceptions (entry_id, kind) WHERE entry_id IS NOT NULL;
CREATE INDEX recon_exceptions_open ON recon_exceptions (bin, account_number, business_date) WHERE state = 'open';

-- Each collection account's days: a day closes when its statement is in and balanced, every exception is
-- resolved or carried with a reason, and the ledger's bank account closing balance equals the statement's.
CREATE TABLE recon_account_days (
    bin               text NOT NULL,
    account_number    text NOT NULL,
    business_date     date NOT NULL,
    statement_closing bigint NOT NULL,
    ledger_closing    bigint NOT NULL CHECK (ledger_closing = statement_closing),
    carried           integer NOT NULL DEFAULT 0,
    closed_by         text NOT NULL,
    closed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bin, account_number, business_date)
);
CREATE TRIGGER recon_account_days_immutable BEFORE UPDATE OR DELETE ON recon_account_days
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Four eyes (core): a change that moves money by hand (refund, adjustment, write-off; later payout batches)
-- is proposed by a maker and carried out only when a different person approves it.
CREATE TABLE approvals (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{1,60}$'),
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    payload     jsonb NOT NULL,
    amount      bigint,
    maker       text NOT NULL CHECK (length(maker) BETWEEN 1 AND 200),
    made_at     timestamptz NOT NULL DEFAULT now(),
    note        text CHECK (length(note) <= 2000),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    checker     text,
    decided_at  timestamptz,
    decision_note text CHECK (length(decision_note) <= 2000),
    CONSTRAINT approvals_four_eyes CHECK (checker IS NULL OR checker <> maker),
    CHECK ((state = 'pending') = (checker IS NULL))
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (kind, subject) WHERE state = 'pending';

-- A decided approval stays decided.
CREATE FUNCTION approvals_decide_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'approval % is already %', OLD.id, OLD.state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'approvals_decided';
    END IF;
    IF NEW.kind <> OLD.kind OR NEW.subject <> OLD.subject OR NEW.payload <> OLD.payload
       OR NEW.amount IS DISTINCT FROM OLD.amount OR NEW.maker <> OLD.maker THEN
        RAISE EXCEPTION 'an approval''s request cannot change' USING ERRCODE = 'check_violation',
            CONSTRAINT = 'approvals_decided';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER approvals_decide_once BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_decide_once();
CREATE TRIGGER approvals_no_delete BEFORE DELETE OR TRUNCATE ON approvals
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
REVOKE DELETE, TRUNCATE ON recon_files, recon_statements, recon_lines, approvals FROM citypay_app;

-- Views the ledger and payments publish for reconciliation's set-based matching (issue 9, point 7: each
-- package owns its tables; a reader gets only the columns it needs).

-- Owned by the ledger: every posting on a bank account, with its entry.
CREATE VIEW ledger_bank_postings AS
SELECT p.id AS posting_id, p.entry_id, a.path AS account_path, p.business_date, p.amount, e.kind, e.refs,
       e.posted_at
  FROM postings p
  JOIN ledger_accounts a ON a.id = p.account_id
  JOIN journal_entries e ON e.id = p.entry_id
 WHERE a.path LIKE 'asset:bank:%';

-- Owned by payments: every bank credit it booked (from a callback or a statement), with its entry.
CREATE VIEW payments_bank_credits AS
SELECT id AS payment_id, bank_code, bank_txn_id, amount, credited_bin, credited_account, booked_at,
       reference, payment_request_id, outcome, entry_id
  FROM payments_received;
GRANT SELECT ON ledger_bank_postings, payments_bank_credits TO citypay_app;
