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
	// Owner is the replica that works on the request, and holds it until
	// HeldUntil: another replica takes it over only once that passed (the
	// owner stopped), however old the request is. A zero HeldUntil is a
	// request recorded before holds existed.
	Owner     string
	HeldUntil time.Time
	// Notice is the outbox entry the call that returned the request added
	// (Transition with Change.Tell), 0 if none.
	Notice int64
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
	// Owner and HeldUntil, when set, hold the request for the replica Owner
	// (see Request.Owner).
	Owner     string
	HeldUntil time.Time
	// Tell, when set, is a message the request's thread must be told: it is
	// added to the outbox in the same transaction, and stays there until it
	// is marked posted (NoticePosted). JSON, opaque to the store.
	Tell []byte
	// Event, when set, is added to the audit trail in the same
	// transaction, so that the trail holds every change and only those
	// made. Its RequestID is the request's; a zero At is the change's.
	Event *Event
}

// Notice is a message a request's thread must be told, kept in the outbox
// until Slack took it.
type Notice struct {
	ID        int64 // the outbox's order: a request's notices are told in it
	RequestID string
	Message   []byte // JSON, opaque to the store
	Created   time.Time
	Attempts  int       // failed posts so far
	Due       time.Time // when it is due for a retry (DueNotices): after the grace of its flow, or the backoff of its last failed post
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

// InboxItem is work received from Slack, recorded before it is acked so that no acked work is lost
// if the replica that took it dies.
type InboxItem struct {
	ID       string // the envelope's key
	Kind     string // "command" or "click"
	Payload  []byte // JSON, opaque to the store
	Received time.Time
	Attempts int // how many holders claimed it (a holder claiming it again does not count)
}

// What became of an inbox item, once it is done.
const (
	Served  = "served"   // a worker served it
	Refused = "refused"  // its sender was told to try again: it never runs
	GivenUp = "given-up" // it ran out of attempts; its sender was told so
)

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
// now is the clock (nil: time.Now); on PostgreSQL, FollowServerClock makes
// the store's clock the server's. Errors name the path, or the user,
// host, port and database, and nothing else of the URL: never a password.
func Open(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	if now == nil {
		now = time.Now
	}
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok {
		return nil, errors.New(`open store: database URL has no scheme: ` + wantURL)
	}
	var db *DB
	var err error
	switch strings.ToLower(scheme) {
	case "sqlite":
		var path string
		if path, err = sqlitePath(rest); err != nil {
			return nil, err
		}
		db, err = openSQLite(ctx, path, now)
	case "postgres", "postgresql":
		db, err = openPostgres(ctx, rest, now)
	default:
		if !isScheme(scheme) { // something else than a scheme: echo none of it
			return nil, errors.New(`open store: database URL has no scheme: ` + wantURL)
		}
		return nil, fmt.Errorf(`open store: unsupported database %q: `+wantURL, scheme)
	}
	if err != nil {
		return nil, err
	}
	return db, nil
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
