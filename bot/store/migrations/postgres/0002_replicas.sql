-- As migrations/sqlite/0002_replicas.sql has it. What replicas sharing the
-- database need: named leases (one replica does a singleton's work at a
-- time) and the inbox of work received from Slack,
-- recorded before it is acked, so that work a replica took and did not
-- finish is taken over by another. Times are BIGINT unix nanoseconds.

CREATE TABLE leases (
	name    TEXT   NOT NULL PRIMARY KEY,
	owner   TEXT   NOT NULL,
	expires BIGINT NOT NULL -- the holder holds it until, and including, this time
);

CREATE TABLE inbox (
	id            TEXT    NOT NULL PRIMARY KEY, -- the envelope's key
	kind          TEXT    NOT NULL,             -- "command" or "click"
	payload       TEXT    NOT NULL,             -- JSON, opaque to the store
	received      BIGINT  NOT NULL,
	attempts      INTEGER NOT NULL,             -- how many times it was claimed
	claimed_by    TEXT,                         -- NULL: never claimed
	claimed_until BIGINT,
	done          BIGINT                        -- NULL: not done
);
-- The stale scan (done IS NULL AND received < ?) and the purge of done items.
CREATE INDEX inbox_stale ON inbox (done, received);
