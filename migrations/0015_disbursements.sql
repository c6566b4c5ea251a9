-- Disbursements, part 1 (issue 11, points 1–2): programmes, beneficiaries, their enrolments and bank accounts,
-- and each account's verification by the bank (name inquiry). Owned by the `disbursements` package; batches
-- and items (0016) read the roster view below. Personal data (CCCD, name, account number) is stored only
-- encrypted (core.pii, contexts disb.national_id / disb.name / disb.account), found through a keyed hash and
-- shown masked.

-- The four programmes the city pays. Funding: the city's bank account payouts leave from (a ledger path
-- asset:bank:<bin>:<account>, which the ledger accepts only for a registered collection account — 0005);
-- expense: expense:benefit:<code> (ledger.accounts.benefit_expense).
CREATE TABLE disb_programmes (
    code                     text PRIMARY KEY
                             CHECK (code IN ('pension', 'social_insurance', 'unemployment', 'social_assistance')),
    name_vi                  text NOT NULL CHECK (length(name_vi) BETWEEN 1 AND 200),
    name_en                  text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    funding_account          text NOT NULL CHECK (funding_account ~ '^asset:bank:[0-9]{6}:[A-Za-z0-9]{1,19}$'),
    expense_account          text NOT NULL CHECK (expense_account = 'expense:benefit:' || code),
    verification_valid_days  integer NOT NULL DEFAULT 90 CHECK (verification_valid_days BETWEEN 1 AND 3660),
    -- What a beneficiary enrolled without an amount of their own is paid a month (integer đồng).
    default_monthly_amount   bigint NOT NULL CHECK (default_monthly_amount BETWEEN 1 AND 1000000000)
);
-- Funding: the demo city account at the simulated Vietcombank (core/demo_bank_key.py); a deployment points it
-- at its own treasury account (an UPDATE, audited by whoever makes it).
INSERT INTO disb_programmes (code, name_vi, name_en, funding_account, expense_account,
                             default_monthly_amount) VALUES
    ('pension', 'Lương hưu', 'Pension', 'asset:bank:970436:0011001234567', 'expense:benefit:pension',
     3500000),
    ('social_insurance', 'Trợ cấp bảo hiểm xã hội', 'Social-insurance allowance',
     'asset:bank:970436:0011001234567', 'expense:benefit:social_insurance', 2000000),
    ('unemployment', 'Trợ cấp thất nghiệp', 'Unemployment insurance allowance',
     'asset:bank:970436:0011001234567', 'expense:benefit:unemployment', 3000000),
    -- 500,000 đồng: the social-assistance standard level from 1 July 2024 (Decree 76/2024/NĐ-CP)
    ('social_assistance', 'Trợ cấp xã hội', 'Social assistance',
     'asset:bank:970436:0011001234567', 'expense:benefit:social_assistance', 500000);

-- A person the city pays, known by the CCCD (its keyed hash: one row per CCCD).
CREATE TABLE disb_beneficiaries (
    id                       bigserial PRIMARY KEY,
    national_id_enc          text NOT NULL,
    national_id_hash         bytea NOT NULL UNIQUE CHECK (length(national_id_hash) = 32),
    national_id_masked       text NOT NULL CHECK (national_id_masked ~ '^[0-9]{3}\*{6}[0-9]{3}$'),
    full_name_enc            text NOT NULL,
    full_name_masked         text NOT NULL CHECK (length(full_name_masked) BETWEEN 1 AND 200),
    birth_date               date NOT NULL CHECK (birth_date >= '1900-01-01'),
    -- Set by execution when the bank answers AC04 (closed) or MD07 (deceased): no more payouts until a
    -- reviewed decision (four eyes, disbursements.resume_payments) clears it.
    payments_stopped_reason  text CHECK (payments_stopped_reason IN ('AC04', 'MD07')),
    payments_stopped_at      timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- Who is enrolled where, for how much a month (integer đồng). A CCCD twice in a programme: the primary key.
CREATE TABLE disb_enrolments (
    programme       text NOT NULL REFERENCES disb_programmes(code),
    beneficiary_id  bigint NOT NULL REFERENCES disb_beneficiaries(id),
    monthly_amount  bigint NOT NULL CHECK (monthly_amount > 0 AND monthly_amount <= 1000000000),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme, beneficiary_id)
);
CREATE INDEX disb_enrolments_beneficiary ON disb_enrolments (beneficiary_id);

-- A beneficiary's bank accounts: one active at a time. A change of account is a new row in state unverified
-- (the old one made inactive), so a verification never carries over to another account.
CREATE TABLE disb_accounts (
    id              bigserial PRIMARY KEY,
    beneficiary_id  bigint NOT NULL REFERENCES disb_beneficiaries(id),
    bank_bin        char(6) NOT NULL CHECK (bank_bin ~ '^[0-9]{6}$'),
    account_enc     text NOT NULL,
    account_hash    bytea NOT NULL CHECK (length(account_hash) = 32),
    account_masked  text NOT NULL CHECK (account_masked ~ '^\*{4}[0-9A-Za-z]{0,4}$'),
    active          boolean NOT NULL DEFAULT true,
    state           text NOT NULL DEFAULT 'unverified' CHECK (state IN (
                        'unverified', 'verified', 'mismatch', 'not_found', 'closed', 'blocked', 'deceased')),
    bank_answer     jsonb,  -- the bank's last answer, masked (no plain account number or name)
    id_match        boolean,
    checked_at      timestamptz,
    verified_until  timestamptz,
    -- A person's decision on a mismatch (four eyes): accepted → verified; rejected → stays mismatch.
    review          text CHECK (review IN ('accepted', 'rejected')),
    reviewed_by     text,
    reviewed_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'verified' OR verified_until IS NOT NULL),
    CHECK (state = 'unverified' OR checked_at IS NOT NULL)
);
CREATE UNIQUE INDEX disb_accounts_one_active ON disb_accounts (beneficiary_id) WHERE active;
CREATE INDEX disb_accounts_hash ON disb_accounts (account_hash);
CREATE INDEX disb_accounts_to_verify ON disb_accounts (state, verified_until) WHERE active;

-- Every answer the bank gave for an account (the verification history; masked like bank_answer).
CREATE TABLE disb_account_checks (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES disb_accounts(id),
    state        text NOT NULL CHECK (state IN (
                     'verified', 'mismatch', 'not_found', 'closed', 'blocked', 'deceased', 'error')),
    bank_answer  jsonb NOT NULL,
    id_match     boolean,
    checked_by   text NOT NULL CHECK (length(checked_by) BETWEEN 1 AND 200),
    checked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disb_account_checks_account ON disb_account_checks (account_id, checked_at);
CREATE TRIGGER disb_account_checks_immutable BEFORE UPDATE OR DELETE ON disb_account_checks
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- One row per active enrolment with what batches need; hold_reason NULL = payable. Only an active account
-- verified and not expired is payable; a stop set by execution (AC04/MD07) holds every programme.
CREATE VIEW disb_roster AS
SELECT e.programme, e.beneficiary_id, e.monthly_amount,
       a.id AS account_id, a.bank_bin, a.account_enc,
       CASE
           WHEN b.payments_stopped_reason = 'AC04' THEN 'stopped_ac04'
           WHEN b.payments_stopped_reason = 'MD07' THEN 'stopped_md07'
           WHEN a.id IS NULL THEN 'no_account'
           WHEN a.state = 'verified' AND a.verified_until <= now() THEN 'expired'
           WHEN a.state = 'verified' THEN NULL
           ELSE a.state
       END AS hold_reason
  FROM disb_enrolments e
  JOIN disb_beneficiaries b ON b.id = e.beneficiary_id
  LEFT JOIN disb_accounts a ON a.beneficiary_id = e.beneficiary_id AND a.active
 WHERE e.active;

GRANT SELECT ON disb_roster TO citypay_app;
-- Beneficiaries, accounts and checks are history: never deleted by the app (an enrolment is ended by
-- active = false, an account by a new one).
REVOKE DELETE, TRUNCATE ON disb_programmes, disb_beneficiaries, disb_enrolments, disb_accounts,
    disb_account_checks FROM citypay_app;
REVOKE INSERT ON disb_programmes FROM citypay_app;
