package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func testTransitionRules(t *testing.T, su suite) {
	tests := []struct {
		name string
		at   State   // where the request is
		from []State // what the caller expects
		to   State
		ok   bool
	}{
		{"approve a pending request", Pending, []State{Pending}, Approved, true},
		{"expire from either of two", Pending, []State{Approved, Pending}, Expired, true},
		{"submit an approved request", Approved, []State{Approved}, Submitting, true},
		{"a submission's outcome", Submitting, []State{Submitting}, Submitted, true},
		{"finish", Submitted, []State{Submitted}, Finished, true},
		{"reconcile the unknown", Unknown, []State{Unknown}, Submitted, true},
		{"approve twice", Approved, []State{Pending}, Approved, false},
		{"deny an expired request", Expired, []State{Pending}, Rejected, false},
		{"cancel a running backup", Submitted, []State{Pending, Approved}, Cancelled, false},
		{"submit a rejected request", Rejected, []State{Approved}, Submitting, false},
		{"nothing to move from", Pending, []State{}, Approved, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := su.open(t, newClock())
			r := request("r1", 3, 12)
			r.State = tt.at
			create(t, s, r)
			got, err := s.Transition(context.Background(), "r1", tt.from, Change{To: tt.to, Actor: "U02BOB"})
			if tt.ok {
				if err != nil || got.State != tt.to {
					t.Fatalf("Transition(%s, %v → %s) = %s, %v; want %s, nil", tt.at, tt.from, tt.to, got.State, err, tt.to)
				}
				sameRequest(t, got, get(t, s, "r1"))
				return
			}
			if err == nil {
				t.Fatalf("Transition(%s, %v → %s) = nil error, want one", tt.at, tt.from, tt.to)
			}
			if len(tt.from) > 0 {
				var conflict *ConflictError
				if !errors.As(err, &conflict) || conflict.State != tt.at || conflict.ID != "r1" || !errors.Is(err, ErrConflict) {
					t.Errorf("Transition(%s, %v → %s) = %v, want *ConflictError{r1, %s}", tt.at, tt.from, tt.to, err, tt.at)
				}
			}
			if st := get(t, s, "r1").State; st != tt.at {
				t.Errorf("after a refused transition the request is %s, want %s", st, tt.at)
			}
			if log, _ := s.Transitions(context.Background(), "r1"); len(log) != 0 {
				t.Errorf("a refused transition was recorded: %+v", log)
			}
		})
	}

	t.Run("unknown target state", func(t *testing.T) {
		s, _ := su.open(t, newClock())
		create(t, s, request("r1", 3, 12))
		if _, err := s.Transition(context.Background(), "r1", []State{Pending}, Change{To: "bogus"}); err == nil {
			t.Errorf("Transition to %q = nil error, want one", "bogus")
		}
	})
}

func testTransitionChanges(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	r := request("r1", 3, 12)
	r.DecidedBy, r.DecidedAt, r.TaskID, r.JobIDs, r.Problem = "", time.Time{}, 0, nil, ""
	create(t, s, r)

	// Approved: the decider is recorded, nothing else changes.
	at := t0.Add(5 * time.Minute).In(cet)
	got, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U02BOB", At: at, Decided: true, Detail: "prod.approvers"})
	if err != nil {
		t.Fatalf("Transition(approve): %v", err)
	}
	want := r
	want.State, want.DecidedBy, want.DecidedAt, want.Updated = Approved, "U02BOB", at, at
	sameRequest(t, got, want)

	// Submitting, at the clock's time (At zero), not a decision.
	c.advance(10 * time.Minute)
	got, err = s.Transition(ctx, "r1", []State{Approved}, Change{To: Submitting, Actor: "backupbot"})
	if err != nil {
		t.Fatalf("Transition(submitting): %v", err)
	}
	want.State, want.Updated = Submitting, c.now()
	sameRequest(t, got, want)

	// Submitted with Commvault's answer.
	got, err = s.Transition(ctx, "r1", []State{Submitting}, Change{To: Submitted, Actor: "backupbot", TaskID: 77, JobIDs: []string{"5001", "5002"}})
	if err != nil {
		t.Fatalf("Transition(submitted): %v", err)
	}
	want.State, want.TaskID, want.JobIDs = Submitted, 77, []string{"5001", "5002"}
	sameRequest(t, got, want)

	// Finished with a problem; the task and jobs stay.
	got, err = s.Transition(ctx, "r1", []State{Submitted}, Change{To: Finished, Actor: "backupbot", Problem: "job 5002 failed"})
	if err != nil {
		t.Fatalf("Transition(finished): %v", err)
	}
	want.State, want.Problem = Finished, "job 5002 failed"
	sameRequest(t, got, want)
	sameRequest(t, get(t, s, "r1"), want)
}

func testTransitionsLog(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	create(t, s, request("other", 3, 13))
	if log, err := s.Transitions(ctx, "r1"); err != nil || len(log) != 0 {
		t.Errorf("Transitions of a new request = %+v, %v; want none", log, err)
	}
	steps := []Transition{
		{RequestID: "r1", From: Pending, To: Approved, Actor: "U02BOB", At: t0.Add(time.Minute), Detail: "prod.approvers"},
		{RequestID: "r1", From: Approved, To: Submitting, Actor: "backupbot", At: t0.Add(time.Minute)},
		{RequestID: "r1", From: Submitting, To: Submitted, Actor: "backupbot", At: t0.Add(2 * time.Minute), Detail: "task 77"},
		{RequestID: "r1", From: Submitted, To: Finished, Actor: "backupbot", At: t0.Add(time.Hour).In(cet)},
	}
	for _, st := range steps {
		if _, err := s.Transition(ctx, "r1", []State{st.From}, Change{To: st.To, Actor: st.Actor, At: st.At, Detail: st.Detail}); err != nil {
			t.Fatalf("Transition(%s → %s): %v", st.From, st.To, err)
		}
		// A second, late attempt is refused and not recorded.
		if _, err := s.Transition(ctx, "r1", []State{st.From}, Change{To: st.To}); !errors.Is(err, ErrConflict) {
			t.Fatalf("repeated Transition(%s → %s) = %v, want ErrConflict", st.From, st.To, err)
		}
	}
	move(t, s, "other", Cancelled)

	got, err := s.Transitions(ctx, "r1")
	if err != nil {
		t.Fatalf("Transitions: %v", err)
	}
	if len(got) != len(steps) {
		t.Fatalf("Transitions = %+v, want %+v", got, steps)
	}
	for i := range steps {
		if !got[i].At.Equal(steps[i].At) {
			t.Errorf("transition %d at %v, want %v", i, got[i].At, steps[i].At)
		}
		g, w := got[i], steps[i]
		g.At, w.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("transition %d = %+v, want %+v", i, g, w)
		}
	}
}

func testConcurrentTransitions(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U" + itoa(i), Decided: true})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		var conflict *ConflictError
		switch {
		case err == nil && won >= 0:
			t.Errorf("callers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.As(err, &conflict) || conflict.State != Approved:
			t.Errorf("caller %d: %v, want *ConflictError{State: approved}", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no caller won")
	}
	if got := get(t, s, "r1"); got.DecidedBy != "U"+itoa(won) {
		t.Errorf("DecidedBy = %q, want the winner %q", got.DecidedBy, "U"+itoa(won))
	}
	if log, err := s.Transitions(ctx, "r1"); err != nil || len(log) != 1 {
		t.Errorf("Transitions = %+v, %v; want exactly one", log, err)
	}
}

// testConcurrentChain has callers move one request back and forth
// between two states at once, each from either of them: every call moves
// it, and the log records each transition from the state the one before
// left it in, a chain with no gap, however the calls interleave.
func testConcurrentChain(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	r := request("r1", 3, 12)
	r.State = Submitted
	create(t, s, r)
	const callers, calls = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for i := range callers {
		to := Unknown
		if i%2 == 1 {
			to = Submitted
		}
		wg.Go(func() {
			for range calls {
				got, err := s.Transition(ctx, "r1", []State{Submitted, Unknown}, Change{To: to, Actor: "U" + itoa(i), Tell: []byte(`"moved"`)})
				if err == nil && (got.State != to || got.Notice == 0) {
					err = fmt.Errorf("Transition returned state %s, notice %d; want %s and a notice", got.State, got.Notice, to)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Transition: %v", err)
	}
	log, err := s.Transitions(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != callers*calls {
		t.Fatalf("%d transitions recorded, want %d", len(log), callers*calls)
	}
	prev := Submitted
	for i, tr := range log {
		if tr.From != prev {
			t.Fatalf("transition %d is from %s, but the one before left the request %s", i, tr.From, prev)
		}
		prev = tr.To
	}
	if got := get(t, s, "r1").State; got != prev {
		t.Errorf("the request is %s, but its last transition left it %s", got, prev)
	}
	if untold, err := s.Untold(ctx, "r1"); err != nil || len(untold) != callers*calls {
		t.Errorf("Untold = %d notices, %v; want %d", len(untold), err, callers*calls)
	}
}

// testReplicas runs two stores on one database, as two replicas (or a
// replica and `backupbot console`) do: still exactly one winner.
func testReplicas(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	a, url := su.open(t, c)
	b := reopen(t, url, c)
	create(t, a, request("r1", 3, 12))
	const n = 20
	var (
		wg                      sync.WaitGroup
		mu                      sync.Mutex
		won, firstSeen, created int
	)
	for i := range n {
		s := []*DB{a, b}[i%2]
		wg.Go(func() {
			_, trErr := s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U" + itoa(i)})
			seen, seenErr := s.seen(ctx, time.Minute, "envelope-1")
			crErr := s.Create(ctx, request("x"+itoa(i), 4, 12), Event{Action: "request"})
			mu.Lock()
			defer mu.Unlock()
			var conflict *ConflictError
			var busy *BusyError
			switch {
			case trErr == nil:
				won++
			case !errors.As(trErr, &conflict):
				t.Errorf("Transition %d: %v", i, trErr)
			}
			switch {
			case seenErr != nil:
				t.Errorf("Seen %d: %v", i, seenErr)
			case !seen:
				firstSeen++
			}
			switch {
			case crErr == nil:
				created++
			case !errors.As(crErr, &busy):
				t.Errorf("Create %d: %v", i, crErr)
			}
		})
	}
	wg.Wait()
	if won != 1 || firstSeen != 1 || created != 1 {
		t.Errorf("across two stores: %d transitions won, %d first Seen, %d created; want 1 each", won, firstSeen, created)
	}
}

// testConcurrentOpen opens one new database from several goroutines at
// once, as replicas starting together do: the schema is created once.
func testConcurrentOpen(t *testing.T, su suite) {
	url := su.newURL(t)
	const n = 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := Open(context.Background(), url, newClock().now)
			if err == nil {
				err = s.Ping(context.Background())
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	s := reopen(t, url, newClock())
	create(t, s, request("r1", 3, 12))
}
