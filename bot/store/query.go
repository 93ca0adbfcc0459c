package store

import (
	"strconv"
	"strings"
)

// Every statement the store runs, written once with '?' placeholders and in
// SQL that SQLite and PostgreSQL both take: plain types, INSERT … ON
// CONFLICT, conditional UPDATEs. A dialect rewrites the placeholders it
// needs (rebindDollar for PostgreSQL's $1, $2, …). "%s" marks a list of
// placeholders that inList fills in, or (qStaleInbox) the dialect's
// skipLocked.
//
// The schema itself, which differs between databases in details (how an
// id is generated), is in migrations/<dialect>/.

// activeStates is the SQL list of the Active states; the partial unique
// index requests_one_active uses the same list.
const activeStates = `'pending', 'approved', 'submitting', 'submitted'`

// requestColumns are read by scanRequest, in this order.
const requestColumns = `id, user_id, channel, account, client, client_id, table_group,
	subclient_id, subclient, level, reason, emergency, review, state, parent_ts, task_id,
	job_ids, problem, decided_by, decided_at, expires, created, updated, owner, held_until`

const (
	qCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`
	qSchemaVersion   = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`
	qRecordMigration = `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`

	// qInsertRequest does nothing when the id is taken or when the table
	// group is held by an active request (requests_one_active): the caller
	// tells the two apart.
	qInsertRequest = `INSERT INTO requests (` + requestColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`
	qGetRequest    = `SELECT ` + requestColumns + ` FROM requests WHERE id = ?`
	qRequestExists = `SELECT COUNT(*) FROM requests WHERE id = ?`
	qRequestState  = `SELECT state FROM requests WHERE id = ?`
	qActiveRequest = `SELECT ` + requestColumns + ` FROM requests
	WHERE client_id = ? AND subclient_id = ? AND state IN (` + activeStates + `)`
	qByState = `SELECT ` + requestColumns + ` FROM requests
	WHERE state IN (%s) ORDER BY created, id`
	// qSetParentTS records the parent message only if none is recorded:
	// of two posts of one card, one wins and the other is deleted.
	qSetParentTS = `UPDATE requests SET parent_ts = ?, updated = ? WHERE id = ? AND parent_ts = ''`
	qParentTS    = `SELECT parent_ts FROM requests WHERE id = ?`
	// qFollowed lists what job following can act on: submitted requests,
	// and unknown ones still within the reconciliation window.
	qFollowed = `SELECT ` + requestColumns + ` FROM requests
	WHERE state = 'submitted' OR (state = 'unknown' AND updated >= ?) ORDER BY created, id`
	// qHold takes or renews the hold on a request: for its owner, or when
	// the hold ran out (or never was).
	qHold = `UPDATE requests SET owner = ?, held_until = ?
	WHERE id = ? AND (owner = ? OR held_until IS NULL OR held_until < ?)`

	// qTransition moves a request on only from the state the caller saw;
	// a NULL leaves a column as it is.
	qTransition = `UPDATE requests SET
	state = ?, updated = ?,
	decided_by = COALESCE(?, decided_by), decided_at = COALESCE(?, decided_at),
	task_id = COALESCE(?, task_id), job_ids = COALESCE(?, job_ids), problem = COALESCE(?, problem),
	owner = COALESCE(?, owner), held_until = COALESCE(?, held_until)
	WHERE id = ? AND state = ?`
	// qTransitionReturning is qTransition that returns the request as it
	// now is (SQLite, in the transaction that read its state).
	qTransitionReturning = qTransition + ` RETURNING ` + requestColumns
	qInsertTransition    = `INSERT INTO transitions (request_id, from_state, to_state, actor, at, detail)
	VALUES (?, ?, ?, ?, ?, ?)`
	// qTransitions is like qEndedJobs: a row of NULLs for a request that
	// never moved, none for one that does not exist.
	qTransitions = `SELECT t.request_id, t.from_state, t.to_state, t.actor, t.at, t.detail
	FROM requests r LEFT JOIN transitions t ON t.request_id = r.id WHERE r.id = ? ORDER BY t.id`

	qInsertEvent = `INSERT INTO audit (at, request_id, actor, action, rule, account, table_group, channel, detail, review)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qEventsSince = `SELECT at, request_id, actor, action, rule, account, table_group, channel, detail, review
	FROM audit WHERE at >= ? ORDER BY at, id`

	// qSeen records a key, or renews one that has expired; it changes no
	// row when the key is there and unexpired.
	qSeen = `INSERT INTO dedup (key, expires) VALUES (?, ?)
	ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE dedup.expires < ?`
	qSeenRenew = `UPDATE dedup SET expires = ? WHERE key = ? AND expires < ?`
	// qTakeKeys is qSeen for many keys at once (%s: their rows, key and
	// expires): it returns the keys it recorded or renewed, that is, those
	// that were not there unexpired.
	qTakeKeys = `INSERT INTO dedup (key, expires) VALUES %s
	ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE dedup.expires < ? RETURNING key`
	// qTakeItems records many inbox items at once (%s: their rows), each
	// claimed (attempts 1, claimed_by and claimed_until) or not (0, NULL,
	// NULL), doing nothing for an id that is there; it returns the ids it
	// recorded.
	qTakeItems = `INSERT INTO inbox (id, kind, payload, received, attempts, claimed_by, claimed_until) VALUES %s
	ON CONFLICT (id) DO NOTHING RETURNING id`
	qSeenPurge = `DELETE FROM dedup WHERE expires < ?`
	// qTakeOne is qTakeKeys, qSeenRenew and qTakeItems for a batch of
	// Takes as one statement (PostgreSQL, within the batch's READ COMMITTED
	// transaction), with an array for each column so that its text is the
	// same whatever the batch's size (prepared and planned once on each
	// connection): the keys (n: key, expires and the index of its Take in
	// the batch), recorded, or renewed where expired; a renewal of each key
	// that was there unexpired; and the items (with their Takes' indexes;
	// an owner '' and an until 0 are NULL) of the Takes none of whose keys
	// was there, the first of each id in the Takes' order. It returns the
	// keys it recorded or renewed, as qTakeKeys does (item false), and the
	// ids of the items it recorded, as qTakeItems does (item true). The renewal sees the keys as they were
	// when the statement began (a key another replica recorded meanwhile
	// keeps the expiry that one set).
	qTakeOne = `WITH n AS (SELECT * FROM unnest(?::text[], ?::bigint[], ?::integer[]) AS n (key, expires, take)),
	k AS (INSERT INTO dedup (key, expires) SELECT key, expires FROM n
		ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE dedup.expires < ? RETURNING key),
	renewed AS (UPDATE dedup SET expires = n.expires FROM n
		WHERE dedup.key = n.key AND dedup.expires < n.expires AND NOT EXISTS (SELECT 1 FROM k WHERE k.key = n.key)),
	items AS (INSERT INTO inbox (id, kind, payload, received, attempts, claimed_by, claimed_until)
		SELECT DISTINCT ON (id) id, kind, payload, received, attempts, NULLIF(owner, ''), NULLIF(until, 0)
		FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::integer[], ?::text[], ?::bigint[], ?::integer[])
		AS t (id, kind, payload, received, attempts, owner, until, take)
		WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.take = t.take AND NOT EXISTS (SELECT 1 FROM k WHERE k.key = n.key))
		ORDER BY id, take
		ON CONFLICT (id) DO NOTHING RETURNING id)
	SELECT key, false FROM k UNION ALL SELECT id, true FROM items`
	// The outbox: what threads must be told.
	qInsertNotice = `INSERT INTO outbox (request_id, message, created, attempts, next_attempt)
	VALUES (?, ?, ?, 0, ?) RETURNING id`
	qNoticesOf = `SELECT id, request_id, message, created, attempts, next_attempt FROM outbox
	WHERE request_id = ? AND posted IS NULL ORDER BY id`
	qDueNotices = `SELECT id, request_id, message, created, attempts, next_attempt FROM outbox
	WHERE posted IS NULL AND next_attempt <= ? ORDER BY id LIMIT ?`
	qNoticePosted = `UPDATE outbox SET posted = ? WHERE id = ? AND posted IS NULL`
	qNoticeFailed = `UPDATE outbox SET attempts = attempts + 1, next_attempt = ? WHERE id = ? AND posted IS NULL`

	qJobEnded = `INSERT INTO jobs (request_id, job_id, status, ended_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (request_id, job_id) DO NOTHING`
	// qEndedJobs has a row for each ended job of the request, one of NULLs
	// if none has ended, and none if there is no such request: one
	// statement tells the three apart.
	qEndedJobs = `SELECT j.job_id, j.status FROM requests r LEFT JOIN jobs j ON j.request_id = r.id WHERE r.id = ?`
	qPing      = qSchemaVersion

	// Retention: what ended before a time goes, children first.
	qPurgeOutbox      = `DELETE FROM outbox WHERE request_id IN (SELECT id FROM requests WHERE state IN (%s) AND updated < ?)`
	qPurgeJobs        = `DELETE FROM jobs WHERE request_id IN (SELECT id FROM requests WHERE state IN (%s) AND updated < ?)`
	qPurgeTransitions = `DELETE FROM transitions WHERE request_id IN (SELECT id FROM requests WHERE state IN (%s) AND updated < ?)`
	qPurgeRequests    = `DELETE FROM requests WHERE state IN (%s) AND updated < ?`
	qPurgeAudit       = `DELETE FROM audit WHERE at < ?`
	qPurgeOldInbox    = `DELETE FROM inbox WHERE received < ?`

	// qLease takes a lease nobody holds, renews the owner's own, or takes
	// over one that expired (before now, the last argument); it changes no
	// row while another owner's is unexpired.
	qLease = `INSERT INTO leases (name, owner, expires) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
	WHERE leases.owner = excluded.owner OR leases.expires < ?`
	qReleaseLease = `DELETE FROM leases WHERE name = ? AND owner = ?`

	// qPutInbox records an item, or does nothing when the id is there (a
	// tombstone among others: what was refused stays refused).
	qPutInbox = `INSERT INTO inbox (id, kind, payload, received, attempts) VALUES (?, ?, ?, ?, 0)
	ON CONFLICT (id) DO NOTHING`
	// qRefuseInbox marks an item refused, or records a tombstone for one not
	// recorded (yet): an insert that comes later finds it and does nothing.
	qRefuseInbox = `INSERT INTO inbox (id, kind, payload, received, attempts, done, outcome)
	VALUES (?, '', '', ?, 0, ?, 'refused')
	ON CONFLICT (id) DO UPDATE SET done = excluded.done, outcome = excluded.outcome WHERE inbox.done IS NULL`
	qInboxPurge = `DELETE FROM inbox WHERE done < ?`
	// qRenewInbox extends owner's claim on an item that is not done.
	qRenewInbox = `UPDATE inbox SET claimed_until = ? WHERE id = ? AND claimed_by = ? AND done IS NULL`

	// qClaimInbox claims an item that is not done unless another owner's
	// claim is unexpired (until, and including, claimed_until).
	// An attempt counts once per holder: the holder claiming it again (a
	// worker after the sweep that handed it over) does not count.
	qClaimInbox = `UPDATE inbox SET claimed_by = ?, claimed_until = ?,
	attempts = attempts + CASE WHEN claimed_by = ? THEN 0 ELSE 1 END
	WHERE id = ? AND done IS NULL AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)
	RETURNING ` + inboxColumns
	// qStaleInbox lists the stale items a claim may take, oldest first;
	// %s is the dialect's skipLocked: on PostgreSQL the rows are locked,
	// and those another transaction locked are skipped (on SQLite the
	// transaction's write lock is enough).
	qStaleInbox = `SELECT id FROM inbox
	WHERE done IS NULL AND received < ? AND (claimed_until IS NULL OR claimed_until < ?) AND attempts < ?
	ORDER BY received, id LIMIT ?%s`
	// qClaimStale claims the items qStaleInbox listed (%s: their ids),
	// checking again that each is claimable.
	qClaimStale = `UPDATE inbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
	WHERE id IN (%s) AND done IS NULL AND (claimed_until IS NULL OR claimed_until < ?) AND attempts < ?
	RETURNING ` + inboxColumns
	// qStaleExhausted lists the stale items that ran out of attempts.
	qStaleExhausted = `SELECT id FROM inbox
	WHERE done IS NULL AND (claimed_until IS NULL OR claimed_until < ?) AND attempts >= ?
	ORDER BY received, id LIMIT ?%s`
	qClaimExhausted = `UPDATE inbox SET claimed_by = ?, claimed_until = ?
	WHERE id IN (%s) AND done IS NULL AND (claimed_until IS NULL OR claimed_until < ?)
	RETURNING ` + inboxColumns
	// qForgetCandidates lists the items, done or received before a time,
	// whose payload may hold a key (LIKE pattern), oldest first.
	qForgetCandidates = `SELECT id, payload FROM inbox
	WHERE (done IS NOT NULL OR received < ?) AND payload LIKE ?
	ORDER BY received, id LIMIT ?`
	// qForgetField rewrites a payload, unless it changed meanwhile.
	qForgetField = `UPDATE inbox SET payload = ? WHERE id = ? AND payload = ?`
	// qInboxDone marks the items of a list (%s: idIn's condition) that are
	// not done, done with one outcome, and returns their ids; qInboxListed
	// returns the ids of the list that are there.
	qInboxDone   = `UPDATE inbox SET done = ?, outcome = ? WHERE done IS NULL AND %s RETURNING id`
	qInboxListed = `SELECT id FROM inbox WHERE %s`
)

// inboxColumns are read by scanInbox, in this order.
const inboxColumns = `id, kind, payload, received, attempts`

// inList is n comma-separated placeholders, for an IN (…) list.
func inList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// valuesList is n rows of k placeholders each, for a VALUES list.
func valuesList(n, k int) string {
	row := "(" + inList(k) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// rebindDollar rewrites '?' placeholders as PostgreSQL's $1, $2, ….
// The store's statements hold no '?' in literals or identifiers.
func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rRequestColumns are requestColumns of the table named r.
var rRequestColumns = "r." + strings.ReplaceAll(strings.Join(strings.Fields(requestColumns), " "), ", ", ", r.")

// qTransitionOne is the whole of a transition in one statement, for
// PostgreSQL: it locks the request's row and reads its state (cur),
// moves it on if that state is one of the caller's (moved, whose
// RETURNING holds the previous state, read under the lock), records the
// transition and, where there is one (a message that is not NULL), the
// notice. Its one row is "moved", the previous state, the request as
// it now is and the notice's id; or "stayed", the state it is in and
// the request unchanged; no row: there is no such request. The
// arguments: id; to, at, decided_by, decided_at, task_id, job_ids,
// problem, owner, held_until as in qTransition; the states to move from
// (an array); to, actor, at, detail of the transition; the message, at,
// due and the message again of the notice; the audit event's columns as
// in qInsertEvent and its action again (NULL: no event).
var qTransitionOne = `WITH cur AS (
	SELECT id, state FROM requests WHERE id = ? FOR UPDATE
), moved AS (
	UPDATE requests r SET
	state = ?, updated = ?,
	decided_by = COALESCE(?, r.decided_by), decided_at = COALESCE(?, r.decided_at),
	task_id = COALESCE(?, r.task_id), job_ids = COALESCE(?, r.job_ids), problem = COALESCE(?, r.problem),
	owner = COALESCE(?, r.owner), held_until = COALESCE(?, r.held_until)
	FROM cur WHERE r.id = cur.id AND cur.state = ANY (?::text[])
	RETURNING cur.state AS prev, ` + rRequestColumns + `
), logged AS (
	INSERT INTO transitions (request_id, from_state, to_state, actor, at, detail)
	SELECT id, prev, ?::text, ?::text, ?::bigint, ?::text FROM moved
), told AS (
	INSERT INTO outbox (request_id, message, created, attempts, next_attempt)
	SELECT id, ?::text, ?::bigint, 0, ?::bigint FROM moved WHERE ?::text IS NOT NULL
	RETURNING id
), audited AS (
	` + qAuditIf + ` FROM moved WHERE ?::text IS NOT NULL
)
SELECT 'moved', prev, ` + requestColumns + `, (SELECT id FROM told) FROM moved
UNION ALL
SELECT 'stayed', cur.state, ` + rRequestColumns + `, NULL FROM cur JOIN requests r ON r.id = cur.id
WHERE NOT EXISTS (SELECT 1 FROM moved)`

// qAuditIf is qInsertEvent as the SELECT of a data-modifying WITH, for
// PostgreSQL: the caller adds its FROM (a row only where the event is to
// be recorded) and any WHERE.
const qAuditIf = `INSERT INTO audit (at, request_id, actor, action, rule, account, table_group, channel, detail, review)
	SELECT ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::integer`

// qCreateOne is Create's happy path in one statement, for PostgreSQL:
// qInsertRequest, and qInsertEvent only if the request was inserted. Its
// one row counts the requests inserted: 0 means the id is taken or the
// table group busy, as qInsertRequest's nothing done. The arguments:
// qInsertRequest's, then qInsertEvent's.
var qCreateOne = `WITH req AS (
	` + strings.Replace(qInsertRequest, "ON CONFLICT DO NOTHING", "ON CONFLICT DO NOTHING RETURNING id", 1) + `
), ev AS (
	` + qAuditIf + ` FROM req
)
SELECT COUNT(*) FROM req`

// qJobEndedOne is JobEnded in one statement, for PostgreSQL: qJobEnded for
// a request that exists, and the notice (where the message is not NULL)
// only if the job's end was not recorded before. Its one row: whether
// the request exists, whether this recorded the end, the notice's id.
// The arguments: the request id, job id, status, ended at; the message,
// at and due of the notice, and the message again; the audit event's
// columns as in qInsertEvent and its action again (NULL: no event), which
// is recorded only with the end.
const qJobEndedOne = `WITH req AS (
	SELECT id FROM requests WHERE id = ?
), ended AS (
	INSERT INTO jobs (request_id, job_id, status, ended_at) SELECT id, ?::text, ?::text, ?::bigint FROM req
	ON CONFLICT (request_id, job_id) DO NOTHING
	RETURNING request_id
), told AS (
	INSERT INTO outbox (request_id, message, created, attempts, next_attempt)
	SELECT request_id, ?::text, ?::bigint, 0, ?::bigint FROM ended WHERE ?::text IS NOT NULL
	RETURNING id
), audited AS (
	` + qAuditIf + ` FROM ended WHERE ?::text IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM req), EXISTS (SELECT 1 FROM ended), (SELECT id FROM told)`

// The statements of the Commvault token chains (migrations 0004).
const (
	qLatestTokens = `SELECT access_token, refresh_token, expires FROM token_chains WHERE name = ?`
	// qLockTokens takes the chain's lock (creating its row) unless another
	// holder's is unexpired (until, and including, locked_until; now is the
	// last argument).
	qLockTokens = `INSERT INTO token_chains (name, access_token, refresh_token, locked_by, locked_until) VALUES (?, '', '', ?, ?)
	ON CONFLICT (name) DO UPDATE SET locked_by = excluded.locked_by, locked_until = excluded.locked_until
	WHERE token_chains.locked_by IS NULL OR token_chains.locked_until < ?`
	qUnlockTokens = `UPDATE token_chains SET locked_by = NULL, locked_until = NULL WHERE name = ? AND locked_by = ?`
	// qStoreTokens stores the renewed pair and lets the lock go, if the
	// caller still holds it.
	qStoreTokens = `UPDATE token_chains SET access_token = ?, refresh_token = ?, expires = ?, renewed = ?,
	locked_by = NULL, locked_until = NULL WHERE name = ? AND locked_by = ?`
)
