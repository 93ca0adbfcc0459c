package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// inbox records work taken from Slack before it is acked, so that no acked
// work is lost when the replica that took it dies: another replica claims
// it once it is stale. It also remembers envelopes, so Slack's retries are
// taken once. *store.DB is one.
type inbox interface {
	Take(ctx context.Context, ttl time.Duration, keys []string, item store.InboxItem) (seen bool, err error)
	ClaimInbox(ctx context.Context, id, owner string, lease time.Duration) (store.InboxItem, bool, error)
	RenewInbox(ctx context.Context, id, owner string, lease time.Duration) (bool, error)
	ClaimStale(ctx context.Context, owner string, olderThan time.Time, lease time.Duration, maxAttempts, limit int) ([]store.InboxItem, error)
	InboxDone(ctx context.Context, id string) error
}

// dedupTTL is how long an envelope or trigger is remembered: longer than
// Slack's retry window, which is minutes (the keys must outlive it by a
// margin, at least 10 minutes in all, and survive a restart).
const dedupTTL = 15 * time.Minute

// How work left in the inbox is taken over.
const (
	// A claim lets other replicas leave an item alone this long. Serving an
	// item twice is harmless (a request is made once per envelope, a
	// decision once per request), so the claim is kept short: it bounds
	// how long work a dead replica claimed waits for another.
	claimLease  = 10 * time.Second
	staleAfter  = 10 * time.Second // an unclaimed item this old was left by a replica that stopped
	sweepEvery  = 5 * time.Second
	maxAttempts = 5 // an item claimed this often (its servers died or it cannot be served) is left alone
	sweepBatch  = 20
)

// envelopeRecord is an envelope as the inbox keeps it.
type envelopeRecord struct {
	Input       *Input `json:"input,omitempty"`
	Click       *Click `json:"click,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
}

// remember records e's keys (its envelope ID and its trigger ID, which
// Slack's retries share) and, unless one was seen before, e itself in the
// inbox, in one write. Without an inbox only the keys are remembered.
func (s *Slack) remember(ctx context.Context, trigger string, e envelope) (seen bool, err error) {
	keys := []string{"envelope:" + e.id}
	if trigger != "" {
		keys = append(keys, "trigger:"+trigger)
	}
	payload, err := json.Marshal(envelopeRecord{Input: e.input, Click: e.click, ResponseURL: e.responseURL})
	if err != nil {
		return false, fmt.Errorf("encode envelope %s: %w", e.id, err)
	}
	kind := "command"
	if e.click != nil {
		kind = "click"
	}
	return s.cfg.Inbox.Take(ctx, dedupTTL, keys, store.InboxItem{ID: e.id, Kind: kind, Payload: payload, Received: time.Now()})
}

// forget marks e done without serving it, because its sender was told to
// try again.
func (s *Slack) forget(log *zap.Logger, e envelope) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
	defer cancel()
	if err := s.cfg.Inbox.InboxDone(ctx, e.id); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("forget envelope", zap.Error(err))
	}
}

// claim takes e for this replica; false means another has it or it is done.
func (s *Slack) claim(ctx context.Context, e envelope) bool {
	_, ok, err := s.cfg.Inbox.ClaimInbox(ctx, e.id, s.cfg.Replica, claimLease)
	if err != nil {
		s.log.Warn("claim envelope; left for a later sweep", zap.String("envelope", e.id), zap.Error(err))
		return false
	}
	return ok
}

// renewClaim keeps e claimed until the returned func is called.
func (s *Slack) renewClaim(base context.Context, e envelope) (stop func()) {
	ctx, cancel := context.WithCancel(base)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(claimLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
			_, err := s.cfg.Inbox.RenewInbox(rctx, e.id, s.cfg.Replica, claimLease)
			rcancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("renew the claim on an envelope", zap.String("envelope", e.id), zap.Error(err))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// done marks e served.
func (s *Slack) done(ctx context.Context, e envelope) {
	if err := s.cfg.Inbox.InboxDone(ctx, e.id); err != nil {
		s.log.Warn("mark envelope done", zap.String("envelope", e.id), zap.Error(err))
	}
}

// sweep hands to the workers, until ctx ends, the inbox items left by
// replicas that stopped before serving them: as many as the queue has room
// for, every SweepEvery.
func (s *Slack) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for s.sweepOnce(ctx) {
		}
	}
}

// sweepOnce claims a batch of stale items and queues them for the workers
// (who claim them again: a claim's holder may). It reports whether there
// may be more and room for them.
func (s *Slack) sweepOnce(ctx context.Context) bool {
	room := cap(s.work) - len(s.work)
	if room <= 0 {
		return false
	}
	items, err := s.cfg.Inbox.ClaimStale(ctx, s.cfg.Replica, time.Now().Add(-staleAfter), claimLease, maxAttempts,
		min(room, sweepBatch))
	if err != nil {
		s.log.Warn("sweep the inbox", zap.Error(err))
		return false
	}
	for _, it := range items {
		e, err := envelopeOf(it)
		if err != nil {
			s.log.Error("undecodable inbox item", zap.String("envelope", it.ID), zap.Error(err))
			s.done(ctx, envelope{id: it.ID})
			continue
		}
		s.log.Info("serving work a stopped replica left", zap.String("envelope", it.ID), zap.Int("attempt", it.Attempts))
		if s.enqueue(s.log, "swept", e) != nil {
			return false // draining or full: the claim runs out and a later sweep takes it
		}
	}
	return len(items) == min(room, sweepBatch)
}

func envelopeOf(it store.InboxItem) (envelope, error) {
	var r envelopeRecord
	if err := json.Unmarshal(it.Payload, &r); err != nil {
		return envelope{}, fmt.Errorf("decode inbox item %s: %w", it.ID, err)
	}
	return envelope{id: it.ID, input: r.Input, click: r.Click, responseURL: r.ResponseURL}, nil
}
