package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lease takes or renews the named lease for owner until now+ttl and
// reports whether owner holds it now. One INSERT … ON CONFLICT DO UPDATE …
// WHERE decides, so that of any number of concurrent callers for a lease
// nobody holds exactly one gets true. A lease is held until, and
// including, its expiry time.
func (s *DB) Lease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" {
		return false, errors.New("lease: no name or no owner")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("lease %s: ttl %v is not positive", name, ttl)
	}
	now := s.now()
	held := false
	err := s.inTx(ctx, func(tx txn) error {
		res, err := tx.ExecContext(ctx, s.q(qLease), name, owner, now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("lease %s for %s: %w", name, owner, err)
	}
	return held, nil
}

// ReleaseLease gives the named lease up if owner holds it, expired or not.
func (s *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := s.write(ctx, s.q(qReleaseLease), name, owner); err != nil {
		return fmt.Errorf("release lease %s of %s: %w", name, owner, err)
	}
	return nil
}
