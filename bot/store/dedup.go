package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// seen records the keys with an expiry of now+ttl and reports whether any
// of them was already recorded and unexpired (a key is unexpired until,
// and including, its expiry time). A key seen again is renewed, so it
// outlives the last of its retries by ttl. The keys are recorded in one
// transaction, each with one INSERT … ON CONFLICT, so that of any number of
// concurrent callers with the same key exactly one gets false. A key given
// twice in one call counts once. Expired keys are purged about once every
// purgeEvery.
func (s *DB) seen(ctx context.Context, ttl time.Duration, keys ...string) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("seen: ttl %v is not positive", ttl)
	}
	if len(keys) == 0 {
		return false, nil
	}
	now := s.now()
	expires, at := now.Add(ttl).UnixNano(), now.UnixNano()
	purge := s.purgeDue(&s.nextPurge, now)
	// Each key once, in one order for every caller: concurrent calls with
	// keys in common then lock their rows in the same order (PostgreSQL),
	// and none waits for another that waits for it.
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	seen := false
	err := s.inTx(ctx, func(tx txn) (err error) {
		seen, err = s.seenTx(ctx, tx, purge, uniq, expires, at)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record de-duplication keys: %w", err)
	}
	return seen, nil
}

// seenTx is seen's work within tx, for keys sorted and unique.
func (s *DB) seenTx(ctx context.Context, tx txn, purge bool, keys []string, expires, at int64) (bool, error) {
	if purge {
		if _, err := tx.ExecContext(ctx, s.q(qSeenPurge), at); err != nil {
			return false, err
		}
	}
	seen := false
	for _, k := range keys {
		res, err := tx.ExecContext(ctx, s.q(qSeen), k, expires, at)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, err
		}
		if n > 0 {
			continue // new, or expired and now renewed
		}
		seen = true
		if _, err := tx.ExecContext(ctx, s.q(qSeenRenew), expires, k, expires); err != nil {
			return false, err
		}
	}
	return seen, nil
}

// Take is seen and, when none of the keys was seen, records item in the
// inbox claimed by owner for lease (unclaimed when owner is ""), in one
// transaction: what the bot does with every envelope before acking it. A
// zero item.Received is now. An item whose id is in the inbox already (kept
// a day after it is done, or refused) is seen too, and left as it is: the
// item's id is a key of its own, which needs no row of its keys.
//
// Concurrent Takes are committed together (group commit), in the order they
// arrive, so a burst costs a few transactions rather than one each: SQLite
// takes one writer at a time. A Take whose ctx ends before its batch is
// committed gives up its place in the batch: an error from Take means the
// item was not recorded, with one exception no database can rule out — a
// COMMIT that failed as it was sent (the connection broke) may have been
// applied. Whoever tells the sender "try again" on an error therefore also
// records a tombstone with Refuse.
func (s *DB) Take(ctx context.Context, ttl time.Duration, keys []string, item InboxItem, owner string, lease time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("take: ttl %v is not positive", ttl)
	}
	if item.ID == "" {
		return false, errors.New("take: no inbox item id")
	}
	if owner != "" && lease <= 0 {
		return false, fmt.Errorf("take: lease %v is not positive", lease)
	}
	if !s.startCommitters() {
		return false, fmt.Errorf("take envelope %s: store closed", item.ID)
	}
	uniq := slices.Clone(keys)
	slices.Sort(uniq)
	req := &takeReq{ttl: ttl, keys: slices.Compact(uniq), item: item, owner: owner, lease: lease, done: make(chan takeRes, 1)}
	select {
	case s.takes <- req:
	case <-s.closing:
		return false, fmt.Errorf("take envelope %s: store closed", item.ID)
	case <-ctx.Done():
		return false, fmt.Errorf("take envelope %s: not recorded: %w", item.ID, ctx.Err())
	}
	var r takeRes
	select {
	case r = <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(takeWaiting, takeAbandoned) {
			return false, fmt.Errorf("take envelope %s: not recorded: %w", item.ID, ctx.Err())
		}
		r = <-req.done // its batch is being committed: the answer is on its way
	}
	if r.err != nil {
		return false, fmt.Errorf("take envelope %s: %w", item.ID, r.err)
	}
	return r.seen, nil
}

// startCommitters starts, once, the group committers of Take and
// InboxDone; false means the store is closed.
func (s *DB) startCommitters() bool {
	s.takers.Do(func() {
		s.takes, s.dones, s.closing = make(chan *takeReq, maxTakeBatch), make(chan *doneReq, maxDoneBatch), make(chan struct{})
		s.taking.Add(2)
		go s.commitTakes()
		go s.commitDones()
	})
	return s.closing != nil
}

// maxTakeBatch is the most Takes one transaction commits.
const maxTakeBatch = 128

// takeTimeout bounds the statements of one group commit; its COMMIT, once
// sent, is given commitTimeout, so that its outcome is known.
const (
	takeTimeout   = 10 * time.Second
	commitTimeout = 30 * time.Second
)

// The states of a Take in the group committer: waiting for its batch, given
// up by its caller (never committed), or in a batch being committed (its
// caller waits for the answer).
const (
	takeWaiting int32 = iota
	takeAbandoned
	takeCommitting
)

type takeReq struct {
	ttl   time.Duration
	keys  []string // sorted, unique
	item  InboxItem
	owner string
	lease time.Duration
	state atomic.Int32
	done  chan takeRes
}

type takeRes struct {
	seen bool
	err  error
}

// errAbandoned rolls a batch back because a Take in it was given up.
var errAbandoned = errors.New("a take was given up")

// beginError is a batch whose BEGIN failed: nothing of it was sent, and it
// runs again once, on another connection (Take's connection is not pinged
// before it is used, so a broken one is found here).
type beginError struct{ err error }

func (e beginError) Error() string { return e.err.Error() }
func (e beginError) Unwrap() error { return e.err }

func isBeginError(err error) bool {
	_, ok := errors.AsType[beginError](err)
	return ok
}

// commitTakes commits the waiting Takes, as many at a time as are waiting,
// until the store closes.
func (s *DB) commitTakes() {
	defer s.taking.Done()
	for {
		batch, ok := nextBatch(s.takes, s.closing, maxTakeBatch)
		if !ok {
			return
		}
		s.commit(batch)
		if s.purgeDue(&s.nextPurge, s.now()) {
			s.taking.Add(1)
			go s.purgeKeys()
		}
	}
}

// purgeKeys deletes the expired keys, away from the acks' way: a purge
// that fails is tried again after purgeEvery, and until then the table
// only holds more keys than it needs to.
func (s *DB) purgeKeys() {
	defer s.taking.Done()
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	_, _ = s.write(ctx, s.q(qSeenPurge), s.now().UnixNano())
}

// nextBatch waits for a request on ch, then takes those waiting behind it,
// up to limit in all: a group committer's next batch. It returns false once
// closing is closed.
func nextBatch[T any](ch <-chan T, closing <-chan struct{}, limit int) ([]T, bool) {
	var batch []T
	select {
	case <-closing:
		return nil, false
	case r := <-ch:
		batch = append(batch, r)
	}
	for len(batch) < limit {
		select {
		case r := <-ch:
			batch = append(batch, r)
		default:
			return batch, true
		}
	}
	return batch, true
}

// commit runs a batch of Takes in one transaction and answers each. Before
// its COMMIT every Take in it moves from waiting to committing; when one
// was given up meanwhile, the transaction is rolled back and run again
// without it. Once committing, a Take is answered with the COMMIT's outcome.
func (s *DB) commit(batch []*takeReq) {
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		live := batch[:0:0]
		for _, r := range batch {
			if r.state.Load() != takeAbandoned {
				live = append(live, r)
			}
		}
		if len(live) == 0 {
			return
		}
		seen, err := s.commitOnce(ctx, live)
		if errors.Is(err, errAbandoned) || s.again(ctx, err, attempt) || (isBeginError(err) && attempt == 1) {
			batch = live
			continue
		}
		for i, r := range live {
			res := takeRes{err: err}
			if err == nil {
				res.seen = seen[i]
			}
			r.done <- res // buffered: a caller that gave up reads nothing
		}
		return
	}
}

// commitOnce is one transaction for the Takes of live; it fails with
// errAbandoned when one was given up before the COMMIT. Its statements are
// as few as the batch allows, whatever its size (on PostgreSQL each is a
// round trip): every key in one INSERT, which returns those that were not
// there unexpired; a renewal of each key that was (a retry, rarely); every
// new item in one INSERT. They do what the Takes one after another would:
// a key given by two Takes of the batch is the first one's, and the second
// has seen it. On PostgreSQL the three are one statement, sent with the
// BEGIN (takePipelined): a batch is two round trips.
func (s *DB) commitOnce(ctx context.Context, live []*takeReq) (seen []bool, err error) {
	if s.d.arrays {
		return s.takePipelined(ctx, live)
	}
	err = s.writing(ctx, true, func() error {
		seen, err = s.commitLocked(ctx, live)
		return err
	})
	return seen, err
}

// commitLocked is commitOnce holding the write lock (SQLite).
func (s *DB) commitLocked(ctx context.Context, live []*takeReq) ([]bool, error) {
	// The COMMIT must not be cut short once sent (database/sql cancels a
	// transaction with its context): its own bound is longer than the
	// statements'.
	txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	sqlTx, err := s.takeDB.BeginTx(txCtx, s.d.txOptions)
	if err != nil {
		return nil, beginError{err}
	}
	tx := txn{sqlTx, s.p}
	now := s.now()
	seen := make([]bool, len(live))
	err = func() error {
		if err := s.takeKeys(ctx, tx, live, now, seen); err != nil {
			return err
		}
		if err := s.takeItems(ctx, tx, live, now, seen); err != nil {
			return err
		}
		return committing(live)
	}()
	if err != nil {
		_ = tx.Rollback() // the error that matters is the statement's
		return nil, err
	}
	return seen, tx.Commit()
}

// committing moves each Take of live from waiting to committing, before
// the COMMIT; errAbandoned when one was given up.
func committing(live []*takeReq) error {
	for _, r := range live {
		if !r.state.CompareAndSwap(takeWaiting, takeCommitting) && r.state.Load() != takeCommitting {
			return errAbandoned
		}
	}
	return nil
}

// batchKeys are the keys of a batch's Takes, each once, sorted: with the
// Take it is recorded for (the first that gives it) and its expiry (the
// latest its Takes ask).
type batchKeys struct {
	keys    []string
	expires []int64
	first   []int32 // the index of its Take in the batch
}

// keysOf is the keys of live's Takes; it sets seen[i] for each Take with a
// key that an earlier Take of the batch gave.
func keysOf(live []*takeReq, now time.Time, seen []bool) batchKeys {
	type entry struct {
		key     string
		expires int64
		first   int32
	}
	at := make(map[string]int) // key → its index in entries
	var entries []entry
	for i, r := range live {
		exp := now.Add(r.ttl).UnixNano()
		for _, k := range r.keys {
			if j, dup := at[k]; dup {
				seen[i] = true
				entries[j].expires = max(entries[j].expires, exp)
				continue
			}
			at[k] = len(entries)
			entries = append(entries, entry{k, exp, int32(i)})
		}
	}
	// One order for every batch: two that share keys (a retry on another
	// replica) lock them in the same order, and neither waits for the
	// other while it waits for it.
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.key, y.key) })
	var b batchKeys
	for _, e := range entries {
		b.keys, b.expires, b.first = append(b.keys, e.key), append(b.expires, e.expires), append(b.first, e.first)
	}
	return b
}

// takeKeys records the keys of live's Takes within tx and sets seen[i] for
// each Take with a key that was there unexpired, or that an earlier Take
// of the batch gave; those keys are renewed.
func (s *DB) takeKeys(ctx context.Context, tx txn, live []*takeReq, now time.Time, seen []bool) error {
	b := keysOf(live, now, seen)
	if len(b.keys) == 0 {
		return nil
	}
	recorded := make(map[string]bool, len(b.keys))
	args := make([]any, 0, 2*min(len(b.keys), maxTakeBatch)+1)
	err := inChunks(len(b.keys), func(off, size, rows int) error {
		args = args[:0]
		for i := off; i < off+size; i++ {
			args = append(args, b.keys[i], b.expires[i])
		}
		for range rows - size {
			args = append(args, b.keys[off], b.expires[off])
		}
		args = append(args, now.UnixNano())
		return s.takeRows(ctx, tx, fmt.Sprintf(qTakeKeys, valuesList(rows, 2)), args, recorded)
	})
	if err != nil {
		return err
	}
	for i, k := range b.keys {
		if recorded[k] {
			continue
		}
		seen[b.first[i]] = true // there, unexpired: renewed, so it outlives its last retry
		if _, err := tx.ExecContext(ctx, s.q(qSeenRenew), b.expires[i], k, b.expires[i]); err != nil {
			return err
		}
	}
	return nil
}

// itemsOf is the items of live's Takes that saw none of their keys, each
// claimed by its owner for its lease (unclaimed when the owner is ""), in
// the order of the Takes; two Takes of the batch may give the same id.
func itemsOf(live []*takeReq, now time.Time, seen []bool) itemColumns {
	var cols itemColumns
	for i, r := range live {
		if seen[i] {
			continue
		}
		received := r.item.Received
		if received.IsZero() {
			received = now
		}
		var attempts int32
		var until int64
		if r.owner != "" {
			attempts, until = 1, now.Add(r.lease).UnixNano()
		}
		cols.add(int32(i), r.item, received.UnixNano(), attempts, r.owner, until)
	}
	return cols
}

// takeItems records, within tx, the items of live's Takes that saw none of
// their keys, and sets seen[i] for each Take whose item was there already.
func (s *DB) takeItems(ctx context.Context, tx txn, live []*takeReq, now time.Time, seen []bool) error {
	cols := itemsOf(live, now, seen)
	if len(cols.ids) == 0 {
		return nil
	}
	recorded := make(map[string]bool, len(cols.ids))
	all := cols.rows()
	args := make([]any, 0, 7*min(len(cols.ids), maxTakeBatch))
	err := inChunks(len(cols.ids), func(off, size, rows int) error {
		args = append(args[:0], all[7*off:7*(off+size)]...)
		for range rows - size {
			args = append(args, all[7*off:7*off+7]...)
		}
		return s.takeRows(ctx, tx, fmt.Sprintf(qTakeItems, valuesList(rows, 7)), args, recorded)
	})
	if err != nil {
		return err
	}
	cols.admit(recorded, seen)
	return nil
}

// takeRows runs one of Take's multi-row statements, query, within tx and
// adds the keys (or item ids) it returns to recorded.
func (s *DB) takeRows(ctx context.Context, tx txn, query string, args []any, recorded map[string]bool) error {
	rows, err := tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			_ = rows.Close()
			return err
		}
		recorded[k] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// pow2 is the least power of two no less than n.
func pow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}

// inChunks calls f for n rows in chunks of at most maxTakeBatch, in
// order, each run as a statement of rows rows: its size rounded up to a
// power of two, the rest of the statement's rows copies of the chunk's
// first. Take's multi-row statements on SQLite are thus built for eight
// sizes only, each prepared once on a connection. One text for each batch
// size was parsed afresh for most batches of a burst (a 100-row INSERT of
// items parses in some 95 µs, twice: on the batch's connection and by the
// background prepare), and filled the statement cache, past which other
// statements run unprepared. A copy changes nothing: SQLite runs a VALUES
// list row by row, and a copy of a key or an item comes after the row it
// copies, which either recorded it unexpired or found it so; so the copy
// conflicts, is neither recorded nor renewed, and is not returned.
func inChunks(n int, f func(off, size, rows int) error) error {
	for off := 0; off < n; off += maxTakeBatch {
		size := min(n-off, maxTakeBatch)
		if err := f(off, size, pow2(size)); err != nil {
			return err
		}
	}
	return nil
}

// admit sets seen[i] for each Take whose item was not recorded: its id was
// in the inbox already, or an earlier Take of the batch (one not seen)
// gave it, and the item recorded is that one's. The statement that records
// them inserts, of the rows of one id, the first (VALUES in order on
// SQLite, DISTINCT ON the Takes' order on PostgreSQL) of the Takes not
// seen; the rows of a Take whose key the statement found seen are not
// inserted (PostgreSQL).
func (c *itemColumns) admit(recorded map[string]bool, seen []bool) {
	given := make(map[string]bool, len(c.ids))
	for i, id := range c.ids {
		take := c.takes[i]
		if seen[take] {
			continue
		}
		if !recorded[id] || given[id] {
			seen[take] = true
			continue
		}
		given[id] = true
	}
}

// itemColumns are the new inbox items of a batch, a slice for each column
// of qTakeOne's items (an owner "" and an until 0 are NULL), and the index
// of each one's Take in the batch.
type itemColumns struct {
	takes                []int32
	ids, kinds, payloads []string
	received             []int64
	attempts             []int32
	owners               []string
	until                []int64
}

func (c *itemColumns) add(take int32, item InboxItem, received int64, attempts int32, owner string, until int64) {
	c.takes = append(c.takes, take)
	c.ids, c.kinds, c.payloads = append(c.ids, item.ID), append(c.kinds, item.Kind), append(c.payloads, string(item.Payload))
	c.received, c.attempts = append(c.received, received), append(c.attempts, attempts)
	c.owners, c.until = append(c.owners, owner), append(c.until, until)
}

// rows are the items as qTakeItems's VALUES list takes them, row by row.
func (c *itemColumns) rows() []any {
	args := make([]any, 0, 7*len(c.ids))
	for i := range c.ids {
		var owner, until any // NULL: unclaimed
		if c.owners[i] != "" {
			owner, until = c.owners[i], c.until[i]
		}
		args = append(args, c.ids[i], c.kinds[i], c.payloads[i], c.received[i], c.attempts[i], owner, until)
	}
	return args
}

// purgeDue reports whether it is time to purge (next is when, one of
// s.nextPurge and s.nextInboxPurge), and if so sets the next time.
func (s *DB) purgeDue(next *time.Time, now time.Time) bool {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	if now.Before(*next) {
		return false
	}
	*next = now.Add(purgeEvery)
	return true
}
