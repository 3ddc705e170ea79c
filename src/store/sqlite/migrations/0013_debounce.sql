-- Debounce (issue 18): while a job with a service, method and debounce key is
-- waiting, another add with the same key replaces its params and moves its
-- run time, never past debounce_until (its first add plus maxSeconds), and
-- gets the same job. Only waiting jobs coalesce: once one runs, the next add
-- makes a new job. The add looks and updates under the write lock (one
-- writer at a time), so no second waiting job with the key can be made; the
-- index leaves `state` out, as an index naming it is checked on every claim
-- and outcome (a partial unique index on waiting jobs cost the drain 2-4%).

ALTER TABLE jobs ADD COLUMN debounce_key TEXT;
ALTER TABLE jobs ADD COLUMN debounce_until INTEGER;

CREATE INDEX jobs_debounce ON jobs (debounce_key, target_id) WHERE debounce_key IS NOT NULL;
