package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxAttempts bounds the retries of a statement that lost a race it can
// retry (on PostgreSQL; SQLite's write transactions are serialised).
const maxAttempts = 5

// Create records a new request and its first audit event in one
// transaction. A zero r.State is Pending, a zero r.Created is now, a zero
// r.Updated is r.Created; a zero e.RequestID is r.ID and a zero e.At is
// r.Created. It fails with ErrDuplicate (wrapped) when a request with
// r.ID exists, whatever its table group, and otherwise with *BusyError when
// an Active request holds the same (ClientID, SubclientID).
func (s *DB) Create(ctx context.Context, r Request, e Event) error {
	if r.ID == "" {
		return errors.New("create request: no id")
	}
	if r.State == "" {
		r.State = Pending
	}
	if !r.State.valid() {
		return fmt.Errorf("create request %s: unknown state %q", r.ID, r.State)
	}
	if r.Created.IsZero() {
		r.Created = s.now()
	}
	if r.Updated.IsZero() {
		r.Updated = r.Created
	}
	if e.RequestID == "" {
		e.RequestID = r.ID
	}
	if e.At.IsZero() {
		e.At = r.Created
	}
	args := []any{r.ID, r.User, r.Channel, r.Account,
		r.Client, r.ClientID, r.TableGroup, r.SubclientID, string(r.Subclient), r.Level, r.Reason,
		boolInt(r.Emergency), boolInt(r.Review), string(r.State), r.ParentTS, r.TaskID,
		jobIDs(r.JobIDs), r.Problem, r.DecidedBy, unixNano(r.DecidedAt), unixNano(r.Expires),
		r.Created.UnixNano(), r.Updated.UnixNano(), r.Owner, unixNano(r.HeldUntil)}
	for range maxAttempts {
		retry := false
		if s.d.oneStatement {
			// The request and its event in one statement: one round trip
			// where it is inserted, the usual case; the transaction below
			// tells why where it is not.
			var n int
			err := s.run.QueryRowContext(ctx, s.q(qCreateOne), append(args, e.args()...)...).Scan(&n)
			if err == nil && n > 0 {
				return nil
			}
			if err != nil && !s.retryableErr(err) {
				return fmt.Errorf("create request %s: %w", r.ID, err)
			}
		}
		err := s.inTx(ctx, func(tx txn) error {
			retry = false
			res, err := tx.ExecContext(ctx, s.q(qInsertRequest), args...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 { // the id is taken, or the table group is busy
				var taken int
				if err := tx.QueryRowContext(ctx, s.q(qRequestExists), r.ID).Scan(&taken); err != nil {
					return err
				}
				if taken > 0 {
					return ErrDuplicate
				}
				existing, err := scanRequest(tx.QueryRowContext(ctx, s.q(qActiveRequest), r.ClientID, r.SubclientID))
				if err == nil {
					return &BusyError{Existing: existing}
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				retry = true // the active request moved on meanwhile
				return nil
			}
			return insertEvent(ctx, tx, s.q(qInsertEvent), e)
		})
		var busy *BusyError
		switch {
		case errors.As(err, &busy):
			return busy
		case err != nil:
			return fmt.Errorf("create request %s: %w", r.ID, err)
		case !retry:
			return nil
		}
	}
	return fmt.Errorf("create request %s: the table group's request keeps changing", r.ID)
}

// Get returns request id, or ErrNotFound.
func (s *DB) Get(ctx context.Context, id string) (Request, error) {
	r, err := scanRequest(s.run.QueryRowContext(ctx, s.q(qGetRequest), id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// Transition moves request id to ch.To if it is in one of the states from,
// records the transition, and returns the request as it now is. A zero
// ch.At is now. The UPDATE is conditional on the state the transaction read
// (itself one of from), so exactly one of concurrent callers wins and the
// transition records the true previous state; the others get
// *ConflictError with the state it is in now. Moving a request back to an
// Active state (unknown → submitted when reconciled) while another request
// holds its table group fails with *BusyError.
func (s *DB) Transition(ctx context.Context, id string, from []State, ch Change) (Request, error) {
	if !ch.To.valid() {
		return Request{}, fmt.Errorf("transition request %s: unknown state %q", id, ch.To)
	}
	if len(from) == 0 {
		return Request{}, fmt.Errorf("transition request %s to %s: no state to move from", id, ch.To)
	}
	at := ch.At
	if at.IsZero() {
		at = s.now()
	}
	var decidedBy, decidedAt, taskID, jobs, problem, owner, held any // nil: left as it is
	if ch.Decided {
		decidedBy, decidedAt = ch.Actor, at.UnixNano()
	}
	if ch.Owner != "" && !ch.HeldUntil.IsZero() {
		owner, held = ch.Owner, ch.HeldUntil.UnixNano()
	}
	if ch.TaskID != 0 {
		taskID = ch.TaskID
	}
	if len(ch.JobIDs) > 0 {
		jobs = jobIDs(ch.JobIDs)
	}
	if ch.Problem != "" {
		problem = ch.Problem
	}
	set := []any{string(ch.To), at.UnixNano(), decidedBy, decidedAt, taskID, jobs, problem, owner, held}
	var out Request
	var err error
	if s.d.oneStatement {
		out, err = s.transitionOne(ctx, id, from, ch, at, set)
	} else {
		out, err = s.transitionTx(ctx, id, from, ch, at, set)
	}
	var conflict *ConflictError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &conflict):
		return Request{}, conflict
	case s.d.isUnique(err):
		if busy := s.holder(ctx, id); busy != nil {
			return Request{}, busy
		}
	}
	return Request{}, fmt.Errorf("transition request %s to %s: %w", id, ch.To, err)
}

// transitionTx is Transition in a transaction of several statements
// (SQLite's, which hold the write lock throughout). set are qTransition's
// arguments before the id.
func (s *DB) transitionTx(ctx context.Context, id string, from []State, ch Change, at time.Time, set []any) (Request, error) {
	var out Request
	err := s.inTx(ctx, func(tx txn) error {
		for range maxAttempts {
			var cur State
			err := tx.QueryRowContext(ctx, s.q(qRequestState), id).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			if !slices.Contains(from, cur) {
				return &ConflictError{ID: id, State: cur}
			}
			out, err = scanRequest(tx.QueryRowContext(ctx, s.q(qTransitionReturning), append(set, id, string(cur))...))
			if errors.Is(err, sql.ErrNoRows) {
				continue // it moved between the read and the update: look again
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(qInsertTransition), id, string(cur), string(ch.To),
				ch.Actor, at.UnixNano(), ch.Detail); err != nil {
				return err
			}
			if e := ch.Event.with(id, at); e != nil {
				if err := insertEvent(ctx, tx, s.q(qInsertEvent), *e); err != nil {
					return err
				}
			}
			if len(ch.Tell) > 0 {
				out.Notice, err = s.addNotice(ctx, tx, id, ch.Tell, at, at.Add(noticeGrace))
			}
			return err
		}
		return errors.New("its state keeps changing")
	})
	return out, err
}

// transitionOne is Transition in one statement, qTransitionOne
// (PostgreSQL's): one round trip, where a transaction of its parts took
// six or seven. It locks the row before it reads the state, so the state
// it moves from is the one it read.
func (s *DB) transitionOne(ctx context.Context, id string, from []State, ch Change, at time.Time, set []any) (Request, error) {
	states := make([]string, len(from))
	for i, st := range from {
		states[i] = string(st)
	}
	var tell any // NULL: no notice
	if len(ch.Tell) > 0 {
		tell = string(ch.Tell)
	}
	args := make([]any, 0, 31)
	args = append(args, id)
	args = append(args, set...)
	args = append(args, states, string(ch.To), ch.Actor, at.UnixNano(), ch.Detail,
		tell, at.UnixNano(), at.Add(noticeGrace).UnixNano(), tell)
	args = append(args, eventArgs(ch.Event.with(id, at))...)
	for attempt := 1; ; attempt++ {
		var (
			what   string
			state  State
			notice sql.NullInt64
		)
		row := s.run.QueryRowContext(ctx, s.q(qTransitionOne), args...)
		out, err := scanRequest(around{row, []any{&what, &state}, []any{&notice}})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return Request{}, ErrNotFound
		case s.again(ctx, err, attempt):
			continue
		case err != nil:
			return Request{}, err
		case what == "moved":
			out.Notice = notice.Int64
			return out, nil
		case !slices.Contains(from, state):
			return Request{}, &ConflictError{ID: id, State: state}
		case attempt >= maxAttempts:
			// The state it read under the lock is one of from, yet it did
			// not move: it cannot happen, short of a bug in qTransitionOne.
			return Request{}, fmt.Errorf("the request stayed %s", state)
		}
	}
}

// around scans a row into pre, then the scanner's own destinations, then
// post: a statement's extra columns around those scanRequest reads.
type around struct {
	row       scanner
	pre, post []any
}

func (a around) Scan(dest ...any) error {
	all := make([]any, 0, len(a.pre)+len(dest)+len(a.post))
	all = append(append(append(all, a.pre...), dest...), a.post...)
	return a.row.Scan(all...)
}

// holder is the *BusyError for the active request that holds request id's
// table group, or nil if there is none (any more).
func (s *DB) holder(ctx context.Context, id string) *BusyError {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil
	}
	existing, err := scanRequest(s.run.QueryRowContext(ctx, s.q(qActiveRequest), r.ClientID, r.SubclientID))
	if err != nil {
		return nil
	}
	return &BusyError{Existing: existing}
}

// SetParentTS records the request's parent message, unless one is recorded
// already: set is false then, and the caller's message is a second card
// that should go (the recorded one is returned as recorded). An unknown
// request is ErrNotFound.
func (s *DB) SetParentTS(ctx context.Context, id, ts string) (set bool, recorded string, err error) {
	// No transaction: a recorded parent message is never changed, so the
	// one that made the UPDATE do nothing is there to read after it (one
	// statement where the UPDATE sets it, the usual case).
	err = func() error {
		res, err := s.write(ctx, s.q(qSetParentTS), ts, s.now().UnixNano(), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if set = n > 0; set {
			recorded = ts
			return nil
		}
		err = s.run.QueryRowContext(ctx, s.q(qParentTS), id).Scan(&recorded)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}()
	if err != nil {
		return false, "", fmt.Errorf("set parent message of request %s: %w", id, err)
	}
	return set, recorded, nil
}

// Hold holds request id for owner until until: it takes the hold when it
// ran out (or the request never had one) and renews owner's own. held is
// false while another owner's hold has not run out, and for an unknown
// request.
func (s *DB) Hold(ctx context.Context, id, owner string, until time.Time) (held bool, err error) {
	if owner == "" {
		return false, fmt.Errorf("hold request %s: no owner", id)
	}
	res, err := s.write(ctx, s.q(qHold), owner, until.UnixNano(), id, owner, s.now().UnixNano())
	if err == nil {
		var n int64
		n, err = res.RowsAffected()
		held = n > 0
	}
	if err != nil {
		return false, fmt.Errorf("hold request %s for %s: %w", id, owner, err)
	}
	return held, nil
}

// Followed lists what job following can act on, oldest first: the
// submitted requests, and the unknown ones whose state changed at or after
// unknownSince (those still looked for in Commvault).
func (s *DB) Followed(ctx context.Context, unknownSince time.Time) ([]Request, error) {
	out, err := queryRequests(ctx, s.run, s.q(qFollowed), unknownSince.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list followed requests: %w", err)
	}
	return out, nil
}

// ByState lists requests in any of the states, oldest (Created) first.
func (s *DB) ByState(ctx context.Context, states ...State) ([]Request, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := make([]any, len(states))
	for i, st := range states {
		args[i] = string(st)
	}
	out, err := queryRequests(ctx, s.run, s.q(fmt.Sprintf(qByState, inList(len(states)))), args...)
	if err != nil {
		return nil, fmt.Errorf("list requests %v: %w", states, err)
	}
	return out, nil
}

// Transitions lists request id's transitions in the order they happened.
// A request that never moved has none; one that does not exist is
// ErrNotFound.
func (s *DB) Transitions(ctx context.Context, id string) ([]Transition, error) {
	out, err := s.transitions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list transitions of request %s: %w", id, err)
	}
	return out, nil
}

func (s *DB) transitions(ctx context.Context, id string) ([]Transition, error) {
	rows, err := s.run.QueryContext(ctx, s.q(qTransitions), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Transition
	found := false // a row, of NULLs if the request never moved
	for rows.Next() {
		found = true
		var requestID, from, to, actor, detail sql.NullString
		var at sql.NullInt64
		if err := rows.Scan(&requestID, &from, &to, &actor, &at, &detail); err != nil {
			return nil, err
		}
		if requestID.Valid {
			out = append(out, Transition{RequestID: requestID.String, From: State(from.String), To: State(to.String),
				Actor: actor.String, At: fromUnixNano(at), Detail: detail.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return out, nil
}
