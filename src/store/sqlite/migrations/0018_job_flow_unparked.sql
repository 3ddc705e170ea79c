-- The unparked jobs of a concurrency key, by target: an add counts those of its own target that are due before it
-- (concurrency-keys.ts, parkAtAdd). job_flow_concurrency holds the key's parked jobs too, and behind a busy key
-- those are the many: 100,000 jobs behind one key would make each add read them all.
CREATE INDEX job_flow_unparked ON job_flow (concurrency_key, target_id) WHERE concurrency_key IS NOT NULL AND parked = 0;
