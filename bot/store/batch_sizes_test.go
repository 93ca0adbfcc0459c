package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInChunks(t *testing.T) {
	if maxTakeBatch&(maxTakeBatch-1) != 0 {
		t.Fatalf("maxTakeBatch %d is not a power of two", maxTakeBatch)
	}
	for n := range 3*maxTakeBatch + 2 {
		next := 0
		err := inChunks(n, func(off, size, rows int) error {
			if off != next || size <= 0 || size > maxTakeBatch || rows < size || rows >= 2*size || rows&(rows-1) != 0 {
				return fmt.Errorf("chunk at %d of %d rows in %d, after %d rows", off, size, rows, next)
			}
			if size < maxTakeBatch && off+size != n {
				return fmt.Errorf("a chunk of %d rows before the last", size)
			}
			next = off + size
			return nil
		})
		if err != nil || next != n {
			t.Fatalf("inChunks(%d): %v, %d rows covered", n, err, next)
		}
	}
}

// A batch of Takes of every size up to maxTakeBatch, each committed as one
// group commit on SQLite (its statements padded with copies of their first
// row), records every item and key, admits the first of two Takes of one
// id, and leaves at most eight texts of each multi-row statement in the
// cache. A batch whose first Take's key was there, unexpired or expired,
// is told so, and its copies change nothing.
func TestTakeBatchSizesOnSQLite(t *testing.T) {
	ctx := context.Background()
	clock := time.Now()
	s, err := openSQLite(ctx, filepath.Join(t.TempDir(), "backupbot.db"), func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	newTake := func(id string) *takeReq {
		n++
		return &takeReq{ttl: time.Minute, keys: []string{fmt.Sprintf("trigger:%d", n)}, owner: "replica-a", lease: time.Minute,
			item: InboxItem{ID: id, Kind: "command", Payload: []byte(`{}`)}, done: make(chan takeRes, 1)}
	}
	for size := 1; size <= maxTakeBatch; size++ {
		batch := make([]*takeReq, size)
		for i := range batch {
			batch[i] = newTake(fmt.Sprintf("env-%d-%d", size, i))
		}
		dup := -1
		if size > 64 { // a second Take of the first's id, in the padded statement's second half
			dup = 64
			batch[dup].item.ID = batch[0].item.ID
		}
		s.commit(batch)
		for i, r := range batch {
			res := <-r.done
			if res.err != nil || res.seen != (i == dup) {
				t.Fatalf("batch of %d, Take %d (%s): seen %v, %v; want seen %v", size, i, r.item.ID, res.seen, res.err, i == dup)
			}
		}
	}
	// The first Take's key is there unexpired: it is seen, and the batch's
	// three other rows (one of them a copy of it) are as they would be alone.
	again := []*takeReq{newTake("again-1"), newTake("again-2"), newTake("again-3")}
	again[0].keys = []string{"trigger:1"}
	s.commit(again)
	for i, r := range again {
		if res := <-r.done; res.err != nil || res.seen != (i == 0) {
			t.Fatalf("Take %d of a batch whose first key was seen: seen %v, %v", i, res.seen, res.err)
		}
	}
	// Once it has expired, the first Take's key is recorded anew and the
	// Take admitted; the copy after it does not renew it again or count.
	clock = clock.Add(2 * time.Minute)
	expired := []*takeReq{newTake("expired-1"), newTake("expired-2"), newTake("expired-3")}
	expired[0].keys = []string{"trigger:1"}
	s.commit(expired)
	for i, r := range expired {
		if res := <-r.done; res.err != nil || res.seen {
			t.Fatalf("Take %d of a batch whose first key had expired: seen %v, %v", i, res.seen, res.err)
		}
	}
	var exp int64
	if err := s.db.QueryRowContext(ctx, `SELECT expires FROM dedup WHERE key = 'trigger:1'`).Scan(&exp); err != nil || exp != clock.Add(time.Minute).UnixNano() {
		t.Errorf("trigger:1 expires %v (%v), want a minute after the clock", time.Unix(0, exp), err)
	}
	// More keys than one statement takes: two statements, the second
	// padded, and a Take whose key (in the second, sorted last) is there
	// unexpired is seen.
	old := newTake("old")
	old.keys = []string{"zz-old"} // in place of its trigger key
	s.commit([]*takeReq{old})
	if res := <-old.done; res.err != nil || res.seen {
		t.Fatalf("a Take of a new key: seen %v, %v", res.seen, res.err)
	}
	wide := make([]*takeReq, 100)
	for i := range wide {
		wide[i] = newTake(fmt.Sprintf("wide-%d", i))
		wide[i].keys = append(wide[i].keys, fmt.Sprintf("u-extra:%d", i))
	}
	wide[50].keys[1] = "zz-old"
	s.commit(wide)
	for i, r := range wide {
		if res := <-r.done; res.err != nil || res.seen != (i == 50) {
			t.Fatalf("Take %d of a batch of 200 keys: seen %v, %v; want seen %v", i, res.seen, res.err, i == 50)
		}
	}
	n -= 2  // two of the keys were trigger:1's again
	n += 99 // the wide batch's extra keys, but zz-old's again
	var items, keys int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM inbox`).Scan(&items); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM dedup`).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if want := maxTakeBatch*(maxTakeBatch+1)/2 - (maxTakeBatch - 64) + 5 + 1 + 99; items != want || keys != n {
		t.Errorf("inbox holds %d items (want %d), dedup %d keys (want %d)", items, want, keys, n)
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	texts := map[string]int{}
	for q := range s.p.m {
		texts[q[:20]]++
	}
	for q := range s.p.pending {
		texts[q[:20]]++
	}
	for prefix, k := range texts {
		if strings.HasPrefix(prefix, "INSERT INTO dedup") || strings.HasPrefix(prefix, "INSERT INTO inbox") {
			if k > 8 {
				t.Errorf("%d texts of %q… cached", k, prefix)
			}
		}
	}
}
