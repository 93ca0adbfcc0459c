package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func testBusy(t *testing.T, su suite) {
	ctx := context.Background()
	for _, held := range states {
		t.Run(string(held), func(t *testing.T) {
			s, _ := su.open(t, newClock())
			first := request("r1", 3, 12)
			first.State = held
			create(t, s, first)

			err := s.Create(ctx, request("r2", 3, 12), Event{Action: "request"})
			var busy *BusyError
			switch {
			case !held.Active() && err != nil:
				t.Fatalf("Create beside a %s request = %v, want nil", held, err)
			case held.Active() && !errors.As(err, &busy):
				t.Fatalf("Create beside a %s request = %v, want *BusyError", held, err)
			case held.Active():
				if !errors.Is(err, ErrBusy) {
					t.Errorf("errors.Is(%v, ErrBusy) = false", err)
				}
				sameRequest(t, busy.Existing, first)
				if _, err := s.Get(ctx, "r2"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(r2) after a refused Create = %v, want ErrNotFound", err)
				}
			}
			// Other table groups are free either way.
			create(t, s, request("r3", 3, 13))
			create(t, s, request("r4", 4, 12))
		})
	}

	t.Run("released", func(t *testing.T) {
		s, _ := su.open(t, newClock())
		create(t, s, request("r1", 3, 12))
		move(t, s, "r1", Cancelled)
		create(t, s, request("r2", 3, 12))
		move(t, s, "r2", Approved)
		move(t, s, "r2", Submitting)
		move(t, s, "r2", Failed)
		create(t, s, request("r3", 3, 12))
		events, err := s.AuditSince(ctx, time.Time{})
		if err != nil || len(events) != 3 {
			t.Errorf("AuditSince = %d events, %v; want 3 (one per created request)", len(events), err)
		}
	})

	t.Run("id taken", func(t *testing.T) {
		s, _ := su.open(t, newClock())
		create(t, s, request("r1", 3, 12))
		move(t, s, "r1", Rejected)
		err := s.Create(ctx, request("r1", 3, 14), Event{})
		var busy *BusyError
		if !errors.Is(err, ErrDuplicate) || errors.As(err, &busy) {
			t.Errorf("Create with a taken ID = %v, want ErrDuplicate, not *BusyError", err)
		}
	})
}

func testBusyReactivated(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	move(t, s, "r1", Approved)
	move(t, s, "r1", Submitting)
	move(t, s, "r1", Unknown) // does not hold the table group: r2 may run
	create(t, s, request("r2", 3, 12))

	// Reconciling finds r1's job after all: it cannot hold the group twice.
	_, err := s.Transition(ctx, "r1", []State{Unknown}, Change{To: Submitted, Actor: "backupbot"})
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Existing.ID != "r2" {
		t.Fatalf("Transition(r1, unknown → submitted) beside r2 = %v, want *BusyError with r2", err)
	}
	if got := get(t, s, "r1").State; got != Unknown {
		t.Errorf("r1 after the refused transition is %s, want %s", got, Unknown)
	}
	move(t, s, "r2", Cancelled)
	if r := move(t, s, "r1", Submitted); r.State != Submitted {
		t.Errorf("r1 = %s, want %s", r.State, Submitted)
	}
}

func testConcurrentCreates(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Create(context.Background(), request("r"+itoa(i), 3, 12), Event{Action: "request"})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var busy *BusyError
		switch {
		case err == nil:
			won++
		case !errors.As(err, &busy):
			t.Errorf("Create(r%d) = %v, want nil or *BusyError", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent Creates for one table group won, want 1", won, n)
	}
	active, err := s.ByState(context.Background(), Pending)
	if err != nil || len(active) != 1 {
		t.Errorf("ByState(pending) = %d requests, %v; want 1", len(active), err)
	}
}
