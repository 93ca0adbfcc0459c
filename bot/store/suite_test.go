package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// testStore is the behaviour every database must have, run against each
// database: newURL returns the BACKUPBOT_DATABASE_URL of a new, empty
// database (opening the same URL again must reach the same data).
func testStore(t *testing.T, newURL func(t *testing.T) string) {
	su := suite{newURL: newURL}
	tests := []struct {
		name string
		run  func(t *testing.T, su suite)
	}{
		{"create and get", testCreateGet},
		{"create defaults", testCreateDefaults},
		{"not found", testNotFound},
		{"busy table group", testBusy},
		{"busy when reactivated", testBusyReactivated},
		{"concurrent creates", testConcurrentCreates},
		{"transition allowed or refused", testTransitionRules},
		{"transition changes", testTransitionChanges},
		{"transitions log", testTransitionsLog},
		{"concurrent transitions", testConcurrentTransitions},
		{"concurrent transitions, a chain", testConcurrentChain},
		{"two replicas", testReplicas},
		{"concurrent open", testConcurrentOpen},
		{"set parent ts", testSetParentTS},
		{"by state", testByState},
		{"audit", testAudit},
		{"audited changes", testAuditedChanges},
		{"seen", testSeen},
		{"concurrent seen", testConcurrentSeen},
		{"seen, keys in either order", testSeenEitherOrder},
		{"job ended", testJobEnded},
		{"concurrent job ended", testConcurrentJobEnded},
		{"reopen", testReopen},
		{"duplicate id", testDuplicate},
		{"lease", testLease},
		{"concurrent lease", testConcurrentLease},
		{"inbox", testInbox},
		{"take", testTake},
		{"takes committed together", testTakeTogether},
		{"take of an item in the inbox is seen", testTakeItemSeen},
		{"take purges expired keys", testTakePurge},
		{"done marks committed together", testDoneTogether},
		{"done marks in batches of every size", testDoneBatchSizes},
		{"claim stale", testClaimStale},
		{"concurrent claim stale", testConcurrentClaimStale},
		{"inbox purge", testInboxPurge},
		{"forget an inbox field", testForgetInboxField},
		{"reopen, leases and inbox", testReplicasReopen},
		{"token chain", testTokenChain},
		{"token chain lock expiry", testTokenLockExpiry},
		{"concurrent token renewal", testConcurrentTokenRenewal},
		{"ping and close", testPingClose},
		{"hold", testHold},
		{"followed", testFollowed},
		{"outbox", testOutbox},
		{"job end told", testJobEndTold},
		{"take claimed by its taker", testTakeClaimed},
		{"take given up is never recorded", testTakeGivenUp},
		{"refuse leaves a tombstone", testRefuse},
		{"claim exhausted", testClaimExhausted},
		{"purge", testPurge},
		{"clock", testClock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, su)
		})
	}
}

type suite struct {
	newURL func(t *testing.T) string
}

// open opens a new, empty store whose clock is c, closed when the test ends.
func (su suite) open(t *testing.T, c *clock) (*DB, string) {
	t.Helper()
	url := su.newURL(t)
	return reopen(t, url, c), url
}

// reopen opens the store at url, closed when the test ends.
func reopen(t *testing.T, url string, c *clock) *DB {
	t.Helper()
	s, err := Open(context.Background(), url, c.now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// t0 has nanoseconds, to show they survive.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)

// cet is another zone than the UTC the store reads back: times must be Equal.
var cet = time.FixedZone("CET", 3600)

// clock is the store's clock, set by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// request is a pending request for table group (client, subclient) with
// every field set.
func request(id string, client, subclient int) Request {
	return Request{
		ID:          id,
		User:        "U01ALICE",
		Channel:     "C01OPS",
		Account:     "prod",
		Client:      "aws-prod-account",
		ClientID:    client,
		TableGroup:  "orders",
		SubclientID: subclient,
		Subclient:   []byte(`{"subclientId": 12, "subclientName": "orders", "_type_": 7}`),
		Level:       "FULL",
		Reason:      "before the schema migration (INC-4711)",
		Emergency:   true,
		Review:      true,
		State:       Pending,
		ParentTS:    "1700000000.000100",
		TaskID:      41,
		JobIDs:      []string{"1001", "1002"},
		Problem:     "none yet",
		DecidedBy:   "U02BOB",
		DecidedAt:   t0.Add(time.Minute).In(cet),
		Expires:     t0.Add(30 * time.Minute).In(cet),
		Created:     t0.In(cet),
		Updated:     t0.Add(time.Second),
	}
}

func create(t *testing.T, s *DB, r Request) {
	t.Helper()
	if err := s.Create(context.Background(), r, Event{Actor: r.User, Action: "request"}); err != nil {
		t.Fatalf("Create(%s): %v", r.ID, err)
	}
}

func get(t *testing.T, s *DB, id string) Request {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

// move transitions request id from its current state to "to".
func move(t *testing.T, s *DB, id string, to State) Request {
	t.Helper()
	cur := get(t, s, id).State
	r, err := s.Transition(context.Background(), id, []State{cur}, Change{To: to, Actor: "backupbot"})
	if err != nil {
		t.Fatalf("Transition(%s, %s → %s): %v", id, cur, to, err)
	}
	return r
}

// sameRequest fails the test unless got and want are the same request:
// times Equal, everything else equal.
func sameRequest(t *testing.T, got, want Request) {
	t.Helper()
	times := func(r Request) []time.Time {
		return []time.Time{r.DecidedAt, r.Expires, r.Created, r.Updated, r.HeldUntil}
	}
	for i, g := range times(got) {
		if w := times(want)[i]; !g.Equal(w) {
			t.Errorf("request %s: time %d (DecidedAt, Expires, Created, Updated, HeldUntil) = %v, want %v", want.ID, i, g, w)
		}
	}
	if !bytes.Equal(got.Subclient, want.Subclient) {
		t.Errorf("request %s: Subclient = %q, want %q", want.ID, got.Subclient, want.Subclient)
	}
	strip := func(r Request) Request {
		r.DecidedAt, r.Expires, r.Created, r.Updated, r.HeldUntil, r.Subclient = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
		return r
	}
	if g, w := strip(got), strip(want); !reflect.DeepEqual(g, w) {
		t.Errorf("request %s:\n got %+v\nwant %+v", want.ID, g, w)
	}
}

func testCreateGet(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	want := request("r1", 3, 12)
	e := Event{At: t0, Actor: "U01ALICE", Action: "request", Rule: "prod.requesters", Account: "prod",
		TableGroup: "orders", Channel: "C01OPS", Detail: "FULL", Review: true}
	if err := s.Create(context.Background(), want, e); err != nil {
		t.Fatalf("Create: %v", err)
	}
	sameRequest(t, get(t, s, "r1"), want)

	events, err := s.AuditSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatalf("AuditSince: %v", err)
	}
	e.RequestID = "r1" // filled in from the request
	if len(events) != 1 || !sameEvent(events[0], e) {
		t.Errorf("AuditSince after Create = %+v, want [%+v]", events, e)
	}
}

func testCreateDefaults(t *testing.T, su suite) {
	c := newClock()
	s, _ := su.open(t, c)
	c.advance(time.Hour)
	create(t, s, Request{ID: "r1", ClientID: 3, SubclientID: 12})
	want := Request{ID: "r1", ClientID: 3, SubclientID: 12, State: Pending, Created: c.now(), Updated: c.now()}
	sameRequest(t, get(t, s, "r1"), want)

	events, err := s.AuditSince(context.Background(), time.Time{})
	if err != nil || len(events) != 1 || events[0].RequestID != "r1" || !events[0].At.Equal(c.now()) {
		t.Errorf("AuditSince = %+v, %v; want one event of r1 at %v", events, err, c.now())
	}

	err = s.Create(context.Background(), Request{ID: "r2", State: "bogus"}, Event{})
	if err == nil {
		t.Errorf("Create with state %q = nil, want an error", "bogus")
	}
	if err := s.Create(context.Background(), Request{ClientID: 4}, Event{}); err == nil {
		t.Errorf("Create without an ID = nil, want an error")
	}
}

func testNotFound(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	ctx := context.Background()
	_, getErr := s.Get(ctx, "nope")
	_, trErr := s.Transition(ctx, "nope", []State{Pending}, Change{To: Approved})
	_, listErr := s.Transitions(ctx, "nope")
	_, _, jobErr := s.JobEnded(ctx, "nope", "1001", "Completed", t0, nil, nil)
	_, _, parentErr := s.SetParentTS(ctx, "nope", "1.2")
	_, endedErr := s.EndedJobs(ctx, "nope")
	for name, err := range map[string]error{
		"Get":         getErr,
		"Transition":  trErr,
		"SetParentTS": parentErr,
		"Transitions": listErr,
		"JobEnded":    jobErr,
		"EndedJobs":   endedErr,
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s(nope) = %v, want ErrNotFound", name, err)
		}
	}
}

func itoa(i int) string { return string(rune('a'+i/26)) + string(rune('a'+i%26)) }

func testSetParentTS(t *testing.T, su suite) {
	c := newClock()
	s, _ := su.open(t, c)
	r := request("r1", 3, 12)
	r.ParentTS = ""
	create(t, s, r)
	c.advance(time.Minute)
	if set, ts, err := s.SetParentTS(context.Background(), "r1", "1700000000.000200"); err != nil || !set || ts != "1700000000.000200" {
		t.Fatalf("SetParentTS = %v, %q, %v; want true, the ts, nil", set, ts, err)
	}
	// A second post of the card loses: the first stays recorded.
	if set, ts, err := s.SetParentTS(context.Background(), "r1", "1700000000.000999"); err != nil || set || ts != "1700000000.000200" {
		t.Errorf("second SetParentTS = %v, %q, %v; want false, the first ts, nil", set, ts, err)
	}
	got := get(t, s, "r1")
	if got.ParentTS != "1700000000.000200" || !got.Updated.Equal(c.now()) {
		t.Errorf("after SetParentTS: ParentTS %q, Updated %v; want %q, %v", got.ParentTS, got.Updated, "1700000000.000200", c.now())
	}

	// Posts racing: one is recorded, and each of the others is told that one.
	r2 := request("r2", 3, 13)
	r2.ParentTS = ""
	create(t, s, r2)
	const racers = 8
	type answer struct {
		set      bool
		recorded string
		err      error
	}
	answers := make([]answer, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			a := &answers[i]
			a.set, a.recorded, a.err = s.SetParentTS(context.Background(), "r2", "1700000001.00000"+itoa(i))
		})
	}
	wg.Wait()
	winner := get(t, s, "r2").ParentTS
	won := 0
	for i, a := range answers {
		if a.err != nil || a.recorded != winner {
			t.Errorf("racer %d: SetParentTS = %v, %q, %v; want the recorded %q", i, a.set, a.recorded, a.err, winner)
		}
		if a.set {
			won++
		}
	}
	if won != 1 || winner == "" {
		t.Errorf("%d racers set the parent message (%q), want 1", won, winner)
	}
}

func testByState(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	for i, tt := range []struct {
		id      string
		created time.Time
		state   State
	}{
		{"late", t0.Add(2 * time.Hour), Pending},
		{"early", t0, Approved},
		{"middle", t0.Add(time.Hour).In(cet), Pending},
		{"done", t0.Add(-time.Hour), Finished},
	} {
		r := request(tt.id, 3, 10+i)
		r.Created, r.State = tt.created, tt.state
		create(t, s, r)
	}
	for _, tt := range []struct {
		states []State
		want   []string
	}{
		{[]State{Pending, Approved}, []string{"early", "middle", "late"}},
		{[]State{Pending}, []string{"middle", "late"}},
		{[]State{Finished, Expired}, []string{"done"}},
		{[]State{Expired}, nil},
		{nil, nil},
	} {
		got, err := s.ByState(ctx, tt.states...)
		if err != nil {
			t.Fatalf("ByState(%v): %v", tt.states, err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("ByState(%v) = %v, want %v", tt.states, ids, tt.want)
		}
	}
}

func testPingClose(t *testing.T, su suite) {
	s, _ := su.open(t, newClock())
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Errorf("Ping after Close = nil, want an error")
	}
}
