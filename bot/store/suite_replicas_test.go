package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lease calls s.Lease and fails the test on an error.
func lease(t *testing.T, s *DB, name, owner string, ttl time.Duration) bool {
	t.Helper()
	held, err := s.Lease(context.Background(), name, owner, ttl)
	if err != nil {
		t.Fatalf("Lease(%s, %s): %v", name, owner, err)
	}
	return held
}

func testLease(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	const ttl = 30 * time.Second
	steps := []struct {
		name    string
		advance time.Duration
		owner   string
		want    bool
	}{
		{"taken when nobody holds it", 0, "a", true},
		{"renewed by the holder", 20 * time.Second, "a", true},
		{"refused to another while valid", 0, "b", false},
		// a renewed it at t0+20s: it holds it until t0+50s.
		{"refused to another at its expiry", ttl, "b", false},
		{"taken over once expired", time.Nanosecond, "b", true},
		{"refused to the old holder", 0, "a", false},
		{"renewed by the new holder", ttl, "b", true},
	}
	for _, st := range steps {
		c.advance(st.advance)
		if got := lease(t, s, "sweeper", st.owner, ttl); got != st.want {
			t.Errorf("%s: Lease(sweeper, %s) at %v = %v, want %v", st.name, st.owner, c.now().Sub(t0), got, st.want)
		}
	}
	if !lease(t, s, "other", "a", ttl) {
		t.Errorf("Lease(other, a) = false: leases are independent of each other")
	}

	// Releasing a lease another holds does nothing; the holder's release
	// lets another take it at once.
	if err := s.ReleaseLease(ctx, "sweeper", "a"); err != nil {
		t.Fatalf("ReleaseLease(sweeper, a): %v", err)
	}
	if lease(t, s, "sweeper", "a", ttl) {
		t.Errorf("Lease(sweeper, a) after a's release of b's lease = true, want false")
	}
	if err := s.ReleaseLease(ctx, "sweeper", "b"); err != nil {
		t.Fatalf("ReleaseLease(sweeper, b): %v", err)
	}
	if !lease(t, s, "sweeper", "a", ttl) {
		t.Errorf("Lease(sweeper, a) right after b released it = false, want true")
	}
	if err := s.ReleaseLease(ctx, "nobody's", "a"); err != nil {
		t.Errorf("ReleaseLease of a lease nobody holds = %v, want nil", err)
	}

	for _, bad := range []struct {
		name, owner string
		ttl         time.Duration
	}{{"sweeper", "a", 0}, {"sweeper", "a", -time.Second}, {"", "a", ttl}, {"sweeper", "", ttl}} {
		if _, err := s.Lease(ctx, bad.name, bad.owner, bad.ttl); err == nil {
			t.Errorf("Lease(%q, %q, %v) = nil error, want one", bad.name, bad.owner, bad.ttl)
		}
	}
}

func testConcurrentLease(t *testing.T, su suite) {
	c := newClock()
	s, url := su.open(t, c)
	replicas := []*DB{s, reopen(t, url, c)} // the callers use either
	const n = 20
	for round, name := range []string{"new", "expired"} {
		if round == 1 {
			if !lease(t, s, name, "old", time.Minute) {
				t.Fatalf("Lease(%s, old) = false", name)
			}
			c.advance(time.Minute + time.Nanosecond)
		}
		held := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				held[i], errs[i] = replicas[i%2].Lease(context.Background(), name, "owner-"+itoa(i), time.Minute)
			})
		}
		wg.Wait()
		var holders []string
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Lease %d: %v", i, errs[i])
			}
			if held[i] {
				holders = append(holders, "owner-"+itoa(i))
			}
		}
		if len(holders) != 1 {
			t.Fatalf("%s lease: %d of %d concurrent owners hold it (%v), want 1", name, len(holders), n, holders)
		}
		if !lease(t, s, name, holders[0], time.Minute) || lease(t, s, name, "old", time.Minute) {
			t.Errorf("%s lease: the winner %s cannot renew it, or another can take it", name, holders[0])
		}
	}
}

func testDuplicate(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	for _, r := range []Request{
		request("r1", 3, 12), // its own table group, held by itself
		request("r1", 3, 13), // a free table group
	} {
		err := s.Create(ctx, r, Event{})
		if !errors.Is(err, ErrDuplicate) || errors.Is(err, ErrBusy) {
			t.Errorf("Create(r1, table group %d/%d) again = %v, want ErrDuplicate", r.ClientID, r.SubclientID, err)
		}
	}
	if log, _ := s.AuditSince(ctx, time.Time{}); len(log) != 1 {
		t.Errorf("AuditSince after refused duplicates = %d events, want 1", len(log))
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", ErrDuplicate), ErrDuplicate) {
		t.Errorf("a wrapped ErrDuplicate is not ErrDuplicate")
	}
}

// item is an inbox item received at t0+received.
func item(id string, received time.Duration) InboxItem {
	return InboxItem{
		ID:       id,
		Kind:     "command",
		Payload:  []byte(`{"command": "/backup", "text": "prod orders ` + id + `"}`),
		Received: t0.Add(received).In(cet),
	}
}

func put(t *testing.T, s *DB, it InboxItem) {
	t.Helper()
	added, err := s.putInbox(context.Background(), it)
	if err != nil || !added {
		t.Fatalf("PutInbox(%s) = %v, %v; want true, nil", it.ID, added, err)
	}
}

// claim calls s.ClaimInbox and fails the test on an error.
func claim(t *testing.T, s *DB, id, owner string, lease time.Duration) (InboxItem, bool) {
	t.Helper()
	it, ok, err := s.ClaimInbox(context.Background(), id, owner, lease)
	if err != nil {
		t.Fatalf("ClaimInbox(%s, %s): %v", id, owner, err)
	}
	return it, ok
}

// sameItem fails the test unless got is want, claimed attempts times.
func sameItem(t *testing.T, got, want InboxItem, attempts int) {
	t.Helper()
	want.Attempts = attempts
	if got.ID != want.ID || got.Kind != want.Kind || !bytes.Equal(got.Payload, want.Payload) ||
		!got.Received.Equal(want.Received) || got.Attempts != want.Attempts {
		t.Errorf("inbox item:\n got %+v\nwant %+v", got, want)
	}
}

func done(t *testing.T, s *DB, id string) {
	t.Helper()
	if err := s.InboxDone(context.Background(), id, Served); err != nil {
		t.Fatalf("InboxDone(%s): %v", id, err)
	}
}

func testInbox(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	const lease = time.Minute
	want := item("env-1", 0)
	put(t, s, want)
	dup := item("env-1", time.Hour)
	dup.Kind, dup.Payload = "click", []byte(`{}`)
	if added, err := s.putInbox(ctx, dup); err != nil || added {
		t.Errorf("PutInbox of an existing ID = %v, %v; want false, nil", added, err)
	}

	got, ok := claim(t, s, "env-1", "a", lease)
	if !ok {
		t.Fatalf("ClaimInbox(env-1, a) = false, want true")
	}
	sameItem(t, got, want, 1) // as first put
	if _, ok := claim(t, s, "env-1", "b", lease); ok {
		t.Errorf("ClaimInbox(env-1, b) while a's claim is valid = true, want false")
	}
	c.advance(lease)
	if _, ok := claim(t, s, "env-1", "b", lease); ok {
		t.Errorf("ClaimInbox(env-1, b) at the expiry of a's claim = true, want false")
	}
	c.advance(time.Nanosecond)
	if got, ok := claim(t, s, "env-1", "b", lease); !ok {
		t.Errorf("ClaimInbox(env-1, b) once a's claim expired = false, want true")
	} else {
		sameItem(t, got, want, 2)
	}
	if _, ok := claim(t, s, "env-1", "a", lease); ok {
		t.Errorf("ClaimInbox(env-1, a) while b's claim is valid = true, want false")
	}
	if got, ok := claim(t, s, "env-1", "b", lease); !ok || got.Attempts != 2 {
		t.Errorf("ClaimInbox(env-1, b) by the holder = %+v, %v; want it claimed again, not counted (2 attempts)", got, ok)
	}

	done(t, s, "env-1")
	done(t, s, "env-1") // again: nothing changes
	c.advance(time.Hour)
	if _, ok := claim(t, s, "env-1", "a", lease); ok {
		t.Errorf("ClaimInbox of a done item = true, want false")
	}
	if _, ok := claim(t, s, "nope", "a", lease); ok {
		t.Errorf("ClaimInbox of an unknown item = true, want false")
	}
	if added, err := s.putInbox(ctx, want); err != nil || added {
		t.Errorf("PutInbox of a done item = %v, %v; want false, nil", added, err)
	}
	if err := s.InboxDone(ctx, "nope", Served); !errors.Is(err, ErrNotFound) {
		t.Errorf("InboxDone(nope) = %v, want ErrNotFound", err)
	}

	// A zero Received is now; Attempts is the store's; no payload is none.
	c.advance(time.Minute)
	put(t, s, InboxItem{ID: "env-2", Kind: "click", Attempts: 7})
	if got, ok := claim(t, s, "env-2", "a", lease); !ok {
		t.Errorf("ClaimInbox(env-2, a) = false, want true")
	} else {
		sameItem(t, got, InboxItem{ID: "env-2", Kind: "click", Received: c.now()}, 1)
	}
	if _, err := s.putInbox(ctx, InboxItem{Kind: "click"}); err == nil {
		t.Errorf("PutInbox without an ID = nil error, want one")
	}
	if _, _, err := s.ClaimInbox(ctx, "env-2", "a", 0); err == nil {
		t.Errorf("ClaimInbox with lease 0 = nil error, want one")
	}
}

// ids are the items' IDs.
func ids(items []InboxItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func testClaimStale(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	const lease = time.Minute
	// Received in this order, but put in another: ClaimStale orders them.
	for _, it := range []InboxItem{
		item("e-done", 1*time.Second),
		item("d-claimed", 2*time.Second),
		item("b-expired", 3*time.Second),
		item("c-tried", 4*time.Second),
		item("a-first", 0),
		item("f-second", 5*time.Second),
		item("g-tie", 5*time.Second), // the same time as f-second: by ID
		item("h-third", 6*time.Second),
		item("i-recent", 10*time.Second),
	} {
		put(t, s, it)
	}
	c.advance(20 * time.Second)
	done(t, s, "e-done")
	claim(t, s, "d-claimed", "x", lease)
	claim(t, s, "b-expired", "x", time.Second)
	claim(t, s, "c-tried", "x", time.Second)
	claim(t, s, "c-tried", "x", time.Second) // x claiming again does not count
	c.advance(2 * time.Second)
	claim(t, s, "c-tried", "y", time.Second) // claimed by two holders: at the limit of 2 below
	c.advance(2 * time.Second)               // b-expired's and c-tried's claims expire

	staleAfter := c.now().Sub(t0.Add(10 * time.Second)) // i-recent is not older
	got, err := s.ClaimStale(ctx, "a", staleAfter, lease, 2, 3)
	if want := []string{"a-first", "b-expired", "f-second"}; err != nil || !slices.Equal(ids(got), want) {
		t.Fatalf("ClaimStale(limit 3) = %v, %v; want %v", ids(got), err, want)
	}
	sameItem(t, got[0], item("a-first", 0), 1)
	sameItem(t, got[1], item("b-expired", 3*time.Second), 2)
	got, err = s.ClaimStale(ctx, "b", staleAfter, lease, 2, 10)
	if want := []string{"g-tie", "h-third"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("ClaimStale again = %v, %v; want the rest, %v", ids(got), err, want)
	}
	for _, id := range []string{"a-first", "g-tie"} {
		if _, ok := claim(t, s, id, "x", lease); ok {
			t.Errorf("ClaimInbox(%s, x) after ClaimStale claimed it = true, want false", id)
		}
	}
	got, err = s.ClaimStale(ctx, "b", staleAfter, lease, 2, 10)
	if err != nil || len(got) != 0 {
		t.Errorf("ClaimStale with nothing stale = %v, %v; want none", ids(got), err)
	}

	// The claims expire: claimed once, each can be claimed again, but
	// b-expired (twice) and c-tried (twice) have had their attempts.
	c.advance(lease + time.Nanosecond)
	got, err = s.ClaimStale(ctx, "b", 0, lease, 2, 10)
	if want := []string{"a-first", "d-claimed", "f-second", "g-tie", "h-third", "i-recent"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("ClaimStale after the claims expired = %v, %v; want %v", ids(got), err, want)
	}
	got, err = s.ClaimStale(ctx, "b", 0, 2*lease, 3, 1)
	if want := []string{"b-expired"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("ClaimStale with 3 attempts, limit 1 = %v, %v; want %v", ids(got), err, want)
	}
	for _, tt := range []struct {
		name               string
		olderThan          time.Time
		maxAttempts, limit int
	}{
		{"limit 0", t0.Add(time.Hour), 10, 0},
		{"max attempts 0", t0.Add(time.Hour), 0, 10},
		{"older than a century", t0.AddDate(-100, 0, 0), 10, 10},
		{"older than the first", t0, 10, 10},
	} {
		c.advance(10 * lease) // every claim expired
		if got, err := s.ClaimStale(ctx, "c", c.now().Sub(tt.olderThan), lease, tt.maxAttempts, tt.limit); err != nil || len(got) != 0 {
			t.Errorf("ClaimStale, %s = %v, %v; want none", tt.name, ids(got), err)
		}
	}
	if _, err := s.ClaimStale(ctx, "c", 0, 0, 10, 10); err == nil {
		t.Errorf("ClaimStale with lease 0 = nil error, want one")
	}
}

// testConcurrentClaimStale has callers on two replicas claim stale items at
// once, each until none is left: each item is claimed exactly once.
func testConcurrentClaimStale(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	replicas := []*DB{s, reopen(t, url, c)} // the callers use either
	const items, callers = 50, 10
	for i := range items {
		put(t, s, item("env-"+itoa(i), time.Duration(i%7)*time.Second))
	}
	c.advance(time.Minute)
	claimed := make([][]InboxItem, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for {
				got, err := replicas[i%2].ClaimStale(ctx, "replica-"+itoa(i), 0, time.Hour, 5, 3)
				if err != nil || len(got) == 0 {
					errs[i] = err
					return
				}
				claimed[i] = append(claimed[i], got...)
			}
		})
	}
	wg.Wait()
	count := make(map[string]int)
	for i := range callers {
		if errs[i] != nil {
			t.Errorf("ClaimStale by caller %d: %v", i, errs[i])
		}
		for _, it := range claimed[i] {
			count[it.ID]++
			if it.Attempts != 1 {
				t.Errorf("item %s claimed by caller %d has Attempts %d, want 1", it.ID, i, it.Attempts)
			}
		}
	}
	if len(count) != items {
		t.Errorf("%d of %d items claimed", len(count), items)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("item %s claimed %d times, want once", id, n)
		}
	}
}

func testInboxPurge(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	put(t, s, item("old", 0))
	put(t, s, item("recent", 0))
	put(t, s, item("open", 0))
	done(t, s, "old")
	c.advance(23 * time.Hour)
	done(t, s, "recent")
	c.advance(time.Hour + time.Nanosecond) // old was done a day ago, recent an hour ago

	// The purge runs before the item is recorded: old is gone, and new again.
	for _, tt := range []struct {
		id    string
		added bool
	}{{"old", true}, {"recent", false}, {"open", false}} {
		if added, err := s.putInbox(ctx, item(tt.id, 0)); err != nil || added != tt.added {
			t.Errorf("PutInbox(%s) a day later = %v, %v; want %v", tt.id, added, err, tt.added)
		}
	}
	// ClaimStale purges too.
	c.advance(inboxKeep)
	if _, err := s.ClaimStale(ctx, "a", c.now().Sub(t0), time.Minute, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.InboxDone(ctx, "recent", Served); !errors.Is(err, ErrNotFound) {
		t.Errorf("InboxDone(recent) after ClaimStale purged it = %v, want ErrNotFound", err)
	}
	if err := s.InboxDone(ctx, "open", Served); err != nil { // never done: kept
		t.Errorf("InboxDone(open) = %v, want nil", err)
	}
}

// testReplicasReopen closes the store and opens it again: leases and the
// inbox are as they were.
func testReplicasReopen(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, url := su.open(t, c)
	put(t, s, item("claimed", 0))
	put(t, s, item("finished", 0))
	put(t, s, item("waiting", 0))
	claim(t, s, "claimed", "a", time.Hour)
	done(t, s, "finished")
	lease(t, s, "sweeper", "a", time.Hour)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen(t, url, c)
	for _, id := range []string{"claimed", "finished", "waiting"} {
		if added, err := s.putInbox(ctx, item(id, 0)); err != nil || added {
			t.Errorf("PutInbox(%s) after reopening = %v, %v; want false", id, added, err)
		}
	}
	if _, ok := claim(t, s, "claimed", "b", time.Hour); ok {
		t.Errorf("ClaimInbox(claimed, b) after reopening = true: a's claim was lost")
	}
	if _, ok := claim(t, s, "finished", "b", time.Hour); ok {
		t.Errorf("ClaimInbox(finished, b) after reopening = true: it was done")
	}
	if got, ok := claim(t, s, "waiting", "b", time.Hour); !ok {
		t.Errorf("ClaimInbox(waiting, b) after reopening = false, want true")
	} else {
		sameItem(t, got, item("waiting", 0), 1)
	}
	if lease(t, s, "sweeper", "b", time.Hour) {
		t.Errorf("Lease(sweeper, b) after reopening = true: a's lease was lost")
	}
}

// Take records the keys and the item together, or neither item when a key
// was seen; concurrent takes of one envelope admit it once.
func testTake(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	first := item("env-t1", 0)
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:env-t1", "trigger:tr-1"}, first, "", 0); err != nil || seen {
		t.Fatalf("first Take = %v, %v; want false, nil", seen, err)
	}
	got, ok := claim(t, s, "env-t1", "a", time.Minute)
	if !ok {
		t.Fatal("the taken item cannot be claimed")
	}
	sameItem(t, got, first, 1)

	// Slack's retry: a new envelope, the same trigger. Seen; no item.
	retry := item("env-t2", time.Second)
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:env-t2", "trigger:tr-1"}, retry, "", 0); err != nil || !seen {
		t.Fatalf("retry Take = %v, %v; want true, nil", seen, err)
	}
	if _, ok, err := s.ClaimInbox(ctx, "env-t2", "a", time.Minute); ok || err != nil {
		t.Errorf("a seen envelope was put in the inbox (claim ok %v, err %v)", ok, err)
	}

	// The holder renews its claim without counting an attempt; another cannot.
	if ok, err := s.RenewInbox(ctx, "env-t1", "a", time.Hour); err != nil || !ok {
		t.Fatalf("RenewInbox by the holder = %v, %v", ok, err)
	}
	if ok, err := s.RenewInbox(ctx, "env-t1", "b", time.Hour); err != nil || ok {
		t.Errorf("RenewInbox by another = %v, %v; want false", ok, err)
	}
	c.advance(30 * time.Minute)
	if _, ok, _ := s.ClaimInbox(ctx, "env-t1", "b", time.Minute); ok {
		t.Error("another claimed an item whose claim was renewed")
	}
	if got, ok, _ := s.ClaimInbox(ctx, "env-t1", "a", time.Minute); !ok || got.Attempts != 1 {
		t.Errorf("the holder's claim: ok %v, attempts %d; want true, 1 (neither renewals nor the holder's claims count)", ok, got.Attempts)
	}

	n := admittedOf(t, 10, func(int) (bool, error) {
		return s.Take(ctx, time.Minute, []string{"envelope:env-t3"}, item("env-t3", 0), "", 0)
	})
	if n != 1 {
		t.Errorf("10 concurrent takes of one envelope admitted %d, want 1", n)
	}
}

// admittedOf runs take(i) for i in [0, n) concurrently and returns how
// many were admitted (not seen).
func admittedOf(t *testing.T, n int, take func(i int) (seen bool, err error)) int {
	t.Helper()
	var wg sync.WaitGroup
	var admitted atomic.Int32
	for i := range n {
		wg.Go(func() {
			seen, err := take(i)
			if err != nil {
				t.Errorf("Take: %v", err)
			}
			if !seen {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	return int(admitted.Load())
}

// An item whose id is in the inbox already is seen, whatever its keys (the
// id is the envelope's own key, kept as long as the item): one waiting,
// one done, one refused before it was recorded; a Take with no keys at all;
// and concurrent Takes of one id, each with keys of its own, admit it once.
// The item in the inbox is left as it was.
func testTakeItemSeen(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	for _, id := range []string{"env-waiting", "env-done"} {
		if seen, err := s.Take(ctx, time.Minute, []string{"trigger:" + id}, item(id, 0), "", 0); err != nil || seen {
			t.Fatalf("first Take of %s = %v, %v; want false, nil", id, seen, err)
		}
	}
	done(t, s, "env-done")
	if err := s.Refuse(ctx, "env-refused"); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour) // every key has expired
	for _, id := range []string{"env-waiting", "env-done", "env-refused"} {
		again := item(id, time.Hour)
		again.Payload = []byte(`{"text": "another payload"}`)
		if seen, err := s.Take(ctx, time.Minute, []string{"trigger:again-" + id}, again, "b", time.Minute); err != nil || !seen {
			t.Errorf("Take of %s, in the inbox already, with a new key = %v, %v; want seen", id, seen, err)
		}
	}
	if got, ok := claim(t, s, "env-waiting", "a", time.Minute); !ok {
		t.Error("the waiting item cannot be claimed: the seen Take claimed it")
	} else {
		sameItem(t, got, item("env-waiting", 0), 1)
	}
	for _, id := range []string{"env-done", "env-refused"} {
		if _, ok := claim(t, s, id, "a", time.Minute); ok {
			t.Errorf("%s, done, could be claimed after a seen Take", id)
		}
	}
	if seen, err := s.Take(ctx, time.Minute, nil, item("env-keyless", 0), "", 0); err != nil || seen {
		t.Errorf("first Take without keys = %v, %v; want false, nil", seen, err)
	}
	if seen, err := s.Take(ctx, time.Minute, nil, item("env-keyless", 0), "", 0); err != nil || !seen {
		t.Errorf("second Take without keys = %v, %v; want seen", seen, err)
	}

	n := admittedOf(t, 20, func(i int) (bool, error) {
		return s.Take(ctx, time.Minute, []string{fmt.Sprintf("trigger:same-%d", i)}, item("env-same", 0), "a", time.Minute)
	})
	if n != 1 {
		t.Errorf("20 concurrent takes of one item id, each with its own key, admitted %d, want 1", n)
	}

	// Of two Takes of one id, one with a key seen before and one with a
	// new key, the second is admitted: the id is not in the inbox, and a
	// seen Take records nothing (in one batch, as apart).
	if seen, err := s.Take(ctx, time.Hour, []string{"trigger:known"}, item("env-known", 0), "", 0); err != nil || seen {
		t.Fatalf("Take of env-known = %v, %v", seen, err)
	}
	const pairs = 20
	seen := make([]bool, 2*pairs)
	var wg sync.WaitGroup
	for i := range 2 * pairs {
		key := "trigger:known"
		if i%2 == 1 {
			key = fmt.Sprintf("trigger:fresh-%d", i)
		}
		wg.Go(func() {
			var err error
			if seen[i], err = s.Take(ctx, time.Hour, []string{key}, item(fmt.Sprintf("env-pair-%d", i/2), 0), "", 0); err != nil {
				t.Errorf("Take: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range pairs {
		if !seen[2*i] || seen[2*i+1] {
			t.Errorf("pair %d: seen %v (known key), %v (fresh key); want true, false", i, seen[2*i], seen[2*i+1])
		}
		if _, ok := claim(t, s, fmt.Sprintf("env-pair-%d", i), "a", time.Minute); !ok {
			t.Errorf("env-pair-%d, admitted, is not in the inbox", i)
		}
	}
}

// Takes committed together (as many as wait, in a few statements) do what
// they would one after another: of the Takes sharing a key one is
// admitted, an expired key is recorded anew, an unexpired one is seen and
// renewed, and each admitted item is claimed as its Take asked.
func testTakeTogether(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	for _, k := range []string{"old", "live"} {
		if seen, err := s.Take(ctx, time.Minute, []string{"envelope:" + k}, item(k, 0), "", 0); err != nil || seen {
			t.Fatalf("Take %s = %v, %v", k, seen, err)
		}
		c.advance(90 * time.Second) // old expires; live is taken 90 s later
	}
	c.advance(-60 * time.Second) // live is 30 s old now, old 120 s
	type take struct {
		keys  []string
		owner string
	}
	var takes []take
	for i := range 10 {
		takes = append(takes, take{keys: []string{fmt.Sprintf("envelope:a%d", i), "trigger:shared"}})
	}
	for range 5 {
		takes = append(takes, take{keys: []string{"envelope:old"}}, take{keys: []string{"envelope:live"}})
	}
	for i := range 10 {
		takes = append(takes, take{keys: []string{fmt.Sprintf("envelope:d%d", i)}, owner: "a"})
	}
	admitted := make([]bool, len(takes))
	var wg sync.WaitGroup
	for i, tk := range takes {
		wg.Go(func() {
			lease := time.Duration(0)
			if tk.owner != "" {
				lease = time.Minute
			}
			seen, err := s.Take(ctx, time.Minute, tk.keys, item(fmt.Sprintf("item%d", i), 0), tk.owner, lease)
			if err != nil {
				t.Errorf("Take %v: %v", tk.keys, err)
			}
			admitted[i] = !seen
		})
	}
	wg.Wait()
	count := map[string]int{}
	for i, tk := range takes {
		if !admitted[i] {
			continue
		}
		switch k := tk.keys[len(tk.keys)-1]; {
		case k == "trigger:shared", k == "envelope:old", k == "envelope:live":
			count[k]++
		default:
			count["own"]++
			if _, ok, err := s.ClaimInbox(ctx, fmt.Sprintf("item%d", i), "b", time.Minute); ok || err != nil {
				t.Errorf("another claimed item%d, taken claimed by a (ok %v, err %v)", i, ok, err)
			}
		}
		if _, ok := claim(t, s, fmt.Sprintf("item%d", i), "a", time.Minute); !ok {
			t.Errorf("admitted item%d (%v) is not in the inbox", i, tk.keys)
		}
	}
	want := map[string]int{"trigger:shared": 1, "envelope:old": 1, "own": 10}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("admitted with %s: %d, want %d", k, count[k], n)
		}
	}
	if count["envelope:live"] != 0 {
		t.Errorf("admitted with an unexpired key: %d, want 0", count["envelope:live"])
	}
	c.advance(45 * time.Second) // past live's first expiry, within its renewal
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:live"}, item("live-again", 0), "", 0); err != nil || !seen {
		t.Errorf("Take of live after its first expiry = %v, %v; want seen (renewed by the batch)", seen, err)
	}
}

// Take deletes the expired keys now and then (purgeEvery), after the
// batch it commits: a key past its expiry is gone soon after a later Take,
// and one not yet expired is kept.
func testTakePurge(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	for _, k := range []string{"old", "live"} {
		ttl := time.Minute
		if k == "live" {
			ttl = time.Hour
		}
		if seen, err := s.Take(ctx, ttl, []string{"envelope:" + k}, item(k, 0), "", 0); err != nil || seen {
			t.Fatalf("Take %s = %v, %v", k, seen, err)
		}
	}
	c.advance(purgeEvery + time.Minute) // old has expired, and a purge is due
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:new"}, item("new", 0), "", 0); err != nil || seen {
		t.Fatalf("Take new = %v, %v", seen, err)
	}
	keys := func() []string {
		rows, err := s.db.QueryContext(ctx, "SELECT key FROM dedup ORDER BY key")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	want := []string{"envelope:live", "envelope:new"}
	deadline := time.Now().Add(10 * time.Second)
	for got := keys(); !slices.Equal(got, want); got = keys() {
		if time.Now().After(deadline) {
			t.Fatalf("keys after the purge = %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
