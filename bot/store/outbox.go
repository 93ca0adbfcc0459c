package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The outbox holds what requests' threads must be told. A flow adds a
// notice in the same transaction that records what it tells (a
// transition, a job's end), posts it, and marks it posted; a notice whose
// post failed stays due and is posted again later, in order, until Slack
// takes it. So an outcome is recorded before it is told, and told however
// often Slack fails.

// noticeGrace is how long a new notice of a transition is left to the
// flow that added it: it is due for a retry (DueNotices) only after this,
// so that a retry does not post it while that flow does. A flow's post is
// bounded well within it. A job end's notice is due at once: the lease
// holder that recorded it is the one that posts it, and the one that
// retries.
const noticeGrace = 2 * time.Minute

// addNotice adds message to request id's outbox within tx, due for a retry
// from due.
func (s *DB) addNotice(ctx context.Context, tx txn, id string, message []byte, at, due time.Time) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, s.q(qInsertNotice), id, string(message), at.UnixNano(), due.UnixNano()).Scan(&n)
	return n, err
}

// Untold lists the notices of request requestID not posted yet, in order.
func (s *DB) Untold(ctx context.Context, requestID string) ([]Notice, error) {
	out, err := queryNotices(ctx, s.run, s.q(qNoticesOf), requestID)
	if err != nil {
		return nil, fmt.Errorf("list untold notices of request %s: %w", requestID, err)
	}
	return out, nil
}

// DueNotices lists up to limit notices not posted yet whose next attempt
// is due (noticeGrace after they were added, or the retry NoticeFailed
// set), oldest first.
func (s *DB) DueNotices(ctx context.Context, limit int) ([]Notice, error) {
	out, err := queryNotices(ctx, s.run, s.q(qDueNotices), s.now().UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due notices: %w", err)
	}
	return out, nil
}

// NoticePosted marks notice id posted; a notice posted already stays as
// it is.
func (s *DB) NoticePosted(ctx context.Context, id int64) error {
	if _, err := s.write(ctx, s.q(qNoticePosted), s.now().UnixNano(), id); err != nil {
		return fmt.Errorf("mark notice %d posted: %w", id, err)
	}
	return nil
}

// NoticeFailed counts a failed post of notice id and makes it due again
// after retryIn.
func (s *DB) NoticeFailed(ctx context.Context, id int64, retryIn time.Duration) error {
	if _, err := s.write(ctx, s.q(qNoticeFailed), s.now().Add(retryIn).UnixNano(), id); err != nil {
		return fmt.Errorf("count a failed post of notice %d: %w", id, err)
	}
	return nil
}

func queryNotices(ctx context.Context, db querier, query string, args ...any) ([]Notice, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var n Notice
		var msg string
		var created, attempts, due int64
		if err := rows.Scan(&n.ID, &n.RequestID, &msg, &created, &attempts, &due); err != nil {
			return nil, err
		}
		n.Message = []byte(msg)
		n.Created = fromUnixNano(sql.NullInt64{Int64: created, Valid: true})
		n.Due = fromUnixNano(sql.NullInt64{Int64: due, Valid: true})
		n.Attempts = int(attempts)
		out = append(out, n)
	}
	return out, rows.Err()
}
