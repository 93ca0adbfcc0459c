package store

import (
	"context"
	"fmt"
	"time"
)

// The store's clock is the one every expiry and age is measured on —
// leases, inbox claims, holds, de-duplication keys, and the bot's own times
// (which take it from Now) — so that replicas whose clocks disagree still
// agree on who holds what. With one process on SQLite that is the
// process's clock. On PostgreSQL, FollowServerClock makes it the server's:
// the offset between the server's clock and this process's is measured
// over a round trip and measured again every clockEvery.

// clockEvery is how often the offset to the server's clock is measured.
const clockEvery = time.Minute

// qServerClock is the server's clock in unix microseconds (clock_timestamp
// moves within a transaction, unlike now()).
const qServerClock = `SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`

// now is the store's clock.
func (s *DB) now() time.Time { return s.local().Add(time.Duration(s.offset.Load())) }

// Now is the store's clock: the time every expiry and age is measured on.
func (s *DB) Now() time.Time { return s.now() }

// FollowServerClock makes the store's clock the database server's, on
// PostgreSQL: it measures the offset now, and again every clockEvery until
// Close. On SQLite it does nothing (one process: its clock is the store's).
// It fails when the first measurement does; later ones that fail keep the
// last offset.
func (s *DB) FollowServerClock(ctx context.Context) error {
	if s.d.rebind == nil { // SQLite
		return nil
	}
	off, err := s.measureOffset(ctx)
	if err != nil {
		return fmt.Errorf("follow the clock of %s: %w", s.name, err)
	}
	s.offset.Store(int64(off))
	s.following.Do(func() {
		s.syncing.Add(1)
		go func() {
			defer s.syncing.Done()
			t := time.NewTicker(clockEvery)
			defer t.Stop()
			for {
				select {
				case <-s.stop:
					return
				case <-t.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if off, err := s.measureOffset(ctx); err == nil {
					s.offset.Store(int64(off))
				}
				cancel()
			}
		}()
	})
	return nil
}

// measureOffset is the server's clock minus local, from the quickest of
// three round trips (its error is at most half that round trip).
func (s *DB) measureOffset(ctx context.Context) (time.Duration, error) {
	var best, bestRTT time.Duration = 0, -1
	for range 3 {
		t0 := s.local()
		var us int64
		if err := s.run.QueryRowContext(ctx, qServerClock).Scan(&us); err != nil {
			return 0, err
		}
		t1 := s.local()
		rtt := t1.Sub(t0)
		if bestRTT < 0 || rtt < bestRTT {
			mid := t0.Add(rtt / 2)
			best, bestRTT = time.UnixMicro(us).Sub(mid), rtt
		}
	}
	return best, nil
}
