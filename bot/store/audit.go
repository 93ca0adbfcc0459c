package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Audit appends e to the audit trail. A zero e.At is now.
func (s *DB) Audit(ctx context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.writing(ctx, false, func() error { return insertEvent(ctx, s.run, s.q(qInsertEvent), e) }); err != nil {
		return fmt.Errorf("audit %s of request %q: %w", e.Action, e.RequestID, err)
	}
	return nil
}

// insertEvent runs qInsertEvent (in query) for e, whose At is set.
func insertEvent(ctx context.Context, db querier, query string, e Event) error {
	_, err := db.ExecContext(ctx, query, e.args()...)
	return err
}

// args are qInsertEvent's arguments for e, whose At is set.
func (e Event) args() []any {
	return []any{e.At.UnixNano(), e.RequestID, e.Actor, e.Action, e.Rule,
		e.Account, e.TableGroup, e.Channel, e.Detail, boolInt(e.Review)}
}

// with is e, where it is set, as a write of request id at at records it:
// its RequestID is id, and a zero At is at. It is nil where e is.
func (e *Event) with(id string, at time.Time) *Event {
	if e == nil {
		return nil
	}
	out := *e
	out.RequestID = id
	if out.At.IsZero() {
		out.At = at
	}
	return &out
}

// eventArgs are the arguments of an audit insert that a NULL action
// skips (qTransitionOne's, qJobEndedOne's): e's, then its action again;
// all NULL where e is nil.
func eventArgs(e *Event) []any {
	if e == nil {
		return make([]any, 11)
	}
	return append(e.args(), e.Action)
}

// AuditSince lists events at or after since, oldest first (in the order
// they were recorded when their times are equal).
func (s *DB) AuditSince(ctx context.Context, since time.Time) ([]Event, error) {
	out, err := s.auditSince(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("list audit events since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

func (s *DB) auditSince(ctx context.Context, since time.Time) ([]Event, error) {
	var from int64 // the zero time: everything
	if !since.IsZero() {
		from = since.UnixNano()
	}
	rows, err := s.run.QueryContext(ctx, s.q(qEventsSince), from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at, review int64
		if err := rows.Scan(&at, &e.RequestID, &e.Actor, &e.Action, &e.Rule, &e.Account,
			&e.TableGroup, &e.Channel, &e.Detail, &review); err != nil {
			return nil, err
		}
		e.At = fromUnixNano(sql.NullInt64{Int64: at, Valid: true})
		e.Review = review != 0
		out = append(out, e)
	}
	return out, rows.Err()
}
