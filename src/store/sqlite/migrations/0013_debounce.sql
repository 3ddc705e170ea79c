-- Debounce (issue 18): while a job with a service, method and debounce key is
-- waiting, another add with the same key replaces its params and moves its
-- run time, never past debounce_until (its first add plus maxSeconds), and
-- gets the same job. Only waiting jobs coalesce: once one runs, the next add
-- makes a new job. The index makes a second waiting job with the key impossible.

ALTER TABLE jobs ADD COLUMN debounce_key TEXT;
ALTER TABLE jobs ADD COLUMN debounce_until INTEGER;

CREATE UNIQUE INDEX jobs_debounce ON jobs (target_id, debounce_key) WHERE state = 0 AND debounce_key IS NOT NULL;
