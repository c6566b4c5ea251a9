-- reserved for issue 12; filled in by the work that needs it (a comment-only file applies as nothing)
SELECT 1;
