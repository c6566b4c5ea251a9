-- A payout the receiving bank sends back later (account closed after the payment, holder deceased, …): a new
-- transfer the other way with the payout's end-to-end id, booked at most once per payout. Returns are not QR
-- payments: no callback is queued for them; the city learns of them from its statement.
ALTER TABLE transfers DROP CONSTRAINT transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check CHECK (kind IN ('qr_payment', 'payout', 'payout_return'));

CREATE TABLE payout_returns (
    idempotency_key text PRIMARY KEY REFERENCES payouts (idempotency_key),
    transfer_id     bigint NOT NULL UNIQUE REFERENCES transfers (id),
    reason_code     text NOT NULL CHECK (reason_code ~ '^[A-Z]{2}[0-9]{2}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
