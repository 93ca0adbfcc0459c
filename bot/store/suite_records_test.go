package store

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// sameEvent reports whether a and b are the same event, times Equal.
func sameEvent(a, b Event) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At, b.At = time.Time{}, time.Time{}
	return a == b
}

func testAudit(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	events := []Event{
		{At: t0, Actor: "U09EVE", Action: "denied", Rule: "prod.requesters", Account: "prod", TableGroup: "orders", Channel: "C01OPS", Detail: "not a requester"},
		{At: t0.Add(time.Minute).In(cet), RequestID: "r1", Actor: "U01ALICE", Action: "breakglass", Account: "prod", TableGroup: "orders", Channel: "C01OPS", Review: true},
		{At: t0.Add(2 * time.Minute), RequestID: "r1", Actor: "backupbot", Action: "submitted", Detail: "task 77"},
		{At: t0.Add(2 * time.Minute), RequestID: "r1", Actor: "backupbot", Action: "job-ended", Detail: "5001 Completed"},
	}
	for _, e := range events {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatalf("Audit(%+v): %v", e, err)
		}
	}
	c.advance(time.Hour)
	if err := s.Audit(ctx, Event{Actor: "U02BOB", Action: "click-refused"}); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	events = append(events, Event{At: c.now(), Actor: "U02BOB", Action: "click-refused"})

	for _, tt := range []struct {
		name  string
		since time.Time
		want  []Event
	}{
		{"everything", time.Time{}, events},
		{"at the first", t0, events},
		{"just after the first", t0.Add(time.Nanosecond), events[1:]},
		{"at two of the same time", t0.Add(2 * time.Minute).In(cet), events[2:]},
		{"at the last", c.now(), events[4:]},
		{"after the last", c.now().Add(time.Nanosecond), nil},
	} {
		got, err := s.AuditSince(ctx, tt.since)
		if err != nil {
			t.Fatalf("AuditSince(%v): %v", tt.since, err)
		}
		ok := len(got) == len(tt.want)
		for i := 0; ok && i < len(got); i++ {
			ok = sameEvent(got[i], tt.want[i])
		}
		if !ok {
			t.Errorf("%s: AuditSince(%v) =\n%+v\nwant\n%+v", tt.name, tt.since, got, tt.want)
		}
	}
}

func testSeen(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	const ttl = 10 * time.Minute
	steps := []struct {
		name    string
		advance time.Duration
		keys    []string
		want    bool
	}{
		{"a new key", 0, []string{"env-1"}, false},
		{"the same key", 0, []string{"env-1"}, true},
		{"one of them seen", time.Minute, []string{"env-2", "env-1"}, true},
		{"the new one was recorded too", 0, []string{"env-2"}, true},
		{"the same key twice in one call", 0, []string{"env-3", "env-3"}, false},
		{"no keys", 0, nil, false},
		// env-1 was renewed at t0+1m: it expires at t0+11m.
		{"renewed key at its expiry", 10 * time.Minute, []string{"env-1"}, true},
		{"renewed key after expiry", ttl + time.Nanosecond, []string{"env-1"}, false},
		{"expired long ago, purged", 2 * time.Hour, []string{"env-2"}, false},
		{"recorded again after it expired", 0, []string{"env-2"}, true},
	}
	for _, st := range steps {
		c.advance(st.advance)
		got, err := s.seen(ctx, ttl, st.keys...)
		if err != nil {
			t.Fatalf("%s: Seen(%v): %v", st.name, st.keys, err)
		}
		if got != st.want {
			t.Errorf("%s: Seen(%v) at %v = %v, want %v", st.name, st.keys, c.now().Sub(t0), got, st.want)
		}
	}
	if _, err := s.seen(ctx, 0, "env-9"); err == nil {
		t.Errorf("Seen with ttl 0 = nil error, want one")
	}
}

func testConcurrentSeen(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	const n = 20
	seen := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			seen[i], errs[i] = s.seen(context.Background(), time.Minute, "envelope-1", "trigger-"+itoa(i))
		})
	}
	wg.Wait()
	first := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Seen %d: %v", i, errs[i])
		}
		if !seen[i] {
			first++
		}
	}
	if first != 1 {
		t.Errorf("%d of %d concurrent Seen calls with one key got false, want 1", first, n)
	}
}

// testSeenEitherOrder gives concurrent Seen calls the same keys in
// opposite orders: none waits on another forever (on PostgreSQL, none is
// a deadlock's victim), and exactly one gets false.
func testSeenEitherOrder(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	const n = 20
	seen := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		keys := []string{"envelope-1", "trigger-1", "retry-1"}
		if i%2 == 1 {
			slices.Reverse(keys)
		}
		wg.Go(func() {
			seen[i], errs[i] = s.seen(context.Background(), time.Minute, keys...)
		})
	}
	wg.Wait()
	first := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Seen %d: %v", i, errs[i])
		}
		if !seen[i] {
			first++
		}
	}
	if first != 1 {
		t.Errorf("%d of %d concurrent Seen calls with the same keys got false, want 1", first, n)
	}
}

func testJobEnded(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	create(t, s, request("r2", 3, 13))
	if got, err := s.EndedJobs(ctx, "r1"); err != nil || len(got) != 0 {
		t.Errorf("EndedJobs before any ended = %v, %v; want none", got, err)
	}
	for _, tt := range []struct {
		request, job, status string
		first                bool
	}{
		{"r1", "1001", "Completed", true},
		{"r1", "1001", "Completed", false},
		{"r1", "1001", "Failed", false}, // the first end stands
		{"r1", "1002", "Killed", true},
		{"r2", "1001", "Failed", true}, // per request
	} {
		first, _, err := s.JobEnded(ctx, tt.request, tt.job, tt.status, t0, nil, nil)
		if err != nil || first != tt.first {
			t.Errorf("JobEnded(%s, %s, %s) = %v, %v; want %v, nil", tt.request, tt.job, tt.status, first, err, tt.first)
		}
	}
	got, err := s.EndedJobs(ctx, "r1")
	if want := map[string]string{"1001": "Completed", "1002": "Killed"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("EndedJobs(r1) = %v, %v; want %v", got, err, want)
	}
}

func testConcurrentJobEnded(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	const n = 20
	first := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			first[i], _, errs[i] = s.JobEnded(context.Background(), "r1", "1001", "Completed", time.Time{}, nil, nil)
		})
	}
	wg.Wait()
	firsts := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("JobEnded %d: %v", i, errs[i])
		}
		if first[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Errorf("%d of %d concurrent JobEnded calls were first, want 1", firsts, n)
	}
}

// testReopen closes the store and opens it again, as a restart does:
// nothing is lost.
func testReopen(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	want := request("r1", 3, 12)
	create(t, s, want)
	create(t, s, request("r2", 3, 13))
	if _, _, err := s.SetParentTS(ctx, "r2", "1700000000.000300"); err != nil {
		t.Fatal(err)
	}
	submitted := move(t, s, "r2", Approved)
	if _, err := s.seen(ctx, time.Hour, "env-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.JobEnded(ctx, "r2", "1001", "Completed", t0, nil, nil); err != nil {
		t.Fatal(err)
	}
	events, err := s.AuditSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen(t, url, c)
	sameRequest(t, get(t, s, "r1"), want)
	sameRequest(t, get(t, s, "r2"), submitted)
	if log, err := s.Transitions(ctx, "r2"); err != nil || len(log) != 1 || log[0].To != Approved {
		t.Errorf("Transitions(r2) after reopening = %+v, %v; want pending → approved", log, err)
	}
	if got, err := s.AuditSince(ctx, time.Time{}); err != nil || len(got) != len(events) {
		t.Errorf("AuditSince after reopening = %d events, %v; want %d", len(got), err, len(events))
	}
	if seen, err := s.seen(ctx, time.Hour, "env-1"); err != nil || !seen {
		t.Errorf("Seen(env-1) after reopening = %v, %v; want true", seen, err)
	}
	if first, _, err := s.JobEnded(ctx, "r2", "1001", "Completed", t0, nil, nil); err != nil || first {
		t.Errorf("JobEnded after reopening = %v, %v; want false", first, err)
	}
	// The table group lock outlives the restart too.
	if err := s.Create(ctx, request("r3", 3, 12), Event{}); err == nil {
		t.Errorf("Create beside r1 after reopening = nil, want *BusyError")
	}
}
