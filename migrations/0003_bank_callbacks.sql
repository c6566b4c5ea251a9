-- Bank callbacks: bank profiles with their keys (two active at once for rotation), and the inbox where every
-- accepted callback is stored raw before it is processed.

CREATE TABLE bank_profiles (
    code             text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,30}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    bin              text NOT NULL REFERENCES banks(bin),
    scheme           text NOT NULL CHECK (scheme IN ('citypay-bank-v1', 'vnpay', 'payos')),
    tolerance_s      integer NOT NULL DEFAULT 300 CHECK (tolerance_s BETWEEN 30 AND 3600),
    -- Gateways (VNPay, payOS) do not say which account they credited: the profile does.
    credited_account text CHECK (credited_account ~ '^[A-Za-z0-9]{1,19}$'),
    merchant_code    text CHECK (length(merchant_code) <= 64),  -- VNPay vnp_TmnCode
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bank_profiles_gateway_account CHECK (scheme = 'citypay-bank-v1' OR credited_account IS NOT NULL)
);

CREATE TABLE bank_keys (
    id               bigserial PRIMARY KEY,
    bank_code        text NOT NULL REFERENCES bank_profiles(code),
    key_id           text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    kind             text NOT NULL CHECK (kind IN ('ed25519', 'rsa-pss-sha256', 'hmac')),
    public_key_pem   text,
    secret_encrypted text,  -- HMAC secrets (VNPay hash secret, payOS checksum key), AES-GCM via core.pii
    created_at       timestamptz NOT NULL DEFAULT now(),
    retired_at       timestamptz,
    UNIQUE (bank_code, key_id),
    CONSTRAINT bank_keys_material CHECK (
        (kind = 'hmac' AND secret_encrypted IS NOT NULL AND public_key_pem IS NULL)
        OR (kind <> 'hmac' AND public_key_pem IS NOT NULL AND secret_encrypted IS NULL))
);

-- Rotation allows two active keys per bank, never three. The profile row lock serialises concurrent adds.
CREATE FUNCTION bank_keys_at_most_two_active() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM bank_profiles WHERE code = NEW.bank_code FOR UPDATE;
    IF NEW.retired_at IS NULL AND (SELECT count(*) FROM bank_keys
            WHERE bank_code = NEW.bank_code AND retired_at IS NULL AND id <> NEW.id) >= 2 THEN
        RAISE EXCEPTION 'bank % already has two active keys; retire one first', NEW.bank_code
            USING ERRCODE = 'check_violation', CONSTRAINT = 'bank_keys_two_active';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bank_keys_two_active BEFORE INSERT OR UPDATE ON bank_keys
    FOR EACH ROW EXECUTE FUNCTION bank_keys_at_most_two_active();

CREATE TABLE callback_inbox (
    id           bigserial PRIMARY KEY,
    bank_code    text NOT NULL REFERENCES bank_profiles(code),
    received_at  timestamptz NOT NULL DEFAULT now(),
    method       text NOT NULL,
    content_type text,
    headers      jsonb NOT NULL,  -- only the protocol's headers, never cookies or authorisation
    query        text NOT NULL DEFAULT '',
    raw_body     text NOT NULL,  -- exact bytes as received, AES-GCM encrypted (payer names, accounts)
    bank_txn_id  text,
    status       text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'ignored')),
    outcome      text,
    payment_id   bigint REFERENCES payments_received(id),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    processed_at timestamptz
);
CREATE INDEX callback_inbox_unprocessed ON callback_inbox (received_at) WHERE status = 'received';
CREATE INDEX callback_inbox_txn ON callback_inbox (bank_code, bank_txn_id);
