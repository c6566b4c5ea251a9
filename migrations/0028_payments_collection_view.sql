-- Owned by payments, read by parking's check-out (issue 13: the exit terms in one statement): the active
-- collection accounts a lot may collect into, with what a VietQR payment request needs of them.
CREATE VIEW payments_active_collection_accounts AS
SELECT code, bin, account_number, holder_name
  FROM collection_accounts
 WHERE active;
-- Read only (the default privileges of 0007 would let the service write through this simple view).
REVOKE INSERT, UPDATE, DELETE ON payments_active_collection_accounts FROM citypay_app;
