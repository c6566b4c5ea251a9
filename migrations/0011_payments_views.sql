-- Views a package publishes so another can read set-based figures without naming its tables (issue 9,
-- point 7: each package owns its tables). A published view carries only the columns its readers need;
-- the owner may change its tables as long as the view keeps its shape.

-- Owned by payments, read by parking's KPIs: the state of each payment request a parking turn points at.
CREATE VIEW payments_parking_requests AS
SELECT id, status
  FROM payment_requests;
