-- Issue 13, point 3: indexes for lookups that scanned a table that grows without bound. Found by running
-- EXPLAIN (GENERIC_PLAN) on every literal SQL statement of the service with enable_seqscan = off: a Seq Scan
-- left in a plan means no index can serve it. The hot paths (callback settlement, request creation, parking
-- check-in/out, receipts) had none left on growing tables; these are the pages and reports beside them.
-- IF NOT EXISTS: on a large production database an operator builds them first with CREATE INDEX
-- CONCURRENTLY under the same names (docs/DEPLOY.md), and this migration then only records them.

-- A payment's detail page: the inbox rows that booked a credit (payments/payment_detail.py).
CREATE INDEX IF NOT EXISTS callback_inbox_payment ON callback_inbox (payment_id) WHERE payment_id IS NOT NULL;
-- Failed callbacks for finance, newest first (payments/callback_issues.py).
CREATE INDEX IF NOT EXISTS callback_inbox_failed ON callback_inbox (received_at DESC, id DESC)
    WHERE status = 'failed';
-- Parking KPIs by exit time (parking/kpis.py), a report over months of sessions.
CREATE INDEX IF NOT EXISTS parking_sessions_exit ON parking_sessions (exit_requested_at)
    WHERE exit_requested_at IS NOT NULL;
-- Reconciliation: a statement's lines, a line's proposed matches, an account-day's exceptions in any state,
-- entries in proposed matches (the accepted ones had their own indexes).
CREATE INDEX IF NOT EXISTS recon_lines_statement ON recon_lines (statement_id);
CREATE INDEX IF NOT EXISTS recon_matches_line ON recon_matches (line_id);
CREATE INDEX IF NOT EXISTS recon_exceptions_account_day ON recon_exceptions (bin, account_number, business_date);
CREATE INDEX IF NOT EXISTS recon_matches_entries_proposed ON recon_matches USING gin (entry_ids)
    WHERE state = 'proposed';
-- The ledger entry behind a received payment (payments/payment_detail.py, reconciliation).
CREATE INDEX IF NOT EXISTS payments_received_entry ON payments_received (entry_id);
