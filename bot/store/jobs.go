package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// JobEnded records that a followed job ended with status at (zero: now);
// first is true only for the one caller that recorded it. The request must
// exist (ErrNotFound).
func (s *DB) JobEnded(ctx context.Context, requestID, jobID, status string, at time.Time) (bool, error) {
	if at.IsZero() {
		at = s.now()
	}
	first := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
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
		first = added > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record end of job %s of request %s: %w", jobID, requestID, err)
	}
	return first, nil
}

// EndedJobs returns jobID → final status of the request's jobs that have
// ended; none is an empty map. A request that does not exist is ErrNotFound.
func (s *DB) EndedJobs(ctx context.Context, requestID string) (map[string]string, error) {
	out, err := s.endedJobs(ctx, requestID)
	if err == nil && len(out) == 0 {
		err = s.exists(ctx, requestID)
	}
	if err != nil {
		return nil, fmt.Errorf("list ended jobs of request %s: %w", requestID, err)
	}
	return out, nil
}

func (s *DB) endedJobs(ctx context.Context, requestID string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(qEndedJobs), requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var job, status string
		if err := rows.Scan(&job, &status); err != nil {
			return nil, err
		}
		out[job] = status
	}
	return out, rows.Err()
}
