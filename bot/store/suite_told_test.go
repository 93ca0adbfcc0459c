package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// The behaviours "told once, done once" rests on: holds, the outbox, takes
// that are given up, tombstones, exhausted inbox items, retention and the
// store's clock.

func testHold(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	r := request("r1", 3, 12)
	r.Owner, r.HeldUntil = "a", c.now().Add(time.Minute)
	create(t, s, r)
	if got := get(t, s, "r1"); got.Owner != "a" || !got.HeldUntil.Equal(r.HeldUntil) {
		t.Fatalf("created with a hold: owner %q until %v; want a until %v", got.Owner, got.HeldUntil, r.HeldUntil)
	}
	hold := func(owner string, until time.Time) bool {
		t.Helper()
		ok, err := s.Hold(ctx, "r1", owner, until)
		if err != nil {
			t.Fatalf("Hold(%s): %v", owner, err)
		}
		return ok
	}
	if hold("b", c.now().Add(time.Hour)) {
		t.Error("b took a's hold before it ran out")
	}
	if !hold("a", c.now().Add(2*time.Minute)) {
		t.Error("a could not renew its own hold")
	}
	c.advance(2 * time.Minute)
	if hold("b", c.now().Add(time.Minute)) {
		t.Error("b took a's hold at its last instant")
	}
	c.advance(time.Nanosecond)
	if !hold("b", c.now().Add(time.Minute)) {
		t.Error("b could not take a hold that ran out")
	}
	if got := get(t, s, "r1"); got.Owner != "b" {
		t.Errorf("owner = %q after b took it over", got.Owner)
	}
	// A transition can hold the request for its actor's replica.
	next, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U0LEAD",
		Owner: "c", HeldUntil: c.now().Add(time.Hour)})
	if err != nil || next.Owner != "c" || !next.HeldUntil.Equal(c.now().Add(time.Hour)) {
		t.Errorf("Transition with a hold = %+v, %v; want it held by c", next, err)
	}
	if ok, err := s.Hold(ctx, "nope", "a", c.now()); ok || err != nil {
		t.Errorf("Hold of an unknown request = %v, %v; want false, nil", ok, err)
	}
	// Recorded before holds existed: anyone may take it.
	old := request("r2", 3, 13)
	create(t, s, old)
	if ok, err := s.Hold(ctx, "r2", "z", c.now().Add(time.Minute)); !ok || err != nil {
		t.Errorf("Hold of a request never held = %v, %v; want true", ok, err)
	}
}

func testFollowed(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	for i, st := range []State{Submitted, Unknown, Unknown, Finished, Pending} {
		r := request("r"+itoa(i), 3, 20+i)
		r.State, r.Updated = st, t0.Add(time.Duration(i)*time.Hour)
		create(t, s, r)
	}
	got, err := s.Followed(ctx, t0.Add(2*time.Hour)) // the unknown one updated at t0+1h is past its window
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := []string{"r" + itoa(0), "r" + itoa(2)}; err != nil || !slices.Equal(ids, want) {
		t.Errorf("Followed = %v, %v; want %v", ids, err, want)
	}
}

func testOutbox(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	create(t, s, request("r1", 3, 12))
	next, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Approved, Actor: "U0LEAD", Tell: []byte(`"approved"`)})
	if err != nil || next.Notice == 0 {
		t.Fatalf("Transition with Tell = notice %d, %v; want a notice", next.Notice, err)
	}
	if next2, err := s.Transition(ctx, "r1", []State{Approved}, Change{To: Submitting, Actor: "backupbot"}); err != nil || next2.Notice != 0 {
		t.Errorf("Transition without Tell = notice %d, %v; want none", next2.Notice, err)
	}
	if _, err := s.Transition(ctx, "r1", []State{Submitting}, Change{To: Submitted, Tell: []byte(`"submitted"`)}); err != nil {
		t.Fatal(err)
	}
	untold, err := s.Untold(ctx, "r1")
	if err != nil || len(untold) != 2 || string(untold[0].Message) != `"approved"` || string(untold[1].Message) != `"submitted"` {
		t.Fatalf("Untold = %+v, %v; want both notices in order", untold, err)
	}
	if due := s.Now().Add(noticeGrace); !untold[0].Due.Equal(due) || !untold[1].Due.Equal(due) {
		t.Errorf("notices due %v and %v; want %v (the grace left to their flow)", untold[0].Due, untold[1].Due, due)
	}
	// A conflict adds nothing.
	if _, err := s.Transition(ctx, "r1", []State{Pending}, Change{To: Rejected, Tell: []byte(`"no"`)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting Transition = %v", err)
	}
	if due, err := s.DueNotices(ctx, 10); err != nil || len(due) != 0 {
		t.Errorf("DueNotices at once = %d, %v; want none: the flow that added them posts them", len(due), err)
	}
	c.advance(noticeGrace)
	if due, err := s.DueNotices(ctx, 10); err != nil || len(due) != 2 {
		t.Errorf("DueNotices after the grace = %d, %v; want 2", len(due), err)
	}
	if err := s.NoticeFailed(ctx, untold[0].ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueNotices(ctx, 10); len(due) != 1 || due[0].ID != untold[1].ID {
		t.Errorf("DueNotices after a failed post = %+v; want only the other until its retry", due)
	}
	c.advance(time.Minute)
	due, _ := s.DueNotices(ctx, 1)
	if len(due) != 1 || due[0].ID != untold[0].ID || due[0].Attempts != 1 {
		t.Errorf("DueNotices(limit 1) a minute later = %+v; want the first, with 1 failed attempt", due)
	}
	for _, n := range untold {
		if err := s.NoticePosted(ctx, n.ID); err != nil {
			t.Fatal(err)
		}
	}
	if untold, err := s.Untold(ctx, "r1"); err != nil || len(untold) != 0 {
		t.Errorf("Untold after posting = %+v, %v", untold, err)
	}
	if due, _ := s.DueNotices(ctx, 10); len(due) != 0 {
		t.Errorf("DueNotices after posting = %+v", due)
	}
}

func testJobEndTold(t *testing.T, su suite) {
	ctx := context.Background()
	s, _ := su.open(t, newClock())
	create(t, s, request("r1", 3, 12))
	first, notice, err := s.JobEnded(ctx, "r1", "1001", "Completed", t0, []byte(`"ended"`), nil)
	if err != nil || !first || notice == 0 {
		t.Fatalf("JobEnded with a notice = %v, %d, %v", first, notice, err)
	}
	first, notice, err = s.JobEnded(ctx, "r1", "1001", "Completed", t0, []byte(`"ended again"`), nil)
	if err != nil || first || notice != 0 {
		t.Errorf("JobEnded again = %v, %d, %v; want no second notice", first, notice, err)
	}
	untold, _ := s.Untold(ctx, "r1")
	if len(untold) != 1 {
		t.Errorf("Untold = %+v; want the one end", untold)
	}
	// The lease holder that recorded the end posts it, and retries it:
	// due at once, unlike a transition's notice (left to its flow).
	if due, err := s.DueNotices(ctx, 10); err != nil || len(due) != 1 || due[0].ID != notice0(untold) || due[0].Due.After(s.Now()) {
		t.Errorf("DueNotices = %+v, %v; want the end, due now", due, err)
	}
}

// notice0 is the ID of the first notice, 0 if none.
func notice0(ns []Notice) int64 {
	if len(ns) == 0 {
		return 0
	}
	return ns[0].ID
}

func testTakeClaimed(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:e1"}, InboxItem{ID: "e1", Kind: "command"}, "a", time.Minute); err != nil || seen {
		t.Fatalf("Take = %v, %v", seen, err)
	}
	if _, ok := claim(t, s, "e1", "b", time.Minute); ok {
		t.Error("another replica claimed an item its taker holds")
	}
	it, ok := claim(t, s, "e1", "a", time.Minute)
	if !ok || it.Attempts != 1 || !it.Received.Equal(c.now()) {
		t.Errorf("the taker's claim = %+v, %v; want its one attempt, received now", it, ok)
	}
	if got, err := s.ClaimStale(ctx, "b", 0, time.Minute, 5, 10); err != nil || len(got) != 0 {
		t.Errorf("ClaimStale took a held item: %v, %v", got, err)
	}
	c.advance(2 * time.Minute) // the taker stopped: its claim ran out
	got, err := s.ClaimStale(ctx, "b", time.Minute, time.Minute, 5, 10)
	if err != nil || len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("ClaimStale once the taker's claim ran out = %+v, %v; want it, with a second attempt", got, err)
	}
	if it, ok := claim(t, s, "e1", "b", time.Minute); !ok || it.Attempts != 2 {
		t.Errorf("the sweeper's worker claiming it = %+v, %v; want it, still 2 attempts (one per hand-over)", it, ok)
	}
}

// stallWrites holds the database's write lock (SQLite) or a lock on the
// inbox and dedup tables (PostgreSQL) until release is called.
func stallWrites(t *testing.T, url string) (release func()) {
	t.Helper()
	ctx := context.Background()
	var db *sql.DB
	var err error
	var lock string
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err = sql.Open("sqlite", sqliteDSN(path, sqliteSync))
		lock = "BEGIN IMMEDIATE"
	} else {
		db, err = sql.Open("pgx", url)
		lock = "BEGIN; LOCK TABLE inbox, dedup IN ACCESS EXCLUSIVE MODE"
	}
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(lock, "; ") {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return func() {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		db.Close()
	}
}

// A Take given up while the database stalls is never recorded, even once
// the database answers again; Takes still waiting are.
func testTakeGivenUp(t *testing.T, su suite) {
	ctx := context.Background()
	s, url := su.open(t, newClock())
	release := stallWrites(t, url)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.Take(short, time.Minute, []string{"envelope:given-up"}, InboxItem{ID: "given-up", Kind: "command"}, "a", time.Minute)
	if err == nil {
		release()
		t.Fatal("Take succeeded while the database was stalled")
	}
	waited := make(chan error, 1)
	go func() {
		_, err := s.Take(ctx, time.Minute, []string{"envelope:waited"}, InboxItem{ID: "waited", Kind: "command"}, "a", time.Minute)
		waited <- err
	}()
	time.Sleep(300 * time.Millisecond)
	release()
	if err := <-waited; err != nil {
		t.Fatalf("a Take that waited: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := claim(t, s, "waited", "a", time.Minute); !ok {
		t.Error("the Take that waited was not recorded")
	}
	if err := s.InboxDone(ctx, "given-up", Served); !errors.Is(err, ErrNotFound) {
		t.Errorf("the given-up Take was recorded after all (InboxDone = %v)", err)
	}
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:given-up"}, InboxItem{ID: "given-up-retry"}, "a", time.Minute); err != nil || seen {
		t.Errorf("its key was recorded after all: Take again = %v, %v", seen, err)
	}
}

func testRefuse(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	// Refused before it is recorded: the late insert leaves the tombstone,
	// and is seen (the id is in the inbox).
	if err := s.Refuse(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if seen, err := s.Take(ctx, time.Minute, []string{"envelope:late"}, InboxItem{ID: "late", Kind: "command"}, "a", time.Minute); err != nil || !seen {
		t.Fatalf("late Take = %v, %v; want true, nil", seen, err)
	}
	if _, ok := claim(t, s, "late", "a", time.Minute); ok {
		t.Error("a refused envelope recorded late can be claimed")
	}
	c.advance(time.Hour)
	if got, err := s.ClaimStale(ctx, "b", 0, time.Minute, 5, 10); err != nil || len(got) != 0 {
		t.Errorf("ClaimStale took a refused envelope: %v, %v", got, err)
	}
	// Refused once recorded: done.
	put(t, s, item("recorded", 0))
	if err := s.Refuse(ctx, "recorded"); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, s, "recorded", "a", time.Minute); ok {
		t.Error("a refused envelope can be claimed")
	}
	// Served first: refusing it changes nothing (and fails nothing).
	put(t, s, item("served", 0))
	done(t, s, "served")
	if err := s.Refuse(ctx, "served"); err != nil {
		t.Errorf("Refuse of a served item = %v", err)
	}
}

func testClaimExhausted(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	put(t, s, item("tired", 0))
	put(t, s, item("fresh", 0))
	for _, owner := range []string{"a", "b", "c"} {
		claim(t, s, "tired", owner, time.Second)
		c.advance(2 * time.Second)
	}
	if got, err := s.ClaimStale(ctx, "d", 0, time.Minute, 3, 10); err != nil || len(got) != 1 || got[0].ID != "fresh" {
		t.Errorf("ClaimStale = %v, %v; want fresh only (tired had its 3 attempts)", ids(got), err)
	}
	got, err := s.ClaimExhausted(ctx, "d", time.Minute, 3, 10)
	if err != nil || len(got) != 1 || got[0].ID != "tired" {
		t.Fatalf("ClaimExhausted = %v, %v; want tired", ids(got), err)
	}
	if got, _ := s.ClaimExhausted(ctx, "e", time.Minute, 3, 10); len(got) != 0 {
		t.Errorf("ClaimExhausted by another while d holds it = %v", ids(got))
	}
	if err := s.InboxDone(ctx, "tired", GivenUp); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	if got, _ := s.ClaimExhausted(ctx, "e", time.Minute, 3, 10); len(got) != 0 {
		t.Errorf("ClaimExhausted after it was given up = %v", ids(got))
	}
}

func testPurge(t *testing.T, su suite) {
	ctx := context.Background()
	c := newClock()
	s, _ := su.open(t, c)
	old := request("old", 3, 1)
	create(t, s, old)
	move(t, s, "old", Approved)
	if _, err := s.Transition(ctx, "old", []State{Approved}, Change{To: Failed, Tell: []byte(`"failed"`)}); err != nil {
		t.Fatal(err)
	}
	create(t, s, request("pending", 3, 2)) // old, but not ended: kept
	if err := s.Audit(ctx, Event{At: t0, Action: "denied"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, item("inbox-old", 0))
	c.advance(48 * time.Hour)
	recent := request("recent", 3, 3)
	recent.Created, recent.Updated = c.now(), c.now()
	create(t, s, recent)
	move(t, s, "recent", Cancelled)

	n, events, err := s.Purge(ctx, c.now().Add(-24*time.Hour), c.now().Add(-24*time.Hour))
	if err != nil || n != 1 || events < 1 {
		t.Fatalf("Purge = %d requests, %d events, %v; want the old request and its events", n, events, err)
	}
	if _, err := s.Get(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(old) after the purge = %v", err)
	}
	for _, id := range []string{"pending", "recent"} {
		get(t, s, id)
	}
	if err := s.InboxDone(ctx, "inbox-old", Served); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old inbox item survived the purge: %v", err)
	}
	evs, _ := s.AuditSince(ctx, time.Time{})
	for _, e := range evs {
		if e.At.Before(c.now().Add(-24 * time.Hour)) {
			t.Errorf("an old audit event survived: %+v", e)
		}
	}
}

// The store's clock is the server's on PostgreSQL, whatever this
// process's says; on SQLite it is the process's.
func testClock(t *testing.T, su suite) {
	skewed := func() time.Time { return time.Now().Add(20 * time.Second) }
	url := su.newURL(t)
	s, err := Open(context.Background(), url, skewed)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.FollowServerClock(context.Background()); err != nil {
		t.Fatal(err)
	}
	off := time.Until(s.Now())
	if strings.HasPrefix(url, "sqlite:") {
		if off < 19*time.Second {
			t.Errorf("SQLite's clock is %v off the process's skewed clock; want the process's", off-20*time.Second)
		}
		return
	}
	// The server runs on this machine: its clock is ours, not the skewed one.
	if off > 2*time.Second || off < -2*time.Second {
		t.Errorf("the store's clock is %v off the server's, want it to follow the server", off)
	}
}
