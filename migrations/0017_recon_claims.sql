-- Reconciliation learns two more strict rules (issue 11, point 5):
--   entry_ref — a bank line whose own reference is the bank transaction id a journal entry recorded (a payout
--               booked by disbursements carries the bank's id in its refs), same account, amount, direction;
--   claimed   — a line another capability recognised as its own (a returned payout, by its end-to-end id)
--               and booked itself; reconciliation records the entry it answered with.
ALTER TABLE recon_matches DROP CONSTRAINT recon_matches_rule_check;
ALTER TABLE recon_matches ADD CONSTRAINT recon_matches_rule_check CHECK (rule IN (
    'bank_txn_id', 'entry_ref', 'claimed', 'reference', 'amount_date', 'one_to_many', 'manual'));

-- Owned by reconciliation: the lines no pass has taken yet, for claimants to read set-based (they never
-- touch recon_lines itself; matching records what they claim). The narrative is the redacted copy.
CREATE VIEW recon_open_lines AS
SELECT id AS line_id, bin, account_number, bank_ref, end_to_end_id, booking_date, direction, amount, reversal,
       narrative
  FROM recon_lines
 WHERE state = 'unmatched';
GRANT SELECT ON recon_open_lines TO citypay_app;

