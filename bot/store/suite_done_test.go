package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDoneTogether checks a batch of done marks: each outcome recorded for
// its own items, an item done already left as it was, an unknown one
// ErrNotFound, one id twice in a batch marked once; the same through
// concurrent InboxDone calls.
func testDoneTogether(t *testing.T, su suite) {
	c := newClock()
	s, _ := su.open(t, c)
	for i := range 8 {
		put(t, s, item(fmt.Sprintf("env-%d", i), 0))
	}
	done(t, s, "env-7") // served before the batch
	c.advance(time.Minute)

	ids := []string{"env-0", "env-1", "env-2", "env-3", "env-3", "env-7", "nope"}
	outcomes := []string{Served, GivenUp, Served, GivenUp, Served, GivenUp, Served}
	var batch []*doneReq
	for i, id := range ids {
		batch = append(batch, &doneReq{id: id, outcome: outcomes[i], done: make(chan error, 1)})
	}
	s.markDone(batch)
	for i, r := range batch {
		err := <-r.done
		if want := ids[i] != "nope"; (err == nil) != want || (!want && !errors.Is(err, ErrNotFound)) {
			t.Errorf("mark %s done as %s = %v, want ErrNotFound only for nope", ids[i], outcomes[i], err)
		}
	}
	for id, want := range map[string]string{"env-0": Served, "env-1": GivenUp, "env-2": Served, "env-3": GivenUp, "env-7": Served} {
		if got := outcomeOf(t, s, id); got != want {
			t.Errorf("outcome of %s = %q, want %q", id, got, want)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			id, outcome := fmt.Sprintf("env-%d", 4+i%3), Served // env-4 to env-6, each twice
			if i == 5 {
				id = "none"
			}
			if i%2 == 1 {
				outcome = GivenUp
			}
			errs[i] = s.InboxDone(context.Background(), id, outcome)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("concurrent InboxDone(none) = %v, want ErrNotFound", err)
			}
		} else if err != nil {
			t.Errorf("concurrent InboxDone(env-%d) = %v", 4+i%3, err)
		}
	}
	for _, id := range []string{"env-4", "env-5", "env-6"} {
		if got := outcomeOf(t, s, id); got != Served && got != GivenUp {
			t.Errorf("outcome of %s after concurrent marks = %q, want one of them", id, got)
		}
	}
}

// testDoneBatchSizes marks batches of every size up to maxDoneBatch done:
// each with a first id unknown or done already where the size is odd (the
// id SQLite's IN list is padded with), every other id marked. On SQLite,
// the statements have at most eight texts in the statement cache (one for
// each size was parsed anew, and filled it).
func testDoneBatchSizes(t *testing.T, su suite) {
	c := newClock()
	s, _ := su.open(t, c)
	ctx := context.Background()
	for size := 1; size <= maxDoneBatch; size++ {
		batch := make([]*doneReq, size)
		want := make([]error, size)
		for i := range batch {
			id := fmt.Sprintf("env-%d-%d", size, i)
			switch {
			case i == 0 && size%4 == 1:
				id = "nope"
				want[i] = ErrNotFound
			case i == 0 && size%4 == 3:
				put(t, s, item(id, 0))
				done(t, s, id)
			default:
				put(t, s, item(id, 0))
			}
			batch[i] = &doneReq{id: id, outcome: Served, done: make(chan error, 1)}
		}
		s.markDone(batch)
		for i, r := range batch {
			if err := <-r.done; !errors.Is(err, want[i]) {
				t.Fatalf("batch of %d: mark %s done = %v, want %v", size, r.id, err, want[i])
			}
			if r.id != "nope" && outcomeOf(t, s, r.id) != Served {
				t.Fatalf("batch of %d: %s not marked served", size, r.id)
			}
		}
	}
	var marked int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE done IS NOT NULL`).Scan(&marked); err != nil {
		t.Fatal(err)
	}
	if want := maxDoneBatch*(maxDoneBatch+1)/2 - maxDoneBatch/4; marked != want {
		t.Errorf("%d items done, want %d", marked, want)
	}
	if s.p == nil {
		return
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	texts := map[string]int{}
	for q := range s.p.m {
		texts[q[:min(len(q), 30)]]++
	}
	for q := range s.p.pending {
		texts[q[:min(len(q), 30)]]++
	}
	for prefix, k := range texts {
		if (strings.HasPrefix(prefix, "UPDATE inbox SET done") || strings.HasPrefix(prefix, "SELECT id FROM inbox WHERE id")) && k > 8 {
			t.Errorf("%d texts of %q… cached", k, prefix)
		}
	}
}

// outcomeOf is the stored outcome of inbox item id ("" while not done).
func outcomeOf(t *testing.T, s *DB, id string) string {
	t.Helper()
	var outcome *string
	if err := s.db.QueryRowContext(context.Background(), s.q(`SELECT outcome FROM inbox WHERE id = ?`), id).Scan(&outcome); err != nil {
		t.Fatalf("outcome of %s: %v", id, err)
	}
	if outcome == nil {
		return ""
	}
	return *outcome
}
