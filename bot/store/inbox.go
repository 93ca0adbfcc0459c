package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// inboxKeep is how long done inbox items are kept: a redelivered envelope
// is known as long as its item is.
const inboxKeep = 24 * time.Hour

// putInbox records item, unless its ID is there already (added false).
// A zero Received is now; Attempts starts at 0, whatever item's is.
func (s *DB) putInbox(ctx context.Context, item InboxItem) (bool, error) {
	if item.ID == "" {
		return false, errors.New("put inbox item: no id")
	}
	now := s.now()
	if item.Received.IsZero() {
		item.Received = now
	}
	purge := s.purgeDue(&s.nextInboxPurge, now)
	added := false
	err := s.inTx(ctx, func(tx txn) error {
		if purge {
			if err := s.purgeInbox(ctx, tx, now); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.q(qPutInbox), item.ID, item.Kind, string(item.Payload),
			item.Received.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put inbox item %s: %w", item.ID, err)
	}
	return added, nil
}

// purgeInbox deletes the items done more than inboxKeep before now.
func (s *DB) purgeInbox(ctx context.Context, tx txn, now time.Time) error {
	_, err := tx.ExecContext(ctx, s.q(qInboxPurge), now.Add(-inboxKeep).UnixNano())
	return err
}

// ClaimInbox claims item id for owner until now+lease, unless it is done,
// unknown, or another owner's claim is unexpired (ok false). One
// conditional UPDATE decides, so of concurrent callers at most one wins. A
// claim counts an attempt unless owner holds the item already (a worker
// serving what its own Take or sweep claimed).
func (s *DB) ClaimInbox(ctx context.Context, id, owner string, lease time.Duration) (InboxItem, bool, error) {
	if owner == "" {
		return InboxItem{}, false, fmt.Errorf("claim inbox item %s: no owner", id)
	}
	if lease <= 0 {
		return InboxItem{}, false, fmt.Errorf("claim inbox item %s: lease %v is not positive", id, lease)
	}
	now := s.now()
	var item InboxItem
	ok := false
	err := s.autocommit(ctx, func(q querier) error {
		var err error
		item, err = scanInbox(q.QueryRowContext(ctx, s.q(qClaimInbox), owner, now.Add(lease).UnixNano(),
			owner, id, now.UnixNano(), owner))
		ok = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return InboxItem{}, false, fmt.Errorf("claim inbox item %s for %s: %w", id, owner, err)
	}
	if !ok {
		return InboxItem{}, false, nil
	}
	return item, true, nil
}

// RenewInbox extends owner's claim on item id to now+lease, without
// counting an attempt; ok is false when owner does not hold it or it is done.
func (s *DB) RenewInbox(ctx context.Context, id, owner string, lease time.Duration) (bool, error) {
	if lease <= 0 {
		return false, fmt.Errorf("renew inbox item %s: lease %v is not positive", id, lease)
	}
	var n int64
	err := s.autocommit(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.q(qRenewInbox), s.now().Add(lease).UnixNano(), id, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("renew inbox item %s for %s: %w", id, owner, err)
	}
	return n > 0, nil
}

// ClaimStale claims for owner until now+lease up to limit items received
// more than staleAfter ago that are not done, unclaimed or whose claim
// expired, and claimed fewer than maxAttempts times, oldest first. In one
// transaction it lists them, locking them and passing over those another
// transaction locked (PostgreSQL's FOR UPDATE SKIP LOCKED; SQLite's write
// lock holds off every other writer), and claims them with one UPDATE that
// checks each again: concurrent callers never get the same item. Ages and
// claims are measured on the store's clock.
func (s *DB) ClaimStale(ctx context.Context, owner string, staleAfter, lease time.Duration, maxAttempts, limit int) ([]InboxItem, error) {
	if owner == "" {
		return nil, errors.New("claim stale inbox items: no owner")
	}
	if lease <= 0 {
		return nil, fmt.Errorf("claim stale inbox items: lease %v is not positive", lease)
	}
	if maxAttempts <= 0 || limit <= 0 { // none could be claimed
		return nil, nil
	}
	now := s.now()
	at, until := now.UnixNano(), now.Add(lease).UnixNano()
	purge := s.purgeDue(&s.nextInboxPurge, now)
	out, err := s.claimListed(ctx, purge, now,
		s.q(fmt.Sprintf(qStaleInbox, s.d.skipLocked)), []any{now.Add(-staleAfter).UnixNano(), at, maxAttempts, limit},
		qClaimStale, []any{owner, until}, []any{at, maxAttempts})
	if err != nil {
		return nil, fmt.Errorf("claim stale inbox items for %s: %w", owner, err)
	}
	return out, nil
}

// ClaimExhausted claims for owner until now+lease up to limit items that
// are not done, whose claim expired, and that were claimed maxAttempts
// times or more: work nobody could finish, whose senders must be told.
func (s *DB) ClaimExhausted(ctx context.Context, owner string, lease time.Duration, maxAttempts, limit int) ([]InboxItem, error) {
	if owner == "" || lease <= 0 || limit <= 0 {
		return nil, errors.New("claim exhausted inbox items: no owner, lease or limit")
	}
	now := s.now()
	at, until := now.UnixNano(), now.Add(lease).UnixNano()
	out, err := s.claimListed(ctx, false, now,
		s.q(fmt.Sprintf(qStaleExhausted, s.d.skipLocked)), []any{at, maxAttempts, limit},
		qClaimExhausted, []any{owner, until}, []any{at})
	if err != nil {
		return nil, fmt.Errorf("claim exhausted inbox items for %s: %w", owner, err)
	}
	return out, nil
}

// claimListed lists ids with list (and its args) and claims them with the
// UPDATE claim, whose %s is the ids and whose arguments are before, the
// ids, after; oldest first.
func (s *DB) claimListed(ctx context.Context, purge bool, now time.Time, list string, listArgs []any,
	claim string, before, after []any) ([]InboxItem, error) {
	var out []InboxItem
	err := s.inTx(ctx, func(tx txn) error {
		out = nil
		if purge {
			if err := s.purgeInbox(ctx, tx, now); err != nil {
				return err
			}
		}
		ids, err := queryIDs(ctx, tx, list, listArgs...)
		if err != nil || len(ids) == 0 {
			return err
		}
		args := slices.Clone(before)
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, after...)
		rows, err := tx.QueryContext(ctx, s.q(fmt.Sprintf(claim, inList(len(ids)))), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			item, err := scanInbox(rows)
			if err != nil {
				return err
			}
			out = append(out, item)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives the rows in no particular order.
	slices.SortFunc(out, func(a, b InboxItem) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// queryIDs runs query, whose rows are ids, and returns them.
func queryIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Refuse marks item id done and refused, because its sender was told to try
// again: recorded or not (yet), it never runs. When it is not recorded, a
// tombstone takes its place, which a Take that commits later finds and
// leaves alone.
func (s *DB) Refuse(ctx context.Context, id string) error {
	now := s.now().UnixNano()
	if _, err := s.write(ctx, s.q(qRefuseInbox), id, now, now); err != nil {
		return fmt.Errorf("refuse inbox item %s: %w", id, err)
	}
	return nil
}

// scanInbox reads the inboxColumns.
func scanInbox(sc scanner) (InboxItem, error) {
	var item InboxItem
	var payload string
	var received, attempts int64
	if err := sc.Scan(&item.ID, &item.Kind, &payload, &received, &attempts); err != nil {
		return InboxItem{}, err
	}
	if payload != "" {
		item.Payload = []byte(payload)
	}
	item.Received = fromUnixNano(sql.NullInt64{Int64: received, Valid: true})
	item.Attempts = int(attempts)
	return item, nil
}
