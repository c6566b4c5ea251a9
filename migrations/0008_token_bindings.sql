-- Agency tokens are bound to the fee codes they may charge and the channels they may assert (issue 8.12);
-- a cancelled payment request says who cancelled it and why (issue 8.13).

ALTER TABLE api_tokens
    ADD COLUMN fee_codes text[],
    ADD COLUMN channels  text[] NOT NULL DEFAULT '{}';

-- Tokens issued before this migration keep exactly the power they had over what exists today: a write token
-- may charge every fee now in the catalogue and assert every channel a subsidy programme names today, but
-- nothing added later. Admins narrow them by issuing a bound token and revoking the old one (docs/SECURITY.md).
UPDATE api_tokens
   SET fee_codes = COALESCE((SELECT array_agg(code ORDER BY code) FROM fee_catalogue), '{}'),
       channels  = COALESCE((SELECT array_agg(DISTINCT channel ORDER BY channel) FROM subsidy_programmes
                              WHERE channel IS NOT NULL), '{}')
 WHERE 'payment-requests:write' = ANY (scopes);

ALTER TABLE api_tokens
    -- NULL only for a token that cannot create payment requests.
    ADD CONSTRAINT api_tokens_writer_has_fee_codes
        CHECK (fee_codes IS NOT NULL OR NOT ('payment-requests:write' = ANY (scopes))),
    ADD CONSTRAINT api_tokens_fee_codes_shape
        CHECK (fee_codes IS NULL OR (array_position(fee_codes, NULL) IS NULL AND array_to_string(fee_codes, ',')
               ~ '^([A-Z0-9][A-Z0-9_-]{1,30}(,[A-Z0-9][A-Z0-9_-]{1,30})*)?$')),
    ADD CONSTRAINT api_tokens_channels_shape
        CHECK (array_position(channels, NULL) IS NULL
               AND array_to_string(channels, ',') ~ '^([a-z0-9_-]{1,30}(,[a-z0-9_-]{1,30})*)?$');

ALTER TABLE payment_requests
    ADD COLUMN cancelled_by  text,
    ADD COLUMN cancel_reason text,
    -- Requests cancelled before this migration have neither; every later cancellation has both.
    ADD CONSTRAINT payment_requests_cancel_reason
        CHECK ((cancel_reason IS NULL AND cancelled_by IS NULL)
               OR (status = 'cancelled' AND cancelled_by IS NOT NULL
                   AND char_length(cancel_reason) BETWEEN 1 AND 500));
