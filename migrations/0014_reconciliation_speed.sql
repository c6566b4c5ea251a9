-- Reconciliation at a million lines a day (issue 10, point 9).
--
-- Matching runs right after an import, before autovacuum has looked at the new lines: without statistics the
-- planner guesses a handful of rows and picks nested loops. The service role cannot ANALYZE a table it does
-- not own, so this function does it with its owner's rights, for recon_lines only, and nothing else.
CREATE FUNCTION recon_analyze_lines() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    ANALYZE recon_lines;
END;
$$;
REVOKE ALL ON FUNCTION recon_analyze_lines() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recon_analyze_lines() TO citypay_app;

-- Published by payments for reconciliation's reference pass (as 0013's views): the references of the payment
-- requests it issued. Matching asks once which of the references found in a statement's narratives name a
-- request, instead of asking payments' settlement line by line (a million-line statement can name tens of
-- thousands of references that settle nothing: duplicates of already matched credits, foreign references).
CREATE VIEW payments_request_references AS SELECT reference FROM payment_requests;
GRANT SELECT ON payments_request_references TO citypay_app;
