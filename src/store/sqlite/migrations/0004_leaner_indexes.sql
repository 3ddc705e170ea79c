-- Every index costs a page write per insert and per state change: keep the
-- ones the hot path needs. The next due time is found through jobs_claim
-- (one seek per distinct priority), and expired leases through
-- jobs_running_owner (it holds every running job).
DROP INDEX jobs_waiting_run_at;
DROP INDEX jobs_running_lease;
