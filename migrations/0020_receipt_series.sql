-- Receipts as a Vietnamese e-receipt for fees and charges (biên lai điện tử thu phí, lệ phí — Nghị định
-- 123/2020/NĐ-CP, Thông tư 78/2021/TT-BTC): a receipt template code (ký hiệu mẫu biên lai) and series (ký hiệu
-- biên lai), a number that runs 1, 2, 3 … without gaps within its series, the collecting organisation and its
-- tax code, and each fee's legal basis.

-- A series and its counter. The number is taken in the transaction that issues the receipt, from this row
-- locked FOR UPDATE (payments/receipts.py): a sequence would leave gaps when a transaction rolls back.
-- One series is active at a time (a new year's series is added and activated by finance).
CREATE TABLE receipt_series (
    series          text PRIMARY KEY CHECK (series ~ '^[A-Z0-9][A-Z0-9-]{1,19}$'),
    template_code   text NOT NULL CHECK (template_code ~ '^[A-Z0-9][A-Z0-9-]{1,19}$'),
    agency_name     text NOT NULL CHECK (length(agency_name) BETWEEN 1 AND 200),
    agency_tax_code text CHECK (agency_tax_code ~ '^[0-9]{10}(-[0-9]{3})?$'),  -- mã số thuế, when known
    last_number     bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0),
    active          boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX receipt_series_one_active ON receipt_series ((true)) WHERE active;
INSERT INTO receipt_series (series, template_code, agency_name, active)
VALUES ('HN-26E', '01BLP0-001', 'Ủy ban nhân dân thành phố Hà Nội', true);

-- Every receipt has its series and number. Receipts issued before this migration get theirs now, in issue
-- order; their signed body is left exactly as it was (it keeps verifying), so their number is on record
-- beside the body rather than inside it.
ALTER TABLE receipts ADD COLUMN series text REFERENCES receipt_series(series),
                     ADD COLUMN number bigint CHECK (number > 0);
ALTER TABLE receipts DISABLE TRIGGER receipts_immutable;
UPDATE receipts r
   SET series = 'HN-26E', number = numbered.n
  FROM (SELECT id, row_number() OVER (ORDER BY issued_at, id) AS n FROM receipts) numbered
 WHERE r.id = numbered.id;
ALTER TABLE receipts ENABLE TRIGGER receipts_immutable;
UPDATE receipt_series SET last_number = (SELECT count(*) FROM receipts) WHERE series = 'HN-26E';
ALTER TABLE receipts ALTER COLUMN series SET NOT NULL,
                     ALTER COLUMN number SET NOT NULL,
                     ADD CONSTRAINT receipts_series_number UNIQUE (series, number);

-- The legal basis a fee is collected under (căn cứ pháp lý), printed on its receipts. The catalogue's admin
-- form does not edit it yet; until it does, every fee carries the law on fees and charges.
ALTER TABLE fee_catalogue
    ADD COLUMN legal_basis text NOT NULL DEFAULT 'Luật Phí và lệ phí số 97/2015/QH13'
        CHECK (length(legal_basis) BETWEEN 1 AND 300);
