-- The service takes dates in 2000–2100 only (core/timebounds.py; statements: reconciliation/parsers/limits.py).
-- The same bounds here, as the last line: a statement dated 9999-12-31 was once stored as `infinity`, which
-- broke every page that subtracts dates, and a ledger entry booked from it had a business date no day close
-- covers. NOT VALID: rows already stored are not re-read (they can be found with the same conditions); every
-- new or changed row is checked.
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_business_date_range
    CHECK (business_date BETWEEN DATE '2000-01-01' AND DATE '2100-12-31') NOT VALID;
ALTER TABLE postings ADD CONSTRAINT postings_business_date_range
    CHECK (business_date BETWEEN DATE '2000-01-01' AND DATE '2100-12-31') NOT VALID;
ALTER TABLE recon_statements ADD CONSTRAINT recon_statements_date_range
    CHECK (from_date >= DATE '2000-01-01' AND to_date <= DATE '2100-12-31') NOT VALID;
ALTER TABLE recon_lines ADD CONSTRAINT recon_lines_date_range
    CHECK (booking_date BETWEEN DATE '2000-01-01' AND DATE '2100-12-31'
           AND (value_date IS NULL OR value_date BETWEEN DATE '2000-01-01' AND DATE '2100-12-31')) NOT VALID;
