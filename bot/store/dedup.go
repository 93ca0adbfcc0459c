package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// seen records the keys with an expiry of now+ttl and reports whether any
// of them was already recorded and unexpired (a key is unexpired until,
// and including, its expiry time). A key seen again is renewed, so it
// outlives the last of its retries by ttl. The keys are recorded in one
// transaction, each with one INSERT … ON CONFLICT, so that of any number of
// concurrent callers with the same key exactly one gets false. A key given
// twice in one call counts once. Expired keys are purged about once every
// purgeEvery.
func (s *DB) seen(ctx context.Context, ttl time.Duration, keys ...string) (bool, error) {
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

// seenTx is seen's work within tx, for keys sorted and unique.
func (s *DB) seenTx(ctx context.Context, tx *sql.Tx, purge bool, keys []string, expires, at int64) (bool, error) {
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

// Take is seen and, when none of the keys was seen, putInbox, in one
// transaction: what the bot does with every envelope before acking it.
// Concurrent Takes are committed together (group commit), in the order
// they arrive, so a burst costs a few transactions rather than one each:
// SQLite takes one writer at a time. When ctx ends before the answer, the
// Take may still be committed.
func (s *DB) Take(ctx context.Context, ttl time.Duration, keys []string, item InboxItem) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("take: ttl %v is not positive", ttl)
	}
	if item.ID == "" {
		return false, errors.New("take: no inbox item id")
	}
	s.takers.Do(func() {
		s.takes, s.closing = make(chan takeReq, maxTakeBatch), make(chan struct{})
		s.taking.Add(1)
		go s.commitTakes()
	})
	if s.closing == nil {
		return false, fmt.Errorf("take envelope %s: store closed", item.ID)
	}
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	req := takeReq{ttl: ttl, keys: slices.Compact(uniq), item: item, done: make(chan takeRes, 1)}
	select {
	case s.takes <- req:
	case <-s.closing:
		return false, fmt.Errorf("take envelope %s: store closed", item.ID)
	case <-ctx.Done():
		return false, fmt.Errorf("take envelope %s: %w", item.ID, ctx.Err())
	}
	select {
	case r := <-req.done:
		if r.err != nil {
			return false, fmt.Errorf("take envelope %s: %w", item.ID, r.err)
		}
		return r.seen, nil
	case <-ctx.Done():
		return false, fmt.Errorf("take envelope %s: %w", item.ID, ctx.Err())
	}
}

// maxTakeBatch is the most Takes one transaction commits.
const maxTakeBatch = 128

// takeTimeout bounds one group commit.
const takeTimeout = 10 * time.Second

type takeReq struct {
	ttl  time.Duration
	keys []string // sorted, unique
	item InboxItem
	done chan takeRes
}

type takeRes struct {
	seen bool
	err  error
}

// commitTakes commits the waiting Takes, as many at a time as are waiting,
// until the store closes.
func (s *DB) commitTakes() {
	defer s.taking.Done()
	for {
		var batch []takeReq
		select {
		case <-s.closing:
			return
		case r := <-s.takes:
			batch = append(batch, r)
		}
	more:
		for len(batch) < maxTakeBatch {
			select {
			case r := <-s.takes:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch of Takes in one transaction and answers each.
func (s *DB) commit(batch []takeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	now := s.now()
	at := now.UnixNano()
	purge := s.purgeDue(&s.nextPurge, now)
	seen := make([]bool, len(batch))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, r := range batch {
			var err error
			if seen[i], err = s.seenTx(ctx, tx, purge && i == 0, r.keys, now.Add(r.ttl).UnixNano(), at); err != nil {
				return err
			}
			if seen[i] {
				continue
			}
			received := r.item.Received
			if received.IsZero() {
				received = now
			}
			if _, err := tx.ExecContext(ctx, s.q(qPutInbox), r.item.ID, r.item.Kind, string(r.item.Payload),
				received.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range batch {
		r.done <- takeRes{seen: seen[i], err: err}
	}
}

// purgeDue reports whether it is time to purge (next is when, one of
// s.nextPurge and s.nextInboxPurge), and if so sets the next time.
func (s *DB) purgeDue(next *time.Time, now time.Time) bool {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	if now.Before(*next) {
		return false
	}
	*next = now.Add(purgeEvery)
	return true
}
