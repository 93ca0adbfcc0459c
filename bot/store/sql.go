package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// dialect is what differs between the databases the store runs on.
type dialect struct {
	rebind     func(string) string // the placeholders of query.go in the database's style; nil: as written
	migrations fs.FS               // NNNN_name.sql files
	// isUnique reports whether err is a unique constraint violation.
	isUnique func(error) bool
	// retryable reports whether err lost a race that running the whole
	// transaction again can win (PostgreSQL's deadlock victim); nil: none.
	retryable func(error) bool
	// migrateLock is run first in the migration transaction, to hold off
	// other processes migrating the same database until it commits; "":
	// beginning the transaction is enough (SQLite's BEGIN IMMEDIATE).
	migrateLock string
	// txOptions are the transactions' (nil: the database's default). The
	// store is written for READ COMMITTED on PostgreSQL: a conditional
	// UPDATE or an INSERT … ON CONFLICT that waited for another
	// transaction sees what it committed.
	txOptions *sql.TxOptions
	// skipLocked ends qStaleInbox: " FOR UPDATE SKIP LOCKED" where
	// concurrent transactions must lock the rows they claim and pass over
	// those another locked; "" where transactions are serialised (SQLite).
	skipLocked string
	// oneStatement runs Transition as the one statement qTransitionOne
	// (PostgreSQL's data-modifying WITH), where a round trip to the
	// database is what a statement costs; false: in a transaction of
	// several (SQLite's, in process).
	oneStatement bool
	// arrays runs the group commit's batch as the one statement qTakeOne,
	// with an array for each column (PostgreSQL's unnest), so that its
	// text is the same whatever the batch's size: prepared and planned once
	// on each connection, where a VALUES list of each size was parsed and
	// planned again; false: two statements with VALUES lists (SQLite's,
	// whose statement cache is the store's own, in process).
	arrays bool
}

// DB is backupbot's durable state in a SQLite or PostgreSQL database, through
// database/sql; Open returns one. Its SQL is in query.go. It is safe for
// concurrent use, by several processes sharing one PostgreSQL database too.
type DB struct {
	db *sql.DB
	// takeDB is the connection the group commit of Take runs on: on
	// PostgreSQL a pool of one of its own, so that an ack never waits for
	// a connection the workers hold; db on SQLite, whose writers take
	// turns on wl.
	takeDB *sql.DB
	run    pool      // db, its statements prepared where p caches them
	p      *prepared // nil: none cached (PostgreSQL; SQLite while it migrates)
	d      dialect
	name   string // what errors call the database: its path, or "postgres HOST:PORT/DATABASE"

	local     func() time.Time // this process's clock, as Open was given it
	offset    atomic.Int64     // the database's clock minus local, in nanoseconds (FollowServerClock)
	following sync.Once        // starts following the server's clock
	stop      chan struct{}    // closed by Close: background work stops
	stopOnce  sync.Once
	syncing   sync.WaitGroup

	purgeMu        sync.Mutex
	nextPurge      time.Time // when seen next deletes expired keys
	nextInboxPurge time.Time // when putInbox or ClaimStale next deletes old done items

	// wl serialises this process's writes on SQLite (nil on PostgreSQL,
	// which takes concurrent writers): see writeLock.
	wl *writeLock

	takers    sync.Once     // starts the group committers of Take and InboxDone
	takes     chan *takeReq // Takes waiting for the committer
	dones     chan *doneReq // InboxDones waiting for theirs
	closing   chan struct{} // closed by Close: the committers stop
	closeOnce sync.Once
	taking    sync.WaitGroup
}

// purgeEvery is how often Seen deletes expired keys, and PutInbox or
// ClaimStale done inbox items older than inboxKeep.
const purgeEvery = time.Minute

// q is query in the dialect's placeholder style.
func (s *DB) q(query string) string {
	if s.d.rebind == nil {
		return query
	}
	return s.d.rebind(query)
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction and commits it if fn returns nil. On SQLite
// the transaction takes the write lock as it begins (_txlock=immediate), so
// two writers never deadlock upgrading a read lock. On PostgreSQL (READ
// COMMITTED) a transaction that the database aborted to break a deadlock is
// run again, up to maxAttempts times in all: fn must set its results anew
// each time it runs.
func (s *DB) inTx(ctx context.Context, fn func(tx txn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.writing(ctx, false, func() error { return s.tx(ctx, fn) })
		if !s.again(ctx, err, attempt) {
			return err
		}
	}
}

// autocommit runs fn, whose statements run on q outside a transaction:
// each commits by itself, on PostgreSQL in one round trip, where a
// transaction of one statement takes three (its BEGIN, the statement, its
// COMMIT). On SQLite it holds the write lock, as inTx does. A statement
// runs at the connection's default isolation (READ COMMITTED unless the
// server, role or URL says otherwise); when it fails because the database
// aborted it to break a deadlock, or (at a stricter default) because
// another transaction changed its row first, fn is run again, as inTx runs
// a transaction again: it must set its results anew each time.
func (s *DB) autocommit(ctx context.Context, fn func(q querier) error) error {
	for attempt := 1; ; attempt++ {
		err := s.writing(ctx, false, func() error { return fn(s.run) })
		if !s.again(ctx, err, attempt) {
			return err
		}
	}
}

// again reports whether what failed with err on its attempt-th run should
// run again: the database aborted it to break a deadlock (or it lost a
// serialization race), it has runs left of maxAttempts, and ctx has not
// ended.
func (s *DB) again(ctx context.Context, err error, attempt int) bool {
	return s.retryableErr(err) && attempt < maxAttempts && ctx.Err() == nil
}

// retryableErr reports whether err lost a race that running again can win.
func (s *DB) retryableErr(err error) bool {
	return err != nil && s.d.retryable != nil && s.d.retryable(err)
}

// writing runs fn, which writes, holding the write lock where the database
// has one (SQLite); urgent is the group commit of Take, which goes first.
func (s *DB) writing(ctx context.Context, urgent bool, fn func() error) error {
	if s.wl == nil {
		return fn()
	}
	if err := s.wl.lock(ctx, urgent); err != nil {
		return err
	}
	defer s.wl.unlock()
	return fn()
}

// write runs one statement that writes, outside a transaction.
func (s *DB) write(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = s.writing(ctx, false, func() error {
		res, err = s.run.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// tx runs fn in one transaction and commits it if fn returns nil.
func (s *DB) tx(ctx context.Context, fn func(tx txn) error) error {
	sqlTx, err := s.db.BeginTx(ctx, s.d.txOptions)
	if err != nil {
		return err
	}
	tx := txn{sqlTx, s.p}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the error that matters is fn's
		return err
	}
	return tx.Commit()
}

// Ping checks that the database answers and holds the store's schema.
func (s *DB) Ping(ctx context.Context) error {
	var v int
	if err := s.run.QueryRowContext(ctx, s.q(qPing)).Scan(&v); err != nil {
		return fmt.Errorf("ping store %s: %w", s.name, err)
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.syncing.Wait()
	s.closeOnce.Do(func() {
		s.takers.Do(func() {}) // no committer may start after this
		if s.closing != nil {
			close(s.closing)
		}
	})
	s.taking.Wait()
	s.p.close()
	err := s.db.Close()
	if s.takeDB != s.db {
		err = errors.Join(err, s.takeDB.Close())
	}
	if err != nil {
		return fmt.Errorf("close store %s: %w", s.name, err)
	}
	return nil
}

// unixNano is t as stored: unix nanoseconds, or NULL for the zero time.
func unixNano(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// fromUnixNano is a stored time as read back: in UTC, the zero time for NULL.
func fromUnixNano(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// boolInt is b as stored: 1 or 0.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jobIDs is ids as stored: a JSON array.
func jobIDs(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids) // a []string always marshals
	return string(b)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanRequest reads the requestColumns.
func scanRequest(sc scanner) (Request, error) {
	var (
		r                           Request
		clientID, subclientID, task int64
		emergency, review           int64
		subclient, jobs, state      string
		decidedAt, expires, held    sql.NullInt64
		created, updated            int64
	)
	err := sc.Scan(&r.ID, &r.User, &r.Channel, &r.Account, &r.Client, &clientID, &r.TableGroup,
		&subclientID, &subclient, &r.Level, &r.Reason, &emergency, &review, &state, &r.ParentTS, &task,
		&jobs, &r.Problem, &r.DecidedBy, &decidedAt, &expires, &created, &updated, &r.Owner, &held)
	if err != nil {
		return Request{}, err
	}
	r.ClientID, r.SubclientID, r.TaskID = int(clientID), int(subclientID), int(task)
	r.Emergency, r.Review = emergency != 0, review != 0
	r.State = State(state)
	if subclient != "" {
		r.Subclient = []byte(subclient)
	}
	if err := json.Unmarshal([]byte(jobs), &r.JobIDs); err != nil {
		return Request{}, fmt.Errorf("request %s: job IDs %q: %w", r.ID, jobs, err)
	}
	if len(r.JobIDs) == 0 {
		r.JobIDs = nil
	}
	r.DecidedAt, r.Expires, r.HeldUntil = fromUnixNano(decidedAt), fromUnixNano(expires), fromUnixNano(held)
	r.Created = fromUnixNano(sql.NullInt64{Int64: created, Valid: true})
	r.Updated = fromUnixNano(sql.NullInt64{Int64: updated, Valid: true})
	return r, nil
}

// queryRequests runs a query for requestColumns.
func queryRequests(ctx context.Context, db querier, query string, args ...any) ([]Request, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
