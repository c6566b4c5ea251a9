-- Payments: bank BINs, the city's collection accounts, the fee catalogue, subsidy programmes, payment
-- requests with their idempotency keys, money received from banks, and signed receipts.

-- NAPAS acquirer ids. Data, not constants: names change and wallets get ids; admins update this table.
-- Seeded from shared/data/vn_bank_bins.csv (State Bank list of BINs issued up to 31-12-2023).
CREATE TABLE banks (
    bin        text PRIMARY KEY CHECK (bin ~ '^[0-9]{6}$'),
    short_name text NOT NULL CHECK (length(short_name) BETWEEN 1 AND 50),
    name       text NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO banks (bin, short_name, name) VALUES
    ('970436', 'Vietcombank', 'Ngân hàng TMCP Ngoại thương Việt Nam'),
    ('970415', 'VietinBank', 'Ngân hàng TMCP Công thương Việt Nam'),
    ('970418', 'BIDV', 'Ngân hàng TMCP Đầu tư và Phát triển Việt Nam'),
    ('970405', 'Agribank', 'Ngân hàng Nông nghiệp và Phát triển Nông thôn Việt Nam'),
    ('970407', 'Techcombank', 'Ngân hàng TMCP Kỹ thương Việt Nam'),
    ('970422', 'MB', 'Ngân hàng TMCP Quân đội'),
    ('970416', 'ACB', 'Ngân hàng TMCP Á Châu'),
    ('970432', 'VPBank', 'Ngân hàng TMCP Việt Nam Thịnh Vượng'),
    ('970423', 'TPBank', 'Ngân hàng TMCP Tiên Phong'),
    ('970403', 'Sacombank', 'Ngân hàng TMCP Sài Gòn Thương Tín'),
    ('970437', 'HDBank', 'Ngân hàng TMCP Phát triển TP. Hồ Chí Minh'),
    ('970441', 'VIB', 'Ngân hàng TMCP Quốc tế Việt Nam'),
    ('970443', 'SHB', 'Ngân hàng TMCP Sài Gòn - Hà Nội'),
    ('970426', 'MSB', 'Ngân hàng TMCP Hàng Hải Việt Nam'),
    ('970440', 'SeABank', 'Ngân hàng TMCP Đông Nam Á'),
    ('970448', 'OCB', 'Ngân hàng TMCP Phương Đông'),
    ('970431', 'Eximbank', 'Ngân hàng TMCP Xuất Nhập khẩu Việt Nam'),
    ('970449', 'LPBank', 'Ngân hàng TMCP Lộc Phát Việt Nam'),
    ('970429', 'SCB', 'Ngân hàng TMCP Sài Gòn'),
    ('970428', 'Nam A Bank', 'Ngân hàng TMCP Nam Á'),
    ('970454', 'BVBank', 'Ngân hàng TMCP Bản Việt'),
    ('970452', 'KienlongBank', 'Ngân hàng TMCP Kiên Long'),
    ('970425', 'ABBank', 'Ngân hàng TMCP An Bình'),
    ('970412', 'PVcomBank', 'Ngân hàng TMCP Đại Chúng Việt Nam'),
    ('970419', 'NCB', 'Ngân hàng TMCP Quốc Dân'),
    ('970400', 'Saigonbank', 'Ngân hàng TMCP Sài Gòn Công Thương'),
    ('970424', 'Shinhan Bank', 'Ngân hàng TNHH MTV Shinhan Việt Nam'),
    ('970457', 'Woori Bank', 'Ngân hàng TNHH MTV Woori Việt Nam');

-- Accounts of the city that receive payments (not personal data: printed on every QR).
CREATE TABLE collection_accounts (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{1,40}$'),
    bin            text NOT NULL REFERENCES banks(bin),
    account_number text NOT NULL CHECK (account_number ~ '^[A-Za-z0-9]{1,19}$'),
    holder_name    text NOT NULL CHECK (holder_name ~ '^[ -~]{1,50}$'),
    active         boolean NOT NULL DEFAULT true,
    UNIQUE (bin, account_number)
);

CREATE TABLE fee_catalogue (
    code                  text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{1,30}$'),
    name_vi               text NOT NULL CHECK (length(name_vi) BETWEEN 1 AND 200),
    name_en               text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    amount                bigint NOT NULL CHECK (amount > 0),
    agency                text NOT NULL CHECK (length(agency) BETWEEN 1 AND 200),
    revenue_account       text NOT NULL CHECK (revenue_account ~ '^revenue(:[A-Za-z0-9_.-]+)+$'),
    collection_account_id bigint NOT NULL REFERENCES collection_accounts(id),
    active_from           timestamptz NOT NULL DEFAULT now(),
    active_until          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fee_catalogue_window CHECK (active_until IS NULL OR active_until > active_from)
);

-- The city budget pays `per_request` đồng of each matching fee (all of it when per_request >= the fee) while
-- the window is open and the cap not reached. budget_used only grows through one guarded UPDATE.
CREATE TABLE subsidy_programmes (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_-]{1,40}$'),
    name_vi      text NOT NULL,
    name_en      text NOT NULL,
    fee_code     text NOT NULL REFERENCES fee_catalogue(code),
    channel      text CHECK (channel ~ '^[a-z0-9_-]{1,30}$'),  -- e.g. 'vneid'; NULL = every channel
    per_request  bigint NOT NULL CHECK (per_request > 0),
    budget_cap   bigint NOT NULL CHECK (budget_cap > 0),
    budget_used  bigint NOT NULL DEFAULT 0,
    valid_from   timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subsidy_budget_within_cap CHECK (budget_used BETWEEN 0 AND budget_cap),
    CONSTRAINT subsidy_window CHECK (valid_until > valid_from)
);

CREATE TABLE payment_requests (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference          text NOT NULL UNIQUE CHECK (reference ~ '^CP[0-9A-Z]{11}$'),
    kind               text NOT NULL CHECK (kind IN ('service_fee', 'parking')),
    fee_code           text REFERENCES fee_catalogue(code),
    purpose_vi         text NOT NULL,
    purpose_en         text NOT NULL,
    payer_reference    text CHECK (length(payer_reference) <= 100),
    channel            text,
    fee_amount         bigint NOT NULL CHECK (fee_amount > 0),
    subsidy_code       text REFERENCES subsidy_programmes(code),
    subsidy_amount     bigint NOT NULL DEFAULT 0 CHECK (subsidy_amount >= 0),
    amount_due         bigint NOT NULL CHECK (amount_due >= 0),
    amount_received    bigint NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    revenue_account    text NOT NULL,
    collection_bin     text NOT NULL REFERENCES banks(bin),
    collection_account text NOT NULL,
    collection_holder  text NOT NULL,
    qr_payload         text,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'paid', 'expired', 'cancelled')),
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    settled_at         timestamptz,
    closed_at          timestamptz,
    CONSTRAINT payment_requests_amounts CHECK (amount_due = fee_amount - subsidy_amount),
    CONSTRAINT payment_requests_service_fee CHECK (kind <> 'service_fee' OR fee_code IS NOT NULL),
    CONSTRAINT payment_requests_paid_when_settled CHECK ((status = 'paid') = (settled_at IS NOT NULL))
);
CREATE INDEX payment_requests_status ON payment_requests (status, expires_at);
CREATE INDEX payment_requests_created ON payment_requests (created_at);
-- References are unique forever: requests are never deleted.
CREATE TRIGGER payment_requests_no_delete BEFORE DELETE ON payment_requests
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Stripe-style Idempotency-Key: per caller, the first body's hash and the response it got.
CREATE TABLE idempotency_keys (
    principal       text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    text NOT NULL,
    response_status integer,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

-- Every credit a bank reported, whatever became of it. Rows are never deleted or rewritten.
CREATE TABLE payments_received (
    id                 bigserial PRIMARY KEY,
    bank_code          text NOT NULL,
    bank_txn_id        text NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    credited_bin       text NOT NULL,
    credited_account   text NOT NULL,
    narrative          text NOT NULL,
    booked_at          timestamptz NOT NULL,
    reference          text,
    payment_request_id uuid REFERENCES payment_requests(id),
    outcome            text NOT NULL CHECK (outcome IN (
                           'settled', 'overpaid', 'underpaid', 'late', 'cancelled', 'already_paid',
                           'unknown_reference')),
    entry_id           bigint NOT NULL REFERENCES journal_entries(id),
    received_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bank_code, bank_txn_id)
);
CREATE INDEX payments_received_request ON payments_received (payment_request_id);
CREATE INDEX payments_received_outcome ON payments_received (outcome, received_at);
CREATE TRIGGER payments_received_immutable BEFORE UPDATE OR DELETE ON payments_received
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Signed e-receipts: `body` is the exact canonical JSON text that was signed.
CREATE TABLE receipts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_request_id uuid NOT NULL UNIQUE REFERENCES payment_requests(id),
    body               text NOT NULL,
    signature          text NOT NULL,
    key_id             text NOT NULL,
    issued_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER receipts_immutable BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
