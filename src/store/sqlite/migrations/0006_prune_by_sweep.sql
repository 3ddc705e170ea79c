-- Finished jobs are pruned by a sweep over job ids (queries.ts, pruneJobs),
-- not through an index on finish time: that index took a leaf write and,
-- every few commits, a rebalance of three sibling pages on every completion
-- (about a quarter of the pages a busy worker's commits wrote).
DROP INDEX jobs_finished;
