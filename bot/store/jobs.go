package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// JobEnded records that a followed job ended with status at (zero: now);
// first is true only for the one caller that recorded it, and only then is
// tell (if not empty) added to the request's outbox, in the same
// transaction, due at once (the lease holder posts it): notice is its ID.
// So is e, where it is set, added to the audit trail (as Change.Event).
// The request must exist (ErrNotFound).
func (s *DB) JobEnded(ctx context.Context, requestID, jobID, status string, at time.Time, tell []byte,
	e *Event) (first bool, notice int64, err error) {
	if at.IsZero() {
		at = s.now()
	}
	e = e.with(requestID, at)
	if s.d.oneStatement {
		first, notice, err = s.jobEndedOne(ctx, requestID, jobID, status, at, tell, e)
	} else {
		first, notice, err = s.jobEndedTx(ctx, requestID, jobID, status, at, tell, e)
	}
	if err != nil {
		return false, 0, fmt.Errorf("record end of job %s of request %s: %w", jobID, requestID, err)
	}
	return first, notice, nil
}

// jobEndedOne is JobEnded in one statement, qJobEndedOne (PostgreSQL's).
func (s *DB) jobEndedOne(ctx context.Context, requestID, jobID, status string, at time.Time, tell []byte,
	e *Event) (first bool, notice int64, err error) {
	var message any // NULL: no notice
	if len(tell) > 0 {
		message = string(tell)
	}
	args := append([]any{requestID, jobID, status, at.UnixNano(), message, at.UnixNano(), at.UnixNano(), message},
		eventArgs(e)...)
	for attempt := 1; ; attempt++ {
		var found bool
		var id sql.NullInt64
		err = s.run.QueryRowContext(ctx, s.q(qJobEndedOne), args...).Scan(&found, &first, &id)
		switch {
		case s.again(ctx, err, attempt):
			continue
		case err != nil:
			return false, 0, err
		case !found:
			return false, 0, ErrNotFound
		}
		return first, id.Int64, nil
	}
}

// jobEndedTx is JobEnded in a transaction of several statements (SQLite's).
func (s *DB) jobEndedTx(ctx context.Context, requestID, jobID, status string, at time.Time, tell []byte,
	e *Event) (first bool, notice int64, err error) {
	err = s.inTx(ctx, func(tx txn) error {
		first, notice = false, 0
		var n int
		if err := tx.QueryRowContext(ctx, s.q(qRequestExists), requestID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		res, err := tx.ExecContext(ctx, s.q(qJobEnded), requestID, jobID, status, at.UnixNano())
		if err != nil {
			return err
		}
		added, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if first = added > 0; !first {
			return nil
		}
		if len(tell) > 0 {
			if notice, err = s.addNotice(ctx, tx, requestID, tell, at, at); err != nil {
				return err
			}
		}
		if e != nil {
			return insertEvent(ctx, tx, s.q(qInsertEvent), *e)
		}
		return nil
	})
	return first, notice, err
}

// EndedJobs returns jobID → final status of the request's jobs that have
// ended; none is an empty map. A request that does not exist is ErrNotFound.
func (s *DB) EndedJobs(ctx context.Context, requestID string) (map[string]string, error) {
	out, err := s.endedJobs(ctx, requestID)
	if err != nil {
		return nil, fmt.Errorf("list ended jobs of request %s: %w", requestID, err)
	}
	return out, nil
}

func (s *DB) endedJobs(ctx context.Context, requestID string) (map[string]string, error) {
	rows, err := s.run.QueryContext(ctx, s.q(qEndedJobs), requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out map[string]string // nil: no row, no such request
	for rows.Next() {
		var job, status sql.NullString
		if err := rows.Scan(&job, &status); err != nil {
			return nil, err
		}
		if out == nil {
			out = make(map[string]string)
		}
		if job.Valid { // else the request's one row: no job has ended
			out[job.String] = status.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, ErrNotFound
	}
	return out, nil
}
