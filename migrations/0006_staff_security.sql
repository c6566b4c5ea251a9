-- Staff security (issue 8): admins clear an account's login failures without deleting the record of them,
-- and deactivation is dated. The login throttle counts failures per address, per account and per
-- account+address; the index serves the last two.
ALTER TABLE staff_users ADD COLUMN failures_reset_at timestamptz;
ALTER TABLE staff_users ADD COLUMN deactivated_at timestamptz;
CREATE INDEX login_attempts_username_address ON login_attempts (username, address, at);
