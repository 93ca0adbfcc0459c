package store

import (
	"context"
	"fmt"
)

// InboxDone marks item id done, now, with its outcome (Served, GivenUp);
// an item done already is left as it is. An unknown item is ErrNotFound.
//
// Every command a worker serves ends here, so concurrent calls are
// committed together, as Takes are: under a burst the workers finish many
// items at once, and on SQLite each transaction is a synchronous write
// that holds off every other writer, the group commit of Take included.
// A mark is durable when InboxDone returns nil. A call whose ctx ends
// first returns its error, and the mark may still be made: marking an item
// done twice is harmless.
func (s *DB) InboxDone(ctx context.Context, id, outcome string) error {
	if !s.startCommitters() {
		return fmt.Errorf("mark inbox item %s done: store closed", id)
	}
	req := &doneReq{id: id, outcome: outcome, done: make(chan error, 1)}
	select {
	case s.dones <- req:
	case <-s.closing:
		return fmt.Errorf("mark inbox item %s done: store closed", id)
	case <-ctx.Done():
		return fmt.Errorf("mark inbox item %s done: %w", id, ctx.Err())
	}
	select {
	case err := <-req.done:
		if err != nil {
			return fmt.Errorf("mark inbox item %s done: %w", id, err)
		}
		return nil
	case <-s.closing:
		return fmt.Errorf("mark inbox item %s done: store closed", id)
	case <-ctx.Done():
		return fmt.Errorf("mark inbox item %s done: %w", id, ctx.Err())
	}
}

// maxDoneBatch is the most InboxDones one transaction commits.
const maxDoneBatch = 128

type doneReq struct {
	id, outcome string
	done        chan error // buffered: a caller that gave up reads nothing
}

// commitDones commits the waiting InboxDones, as many at a time as are
// waiting, until the store closes.
func (s *DB) commitDones() {
	defer s.taking.Done()
	for {
		batch, ok := nextBatch(s.dones, s.closing, maxDoneBatch)
		if !ok {
			return
		}
		s.markDone(batch)
	}
}

// markDone runs a batch of InboxDones and answers each: one UPDATE for
// each outcome in the batch, and for the ids it did not mark (done
// already, or unknown) one SELECT. On SQLite they are one transaction
// (one commit, holding the write lock after the group commit of Take,
// which goes first); on PostgreSQL each statement commits by itself, a
// round trip where a transaction of it took three (autocommit): the marks
// are independent of each other, and at READ COMMITTED each statement of
// a transaction saw what others committed before it anyway.
func (s *DB) markDone(batch []*doneReq) {
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	// An id given twice is marked with its first outcome, as the calls one
	// after another would.
	byOutcome := map[string][]string{}
	var outcomes []string
	first := map[string]bool{}
	for _, r := range batch {
		if first[r.id] {
			continue
		}
		first[r.id] = true
		if _, ok := byOutcome[r.outcome]; !ok {
			outcomes = append(outcomes, r.outcome)
		}
		byOutcome[r.outcome] = append(byOutcome[r.outcome], r.id)
	}
	found := map[string]bool{}
	mark := func(q querier) error {
		clear(found) // a mark made by an attempt before is found by the SELECT
		at := s.now().UnixNano()
		for _, outcome := range outcomes {
			cond, ids := s.idIn(byOutcome[outcome])
			marked, err := queryIDs(ctx, q, s.q(fmt.Sprintf(qInboxDone, cond)), append([]any{at, outcome}, ids...)...)
			if err != nil {
				return err
			}
			for _, id := range marked {
				found[id] = true
			}
		}
		var rest []string
		for id := range first {
			if !found[id] {
				rest = append(rest, id)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		cond, ids := s.idIn(rest)
		there, err := queryIDs(ctx, q, s.q(fmt.Sprintf(qInboxListed, cond)), ids...)
		for _, id := range there {
			found[id] = true
		}
		return err
	}
	var err error
	if s.d.arrays {
		err = s.autocommit(ctx, mark)
	} else {
		err = s.inTx(ctx, func(tx txn) error { return mark(tx) })
	}
	for _, r := range batch {
		switch {
		case err != nil:
			r.done <- err
		case !found[r.id]:
			r.done <- ErrNotFound
		default:
			r.done <- nil
		}
	}
}

// idIn is the condition that a row's id is one of ids (which are some),
// for a statement's %s, and its arguments: on PostgreSQL one array, so
// that the statement's text is the same whatever the number of ids, and
// prepared once on each connection; on SQLite an IN list of a power of two
// of them, ids then copies of the first (which change nothing), so that
// the statement has eight texts at most in the statement cache.
func (s *DB) idIn(ids []string) (string, []any) {
	if s.d.arrays {
		return "id = ANY(?)", []any{ids}
	}
	n := pow2(len(ids))
	args := make([]any, 0, n)
	for _, id := range ids {
		args = append(args, id)
	}
	for len(args) < n {
		args = append(args, ids[0])
	}
	return "id IN (" + inList(n) + ")", args
}
