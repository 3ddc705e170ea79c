-- `jobs stats` counts the failed attempts of the last hour per method
-- (JobStore.stats). Without an index on when an error was recorded that is a
-- scan of every error kept; with it, a range of the last hour's. Only a
-- failed or lost attempt writes a job_errors row, so the index costs nothing
-- on the path of jobs that succeed.
CREATE INDEX job_errors_at ON job_errors (at);
