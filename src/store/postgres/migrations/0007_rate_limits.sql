-- Rate limits (issue 18), as on SQLite (its migration 0015): the sliding log
-- of a name's recent starts is kept in its row (`starts`), which the claim
-- locks (in name order) before it counts: a claim that waited for another
-- reads the row as that one left it, so claims on several hosts never start
-- more than the limit in any window. A job over it moves to a later slot.

CREATE TABLE rate_limits (
  name       text     PRIMARY KEY,
  max_starts integer  NOT NULL CHECK (max_starts > 0),
  per_ms     bigint   NOT NULL CHECK (per_ms > 0),
  starts     bigint[] NOT NULL DEFAULT '{}'
);

ALTER TABLE jobs ADD COLUMN rate_limit text;
ALTER TABLE finished_jobs ADD COLUMN rate_limit text;
