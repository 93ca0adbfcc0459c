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

// markDone runs a batch of InboxDones in one transaction (it holds the
// write lock after the group commit of Take, which goes first) and answers
// each: one UPDATE for each outcome in the batch, and for the ids it did
// not mark (done already, or unknown) one SELECT.
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
	err := s.inTx(ctx, func(tx txn) error {
		clear(found)
		at := s.now().UnixNano()
		for _, outcome := range outcomes {
			ids := byOutcome[outcome]
			args := []any{at, outcome}
			for _, id := range ids {
				args = append(args, id)
			}
			marked, err := queryIDs(ctx, tx, s.q(fmt.Sprintf(qInboxDone, inList(len(ids)))), args...)
			if err != nil {
				return err
			}
			for _, id := range marked {
				found[id] = true
			}
		}
		var rest []any
		for id := range first {
			if !found[id] {
				rest = append(rest, id)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		there, err := queryIDs(ctx, tx, s.q(fmt.Sprintf(qInboxListed, inList(len(rest)))), rest...)
		for _, id := range there {
			found[id] = true
		}
		return err
	})
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
