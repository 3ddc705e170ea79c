-- Debounce (issue 18), as on SQLite (its migration 0013): one waiting job per
-- service, method and debounce key; an add that finds it replaces its params
-- and moves its run time (INSERT … ON CONFLICT on this index: race-free
-- across hosts; a job a claim is taking is waited for, and is running then,
-- so the add makes a new job).

ALTER TABLE jobs
  ADD COLUMN debounce_key   text,
  ADD COLUMN debounce_until bigint;

CREATE UNIQUE INDEX jobs_debounce ON jobs (service, method, debounce_key) WHERE state = 0 AND debounce_key IS NOT NULL;
