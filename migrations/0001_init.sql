-- Foundation: staff access, API tokens, the hash-chained audit log and the double-entry ledger.

-- Staff -------------------------------------------------------------------------------------------------
CREATE TABLE staff_users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('admin', 'attendant', 'finance', 'approver')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of the cookie value is stored, so a database leak does not hand out sessions.
CREATE TABLE staff_sessions (
    id_hash    bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES staff_users(id),
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX staff_sessions_user ON staff_sessions (user_id);

CREATE TABLE login_attempts (
    id       bigserial PRIMARY KEY,
    username text NOT NULL,
    address  text NOT NULL,
    success  boolean NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_username ON login_attempts (username, at);
CREATE INDEX login_attempts_address ON login_attempts (address, at);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    token_prefix text NOT NULL UNIQUE,
    secret_hash  bytea NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Audit log: append-only; each row carries the hash of the one before it ------------------------------
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    subject    text NOT NULL,
    before     jsonb,
    after      jsonb,
    request_id text,
    prev_hash  text NOT NULL,
    hash       text NOT NULL UNIQUE
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable; record a correction instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'immutable_rows';
END $$;

CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Ledger -------------------------------------------------------------------------------------------------
CREATE TABLE ledger_accounts (
    id         bigserial PRIMARY KEY,
    path       text NOT NULL UNIQUE
               CHECK (path ~ '^(asset|liability|equity|revenue|expense)(:[A-Za-z0-9_.-]+)+$' AND length(path) <= 200),
    type       text GENERATED ALWAYS AS (split_part(path, ':', 1)) STORED,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal_entries (
    id              bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,62}$'),
    business_date   date NOT NULL,
    refs            jsonb NOT NULL DEFAULT '{}'::jsonb,
    memo            text,
    content_hash    text NOT NULL,
    posted_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_entries_date ON journal_entries (business_date);

-- amount > 0 is a debit, < 0 a credit; business_date is copied from the entry so balances need no join.
CREATE TABLE postings (
    id            bigserial PRIMARY KEY,
    entry_id      bigint NOT NULL REFERENCES journal_entries(id),
    account_id    bigint NOT NULL REFERENCES ledger_accounts(id),
    amount        bigint NOT NULL CHECK (amount <> 0),
    business_date date NOT NULL
);
CREATE INDEX postings_account_date ON postings (account_id, business_date) INCLUDE (amount);
CREATE INDEX postings_entry ON postings (entry_id);

-- Postings join only an entry made in the same transaction (posted_at defaults to the transaction's start):
-- lines added later, even balanced ones, would change a posted entry.
CREATE FUNCTION postings_take_entry_date() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_posted_at timestamptz;
BEGIN
    SELECT business_date, posted_at INTO STRICT NEW.business_date, entry_posted_at
        FROM journal_entries WHERE id = NEW.entry_id;
    IF entry_posted_at <> transaction_timestamp() THEN
        RAISE EXCEPTION 'journal entry % is already posted; record a correction instead', NEW.entry_id
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'immutable_rows';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER postings_entry_date BEFORE INSERT ON postings
    FOR EACH ROW EXECUTE FUNCTION postings_take_entry_date();

-- Checked at commit, once all of an entry's postings are in: at least two lines, summing to zero.
CREATE FUNCTION check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry bigint;
    n integer;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'postings' THEN
        entry := NEW.entry_id;
    ELSE
        entry := NEW.id;
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO n, total FROM postings WHERE entry_id = entry;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced (% postings, sum %)', entry, n, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();

CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
