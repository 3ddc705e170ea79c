-- A paused recurring job (issue 17: the dashboard's Recurring page) enqueues
-- nothing until resumed; registering it again keeps it paused. As on SQLite
-- (its migration 0016). NULL: running.

ALTER TABLE recurring ADD COLUMN paused_at bigint;
