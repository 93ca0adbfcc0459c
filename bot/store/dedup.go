package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Seen records the keys with an expiry of now+ttl and reports whether any
// of them was already recorded and unexpired (a key is unexpired until,
// and including, its expiry time). A key seen again is renewed, so it
// outlives the last of its retries by ttl. The keys are recorded in one
// transaction, each with one INSERT … ON CONFLICT, so that of any number of
// concurrent callers with the same key exactly one gets false. A key given
// twice in one call counts once. Expired keys are purged about once every
// purgeEvery.
func (s *sqlStore) Seen(ctx context.Context, ttl time.Duration, keys ...string) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("seen: ttl %v is not positive", ttl)
	}
	if len(keys) == 0 {
		return false, nil
	}
	now := s.now()
	expires, at := now.Add(ttl).UnixNano(), now.UnixNano()
	purge := s.purgeDue(&s.nextPurge, now)
	// Each key once, in one order for every caller: concurrent calls with
	// keys in common then lock their rows in the same order (PostgreSQL),
	// and none waits for another that waits for it.
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	seen := false
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		seen, err = s.seenTx(ctx, tx, purge, uniq, expires, at)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record de-duplication keys: %w", err)
	}
	return seen, nil
}

// seenTx is Seen's work within tx, for keys sorted and unique.
func (s *sqlStore) seenTx(ctx context.Context, tx *sql.Tx, purge bool, keys []string, expires, at int64) (bool, error) {
	if purge {
		if _, err := tx.ExecContext(ctx, s.q(qSeenPurge), at); err != nil {
			return false, err
		}
	}
	seen := false
	for _, k := range keys {
		res, err := tx.ExecContext(ctx, s.q(qSeen), k, expires, at)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, err
		}
		if n > 0 {
			continue // new, or expired and now renewed
		}
		seen = true
		if _, err := tx.ExecContext(ctx, s.q(qSeenRenew), expires, k, expires); err != nil {
			return false, err
		}
	}
	return seen, nil
}

// Take is Seen and, when none of the keys was seen, PutInbox, in one
// transaction: what the bot does with every envelope before acking it.
func (s *sqlStore) Take(ctx context.Context, ttl time.Duration, keys []string, item InboxItem) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("take: ttl %v is not positive", ttl)
	}
	if item.ID == "" {
		return false, errors.New("take: no inbox item id")
	}
	now := s.now()
	if item.Received.IsZero() {
		item.Received = now
	}
	expires, at := now.Add(ttl).UnixNano(), now.UnixNano()
	purge := s.purgeDue(&s.nextPurge, now)
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	seen := false
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if seen, err = s.seenTx(ctx, tx, purge, uniq, expires, at); err != nil || seen {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(qPutInbox), item.ID, item.Kind, string(item.Payload), item.Received.UnixNano())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("take envelope %s: %w", item.ID, err)
	}
	return seen, nil
}

// purgeDue reports whether it is time to purge (next is when, one of
// s.nextPurge and s.nextInboxPurge), and if so sets the next time.
func (s *sqlStore) purgeDue(next *time.Time, now time.Time) bool {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	if now.Before(*next) {
		return false
	}
	*next = now.Add(purgeEvery)
	return true
}
