package store

import (
	"context"
	"fmt"
	"time"
)

// endedStates are the states in which a request runs nothing any more, so
// that retention may delete it.
const endedStates = `'finished', 'rejected', 'expired', 'cancelled', 'failed'`

// Purge deletes the requests that ended (finished, rejected, expired,
// cancelled, failed) before requestsBefore, with their transitions, job ends
// and outbox; the inbox items received before requestsBefore; and the audit
// events before auditBefore (the audit trail is kept as long or longer than
// the requests: a zero auditBefore keeps it all). It returns how many
// requests and events went.
func (s *DB) Purge(ctx context.Context, requestsBefore, auditBefore time.Time) (requests, events int64, err error) {
	before := requestsBefore.UnixNano()
	err = s.inTx(ctx, func(tx txn) error {
		requests, events = 0, 0
		for _, q := range []string{qPurgeOutbox, qPurgeJobs, qPurgeTransitions} {
			if _, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(q, endedStates)), before); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(qPurgeRequests, endedStates)), before)
		if err != nil {
			return err
		}
		if requests, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(qPurgeOldInbox), before); err != nil {
			return err
		}
		if auditBefore.IsZero() {
			return nil
		}
		res, err = tx.ExecContext(ctx, s.q(qPurgeAudit), auditBefore.UnixNano())
		if err != nil {
			return err
		}
		events, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("purge what ended before %s: %w", requestsBefore.UTC().Format(time.RFC3339), err)
	}
	return requests, events, nil
}
