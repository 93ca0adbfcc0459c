package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

const (
	// tokenLockFor is how long a renewer holds a chain's lock when its
	// context has no deadline, and tokenLockMost the longest in any case.
	tokenLockFor  = 2 * time.Minute
	tokenLockMost = 10 * time.Minute
	// tokenLockMargin is how much sooner than the lock the renewal itself
	// must end: the lock outlives the call it guards, even with the clocks
	// of two replicas a little apart.
	tokenLockMargin = 5 * time.Second
	// tokenLockPoll is how often a process waiting for the lock tries again.
	tokenLockPoll = 100 * time.Millisecond
)

// ErrTokenLockLost: a renewal took longer than its lock, and another
// process may have renewed the chain meanwhile; its pair was not stored.
var ErrTokenLockLost = errors.New("store: the token chain's lock expired during the renewal")

// LatestTokens returns the newest access token pair stored for chain, or
// empty strings when none is; expires is zero when it is not known. It
// implements commvault.TokenChain. The pair is a credential: no error
// holds it.
func (s *DB) LatestTokens(ctx context.Context, chain string) (access, refresh string, expires time.Time, err error) {
	var exp sql.NullInt64
	err = s.run.QueryRowContext(ctx, s.q(qLatestTokens), chain).Scan(&access, &refresh, &exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", time.Time{}, nil
	case err != nil:
		return "", "", time.Time{}, fmt.Errorf("read token chain %q: %w", chain, err)
	}
	return access, refresh, fromUnixNano(exp), nil
}

// RenewTokens renews chain once between every process sharing the
// database: it waits for the chain's lock, calls renew with the newest
// stored pair (empty strings when none is), stores the pair renew returns
// and lets the lock go. It implements commvault.TokenChain.
//
// The lock is a row, held for the time left to ctx (at most ten minutes,
// two without a deadline), not a transaction: the renewal is an HTTP call,
// and SQLite's one writer, or a PostgreSQL connection, is not held across
// it. renew gets a context that ends a margin before the lock does, so
// that no other process can take the lock while a renewal is on its way.
// A process that dies holding the lock holds it until it expires.
func (s *DB) RenewTokens(ctx context.Context, chain string,
	renew func(ctx context.Context, access, refresh string, expires time.Time) (string, string, time.Time, error),
) (string, string, time.Time, error) {
	owner, lockFor, err := s.lockTokens(ctx, chain)
	if err != nil {
		return "", "", time.Time{}, err
	}
	stored := false
	defer func() {
		if !stored {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = s.exec(ctx, qUnlockTokens, chain, owner) // an unreleased lock expires
		}
	}()
	access, refresh, expires, err := s.LatestTokens(ctx, chain)
	if err != nil {
		return "", "", time.Time{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, lockFor-tokenLockMargin)
	a, r, e, err := renew(rctx, access, refresh, expires)
	cancel()
	if err != nil {
		return "", "", time.Time{}, err
	}
	if a == access && r == refresh && e.Equal(expires) {
		return a, r, e, nil
	}
	n, err := s.exec(ctx, qStoreTokens, a, r, unixNano(e), s.now().UnixNano(), chain, owner)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("store the renewed tokens of chain %q: %w", chain, err)
	}
	if n == 0 {
		return "", "", time.Time{}, fmt.Errorf("store the renewed tokens of chain %q: %w", chain, ErrTokenLockLost)
	}
	stored = true
	return a, r, e, nil
}

// lockTokens waits until it holds chain's lock, and returns its owner
// name and how long it holds it.
func (s *DB) lockTokens(ctx context.Context, chain string) (owner string, lockFor time.Duration, err error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	owner = hex.EncodeToString(b)
	for {
		lockFor = tokenLockFor
		if dl, ok := ctx.Deadline(); ok {
			lockFor = min(time.Until(dl), tokenLockMost)
		}
		if lockFor <= tokenLockMargin {
			return "", 0, fmt.Errorf("lock token chain %q: too little time left", chain)
		}
		now := s.now()
		n, err := s.exec(ctx, qLockTokens, chain, owner, now.Add(lockFor).UnixNano(), now.UnixNano())
		if err != nil {
			return "", 0, fmt.Errorf("lock token chain %q: %w", chain, err)
		}
		if n > 0 {
			return owner, lockFor, nil
		}
		select {
		case <-ctx.Done():
			return "", 0, fmt.Errorf("lock token chain %q: another process renews it: %w", chain, ctx.Err())
		case <-time.After(tokenLockPoll):
		}
	}
}

// exec runs one statement in a transaction of the store's isolation (READ
// COMMITTED on PostgreSQL, whatever the server's default), run again when
// the database aborted it to break a deadlock, and returns the rows it
// changed.
func (s *DB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx txn) error {
		res, err := tx.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
