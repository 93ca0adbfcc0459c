-- As migrations/sqlite/0003_told.sql has it.
-- What "told once, done once" needs. A request is held by the replica that
-- works on it (owner, until held_until), so that another replica takes it
-- over only once that one stopped, whatever its age. What a request's thread
-- must be told goes into the outbox in the transaction that records it, and
-- is marked posted once Slack took it. An inbox item says what became of it
-- (outcome), and one refused before it was recorded is a tombstone that a
-- late insert cannot overwrite. Times are BIGINT unix nanoseconds.

ALTER TABLE requests ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN held_until BIGINT; -- NULL: recorded before holds existed

CREATE TABLE outbox (
	id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- the order to post in
	request_id   TEXT    NOT NULL REFERENCES requests (id),
	message      TEXT    NOT NULL,             -- JSON, opaque to the store
	created      BIGINT  NOT NULL,
	attempts     INTEGER NOT NULL,             -- failed posts so far
	next_attempt BIGINT  NOT NULL,             -- not before this time
	posted       BIGINT                        -- NULL: not told yet
);
CREATE INDEX outbox_due ON outbox (posted, next_attempt);
CREATE INDEX outbox_request ON outbox (request_id, id);

ALTER TABLE inbox ADD COLUMN outcome TEXT NOT NULL DEFAULT ''; -- served, refused, given-up

CREATE INDEX requests_updated ON requests (updated);
