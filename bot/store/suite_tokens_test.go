package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// renewTo is a renew callback that returns the given pair, and records the
// pair it was given.
func renewTo(access, refresh string, expires time.Time, saw *[3]any) func(context.Context, string, string, time.Time) (string, string, time.Time, error) {
	return func(_ context.Context, a, r string, e time.Time) (string, string, time.Time, error) {
		if saw != nil {
			*saw = [3]any{a, r, e}
		}
		return access, refresh, expires, nil
	}
}

func testTokenChain(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	if a, r, e, err := s.LatestTokens(ctx, "chain-a"); err != nil || a != "" || r != "" || !e.IsZero() {
		t.Fatalf("LatestTokens of a chain never stored = %q, %q, %v, %v; want empty", a, r, e, err)
	}
	exp := t0.Add(30 * time.Minute).In(cet)
	var saw [3]any
	a, r, e, err := s.RenewTokens(ctx, "chain-a", renewTo("at-1", "rt-1", exp, &saw))
	if err != nil || a != "at-1" || r != "rt-1" || !e.Equal(exp) {
		t.Fatalf("RenewTokens = %q, %q, %v, %v; want at-1, rt-1, %v", a, r, e, err, exp)
	}
	if saw != [3]any{"", "", time.Time{}} {
		t.Errorf("renew of a chain never stored was given %v, want empty strings", saw)
	}
	if a, r, e, err := s.LatestTokens(ctx, "chain-a"); err != nil || a != "at-1" || r != "rt-1" || !e.Equal(exp) {
		t.Errorf("LatestTokens = %q, %q, %v, %v; want the stored pair", a, r, e, err)
	}
	// Another handle on the database (another replica) reads the same, and
	// its renewal is given the newest pair.
	other := reopen(t, url, c)
	if _, _, _, err := other.RenewTokens(ctx, "chain-a", renewTo("at-2", "rt-2", time.Time{}, &saw)); err != nil {
		t.Fatal(err)
	}
	if saw != [3]any{"at-1", "rt-1", exp.UTC()} {
		t.Errorf("the other replica's renew was given %v, want the newest pair", saw)
	}
	if a, _, e, _ := s.LatestTokens(ctx, "chain-a"); a != "at-2" || !e.IsZero() {
		t.Errorf("LatestTokens after the other's renewal = %q, %v; want at-2 with no expiry", a, e)
	}
	// Chains are independent.
	if a, _, _, _ := s.LatestTokens(ctx, "chain-b"); a != "" {
		t.Errorf("chain-b = %q, want nothing", a)
	}

	// A renewal that fails stores nothing and lets the lock go.
	refused := errors.New("commvault refused")
	_, _, _, err = s.RenewTokens(ctx, "chain-a", func(context.Context, string, string, time.Time) (string, string, time.Time, error) {
		return "", "", time.Time{}, refused
	})
	if !errors.Is(err, refused) {
		t.Errorf("RenewTokens with a failing renew = %v, want its error", err)
	}
	if a, _, _, _ := s.LatestTokens(ctx, "chain-a"); a != "at-2" {
		t.Errorf("after a failed renewal the pair is %q, want at-2", a)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second+tokenLockMargin)
	defer cancel()
	if _, _, _, err := s.RenewTokens(short, "chain-a", renewTo("at-2", "rt-2", time.Time{}, nil)); err != nil {
		t.Errorf("RenewTokens after a failed one = %v: the lock was not let go", err)
	}
	for _, err := range []error{err} {
		if err != nil && (strings.Contains(err.Error(), "at-") || strings.Contains(err.Error(), "rt-")) {
			t.Errorf("error %q shows a token", err)
		}
	}
}

// A renewer that stopped holding the lock keeps it until it expires; then
// another takes it, and the stopped one's late write is refused.
func testTokenLockExpiry(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	other := reopen(t, url, c)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, _, err := s.RenewTokens(ctx, "chain", func(context.Context, string, string, time.Time) (string, string, time.Time, error) {
			close(started)
			<-release
			return "late", "late", time.Time{}, nil
		})
		done <- err
	}()
	<-started
	waiting, cancel := context.WithTimeout(ctx, tokenLockMargin+time.Second)
	_, _, _, err := other.RenewTokens(waiting, "chain", renewTo("x", "x", time.Time{}, nil))
	cancel()
	if err == nil {
		t.Fatal("RenewTokens while another holds the lock = nil error, want it to wait and give up")
	}
	c.advance(tokenLockFor + time.Second) // the holder's lock expires
	if _, _, _, err := other.RenewTokens(ctx, "chain", renewTo("at-new", "rt-new", time.Time{}, nil)); err != nil {
		t.Fatalf("RenewTokens once the lock expired = %v", err)
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrTokenLockLost) {
		t.Errorf("the late renewer's write = %v, want ErrTokenLockLost", err)
	}
	if a, _, _, _ := s.LatestTokens(ctx, "chain"); a != "at-new" {
		t.Errorf("stored pair = %q, want at-new (the late write refused)", a)
	}
}

// Many renewals at once, from two handles (replicas): each is given the pair
// the one before it stored; none two the same.
func testConcurrentTokenRenewal(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	handles := []*DB{s, reopen(t, url, c)}
	const n = 12
	var mu sync.Mutex
	given := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, _, err := handles[i%2].RenewTokens(ctx, "chain", func(_ context.Context, a, _ string, _ time.Time) (string, string, time.Time, error) {
				mu.Lock()
				given[a]++
				mu.Unlock()
				time.Sleep(10 * time.Millisecond) // a renewal takes time: others must wait, not overlap
				gen := 0
				if a != "" {
					gen, _ = strconv.Atoi(strings.TrimPrefix(a, "at-"))
				}
				return fmt.Sprintf("at-%d", gen+1), fmt.Sprintf("rt-%d", gen+1), time.Time{}, nil
			})
			if err != nil {
				t.Errorf("RenewTokens: %v", err)
			}
		})
	}
	wg.Wait()
	for a, k := range given {
		if k != 1 {
			t.Errorf("pair %q was given to %d renewals, want 1: renewals overlapped", a, k)
		}
	}
	if a, _, _, _ := s.LatestTokens(ctx, "chain"); a != fmt.Sprintf("at-%d", n) {
		t.Errorf("stored pair = %q after %d renewals, want at-%d", a, n, n)
	}
}
