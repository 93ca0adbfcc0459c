// Package store keeps backupbot's durable state: backup requests and their
// state transitions, the audit trail, de-duplication keys, which followed
// jobs have ended, and what replicas sharing the database coordinate with:
// leases and the inbox of work received from Slack.
//
// Open takes a BACKUPBOT_DATABASE_URL. "sqlite:PATH" is a SQLite file
// (modernc.org/sqlite, pure Go); "postgres://…" is a PostgreSQL database
// (github.com/jackc/pgx/v5). Both behave the same, on the same SQL, kept
// portable and in one place (query.go).
//
// Times are stored as BIGINT unix nanoseconds (NULL for the zero time) and
// read back in UTC: they compare and sort as integers, round-trip exactly,
// and mean the same thing in SQLite and PostgreSQL.
//
// The tests run every Store behaviour on SQLite, and on PostgreSQL too when
// BACKUPBOT_TEST_POSTGRES names a server's database, each test in a schema
// of its own that it drops afterwards:
//
//	BACKUPBOT_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./bot/store/
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is where a request stands.
type State string

// The states of a request.
const (
	Pending    State = "pending"    // waits for an approver
	Approved   State = "approved"   // approved (or needs no approval), not yet sent to Commvault
	Submitting State = "submitting" // recorded just before CreateTask is sent: the outcome is not recorded yet
	Submitted  State = "submitted"  // Commvault answered with task and job IDs; jobs are followed
	Finished   State = "finished"   // every job ended
	Rejected   State = "rejected"   // an approver denied it
	Expired    State = "expired"    // nobody approved it within the approval timeout
	Cancelled  State = "cancelled"  // the requester withdrew it (or a break-glass request superseded it)
	Failed     State = "failed"     // Commvault refused it; nothing runs
	Unknown    State = "unknown"    // the submission's outcome is not known (check Commvault)
)

// states lists every State.
var states = []State{Pending, Approved, Submitting, Submitted, Finished, Rejected, Expired, Cancelled, Failed, Unknown}

// Active reports whether a request in this state holds its table group:
// pending, approved, submitting, submitted.
func (s State) Active() bool {
	switch s {
	case Pending, Approved, Submitting, Submitted:
		return true
	}
	return false
}

// valid reports whether s is one of the States.
func (s State) valid() bool {
	for _, v := range states {
		if s == v {
			return true
		}
	}
	return false
}

// Request is one backup request and what became of it.
type Request struct {
	ID          string
	User        string // requester's Slack user ID
	Channel     string
	Account     string // policy account key
	Client      string // Commvault clientName
	ClientID    int
	TableGroup  string // subclientName as Commvault lists it
	SubclientID int
	Subclient   []byte // the resolved subclient entity, JSON (exactly what will run)
	Level       string // "FULL" | "INCREMENTAL"
	Reason      string
	Emergency   bool // break-glass
	Review      bool // marked for review in the audit trail
	State       State
	ParentTS    string // the parent message (thread root); "" until posted
	TaskID      int
	JobIDs      []string
	Problem     string // why it failed / what is unknown
	DecidedBy   string // who approved / denied / cancelled
	DecidedAt   time.Time
	Expires     time.Time // when a pending request expires (zero when it needs no approval)
	Created     time.Time
	Updated     time.Time
}

// Change is one transition. Zero fields are left as they are.
type Change struct {
	To      State
	Actor   string    // who caused it: a user ID, or "backupbot"
	At      time.Time // zero: now
	Detail  string    // recorded with the transition (e.g. the rule, the Commvault error)
	Decided bool      // record Actor/At as DecidedBy/DecidedAt
	TaskID  int
	JobIDs  []string
	Problem string
}

// Event is one line of the audit trail.
type Event struct {
	At         time.Time // zero: now
	RequestID  string    // "" for a denial that created no request
	Actor      string    // user ID or "backupbot"
	Action     string    // request, denied, approved, rejected, expired, cancelled, submitting, submitted, failed, unknown, reconciled, job-ended, finished, breakglass, click-refused …
	Rule       string    // the policy rule that decided, if any
	Account    string
	TableGroup string
	Channel    string
	Detail     string
	Review     bool // for review (break-glass)
}

// Transition is one recorded state change of a request.
type Transition struct {
	RequestID string
	From, To  State
	Actor     string
	At        time.Time
	Detail    string
}

// Errors callers branch on with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: state changed") // ConflictError Is(ErrConflict)
	ErrBusy     = errors.New("store: table group busy")
	// ErrDuplicate: Create was given an ID that already exists.
	ErrDuplicate = errors.New("store: duplicate")
)

// ConflictError is a Transition refused because the request is in another
// state than the caller expected: someone else moved it first.
type ConflictError struct {
	ID    string
	State State // the request's current state
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: request %s is %s", e.ID, e.State)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// BusyError is a request refused because another request holds its table
// group: one backup at a time per table group.
type BusyError struct {
	Existing Request // the active request holding that table group
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("store: table group %s/%s busy with request %s (%s)",
		e.Existing.Client, e.Existing.TableGroup, e.Existing.ID, e.Existing.State)
}

// Is reports whether target is ErrBusy.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Store is backupbot's durable state.
type Store interface {
	// Create records a new request and its first audit event in one transaction. It fails with
	// *BusyError when an Active request exists for the same (ClientID, SubclientID) — enforced by the
	// database (a partial unique index), so that two replicas racing cannot both win.
	Create(ctx context.Context, r Request, e Event) error
	Get(ctx context.Context, id string) (Request, error)
	// Transition moves request id to ch.To only if its state is one of from (a conditional
	// UPDATE … WHERE state IN (…)), records the transition (from, to, actor, at, detail) in the same
	// transaction, and returns the request as it now is. Otherwise *ConflictError with the current state
	// (ErrNotFound if there is no such request). Exactly one of any number of concurrent callers wins.
	// Moving to a non-Active state releases the table group.
	Transition(ctx context.Context, id string, from []State, ch Change) (Request, error)
	SetParentTS(ctx context.Context, id, ts string) error
	// ByState lists requests in any of the states, oldest first.
	ByState(ctx context.Context, states ...State) ([]Request, error)
	// Transitions lists a request's transitions in order (for tests and the audit).
	Transitions(ctx context.Context, id string) ([]Transition, error)
	Audit(ctx context.Context, e Event) error
	// AuditSince lists events at or after since, oldest first.
	AuditSince(ctx context.Context, since time.Time) ([]Event, error)
	// Seen records the keys with an expiry of now+ttl and reports whether any of them was already
	// recorded and unexpired — atomically, so two replicas seeing the same envelope cannot both get
	// false. Expired keys are purged now and then.
	Seen(ctx context.Context, ttl time.Duration, keys ...string) (bool, error)
	// Take is Seen and, when none of the keys was seen before, PutInbox of
	// item, in one transaction.
	Take(ctx context.Context, ttl time.Duration, keys []string, item InboxItem) (seen bool, err error)
	// RenewInbox extends owner's claim on item id to now+lease without
	// counting an attempt; ok is false when owner does not hold it.
	RenewInbox(ctx context.Context, id, owner string, lease time.Duration) (ok bool, err error)
	// JobEnded records that a followed job ended with status; first is true only for the one caller
	// that recorded it (so its end is posted once).
	JobEnded(ctx context.Context, requestID, jobID, status string, at time.Time) (first bool, err error)
	// EndedJobs returns jobID → final status of a request's jobs that have ended.
	EndedJobs(ctx context.Context, requestID string) (map[string]string, error)

	// Lease takes or renews the named lease for owner until now+ttl, atomically: it succeeds when
	// nobody holds it, the holder is owner, or the holder's lease expired (a lease is held until, and
	// including, its expiry time). It reports whether owner holds it now.
	Lease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it (so another replica can take over at once);
	// otherwise it does nothing.
	ReleaseLease(ctx context.Context, name, owner string) error

	// PutInbox records an item (a zero Received is now; Attempts starts at 0); an existing ID is left
	// as it is and added is false. Done items older than a day are purged now and then, here and in
	// ClaimStale.
	PutInbox(ctx context.Context, item InboxItem) (added bool, err error)
	// ClaimInbox claims item id for owner until now+lease if it is not done and nobody else holds an
	// unexpired claim (a claim is held until, and including, its expiry time); it increments Attempts
	// and returns the item. ok is false when it is done or claimed by another (or unknown).
	ClaimInbox(ctx context.Context, id, owner string, lease time.Duration) (item InboxItem, ok bool, err error)
	// ClaimStale claims, for owner until now+lease, up to limit items received before olderThan that
	// are not done, are unclaimed or whose claim expired, and were claimed fewer than maxAttempts
	// times; oldest (Received, then ID) first. Two replicas calling it at once never get the same item.
	ClaimStale(ctx context.Context, owner string, olderThan time.Time, lease time.Duration, maxAttempts, limit int) ([]InboxItem, error)
	// InboxDone marks id done; an item already done stays as it is, and an unknown one is ErrNotFound.
	InboxDone(ctx context.Context, id string) error

	Ping(ctx context.Context) error
	Close() error
}

// InboxItem is work received from Slack, recorded before it is acked so that no acked work is lost
// if the replica that took it dies.
type InboxItem struct {
	ID       string // the envelope's key
	Kind     string // "command" or "click"
	Payload  []byte // JSON, opaque to the store
	Received time.Time
	Attempts int // how many times it was claimed
}

// Open opens the store named by a BACKUPBOT_DATABASE_URL: "sqlite:PATH" (":memory:" is refused:
// use a temp file) or "postgres://USER:PASSWORD@HOST:PORT/DATABASE?PARAM=VALUE…" ("postgresql://"
// too). Migrations are embedded (embed.FS, numbered .sql files, one folder per database) and
// applied at open, recorded in a schema_migrations table; a database newer than the program is
// refused with a clear error.
//
// PATH is a file path, relative to the working directory or absolute
// ("sqlite:///var/lib/backupbot.db" is the absolute /var/lib/backupbot.db).
// The file is created if it is missing; its directory is not.
//
// A PostgreSQL URL takes what pgx takes (sslmode, connect_timeout, and
// run-time parameters such as search_path=SCHEMA, whose first schema gets
// the tables); the database must exist. Replicas opening a new database
// together migrate it once (an advisory lock).
//
// now is the clock (nil: time.Now). Errors name the path, or the user,
// host, port and database, and nothing else of the URL: never a password.
func Open(ctx context.Context, url string, now func() time.Time) (Store, error) {
	if now == nil {
		now = time.Now
	}
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, errors.New(`open store: database URL has no scheme: ` + wantURL)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		path, err := sqlitePath(rest)
		if err != nil {
			return nil, err
		}
		return openSQLite(ctx, path, now)
	case "postgres", "postgresql":
		return openPostgres(ctx, rest, now)
	default:
		if !isScheme(scheme) { // something else than a scheme: echo none of it
			return nil, errors.New(`open store: database URL has no scheme: ` + wantURL)
		}
		return nil, fmt.Errorf(`open store: unsupported database %q: `+wantURL, scheme)
	}
}

// wantURL tells which database URLs Open takes.
const wantURL = `want "sqlite:PATH" or "postgres://USER:PASSWORD@HOST:PORT/DATABASE"`

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-', '.').
func isScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
