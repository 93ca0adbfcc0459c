-- backupbot's state, as migrations/sqlite/0001_init.sql has it. Times are
-- BIGINT unix nanoseconds (UTC), NULL where there is none; booleans are
-- INTEGER 0/1; job IDs a JSON array of strings; IDs BIGINT, as wide as
-- SQLite's INTEGER. The tables go in the first schema of the search_path.

CREATE TABLE requests (
	id           TEXT    NOT NULL PRIMARY KEY,
	user_id      TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	account      TEXT    NOT NULL,
	client       TEXT    NOT NULL,
	client_id    BIGINT  NOT NULL,
	table_group  TEXT    NOT NULL,
	subclient_id BIGINT  NOT NULL,
	subclient    TEXT    NOT NULL, -- the subclient entity, JSON, byte for byte
	level        TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	emergency    INTEGER NOT NULL,
	review       INTEGER NOT NULL,
	state        TEXT    NOT NULL,
	parent_ts    TEXT    NOT NULL,
	task_id      BIGINT  NOT NULL,
	job_ids      TEXT    NOT NULL, -- JSON array of strings
	problem      TEXT    NOT NULL,
	decided_by   TEXT    NOT NULL,
	decided_at   BIGINT,
	expires      BIGINT,
	created      BIGINT  NOT NULL,
	updated      BIGINT  NOT NULL
);

-- One backup at a time per table group: at most one active request for each
-- (client, subclient). The list of states is activeStates in query.go.
CREATE UNIQUE INDEX requests_one_active ON requests (client_id, subclient_id)
	WHERE state IN ('pending', 'approved', 'submitting', 'submitted');
CREATE INDEX requests_state ON requests (state, created);

CREATE TABLE transitions (
	id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- the order they happened in
	request_id TEXT    NOT NULL REFERENCES requests (id),
	from_state TEXT    NOT NULL,
	to_state   TEXT    NOT NULL,
	actor      TEXT    NOT NULL,
	at         BIGINT  NOT NULL,
	detail     TEXT    NOT NULL
);
CREATE INDEX transitions_request ON transitions (request_id, id);

CREATE TABLE audit (
	id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          BIGINT  NOT NULL,
	request_id  TEXT    NOT NULL, -- '' for a denial that created no request
	actor       TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	rule        TEXT    NOT NULL,
	account     TEXT    NOT NULL,
	table_group TEXT    NOT NULL,
	channel     TEXT    NOT NULL,
	detail      TEXT    NOT NULL,
	review      INTEGER NOT NULL
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_request ON audit (request_id);

CREATE TABLE dedup (
	key     TEXT   NOT NULL PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE INDEX dedup_expires ON dedup (expires);

CREATE TABLE jobs (
	request_id TEXT   NOT NULL REFERENCES requests (id),
	job_id     TEXT   NOT NULL,
	status     TEXT   NOT NULL,
	ended_at   BIGINT NOT NULL,
	PRIMARY KEY (request_id, job_id)
);
