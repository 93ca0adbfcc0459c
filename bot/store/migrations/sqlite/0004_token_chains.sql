-- The newest Commvault access token pair of each chain (commvault.TokenChain
-- on *store.DB): every replica reads it, and one at a time renews it, under
-- the lock locked_by holds until locked_until, since Commvault invalidates
-- the whole chain when it is renewed with any but the newest pair. The
-- tokens are credentials: they are read only by tokens.go and never logged,
-- put in an error, the audit trail or the metrics. Times are BIGINT unix
-- nanoseconds, NULL where there is none.

CREATE TABLE token_chains (
	name          TEXT   NOT NULL PRIMARY KEY, -- the chain's key: the server and a hash of the configured refresh token
	access_token  TEXT   NOT NULL,             -- '' until the first renewal is stored
	refresh_token TEXT   NOT NULL,
	expires       BIGINT,                      -- when the access token expires, NULL when not known
	renewed       BIGINT,                      -- when this pair was stored
	locked_by     TEXT,                        -- who renews the chain now; NULL: nobody
	locked_until  BIGINT                       -- the lock holds until, and including, this time
);
