package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// inbox records work taken from Slack before it is acked, so that no acked
// work is lost when the replica that took it dies: another replica claims
// it once it is stale. It also remembers envelopes, so Slack's retries are
// taken once. *store.DB is one.
type inbox interface {
	Take(ctx context.Context, ttl time.Duration, keys []string, item store.InboxItem, owner string, lease time.Duration) (seen bool, err error)
	Refuse(ctx context.Context, id string) error
	ClaimInbox(ctx context.Context, id, owner string, lease time.Duration) (store.InboxItem, bool, error)
	RenewInbox(ctx context.Context, id, owner string, lease time.Duration) (bool, error)
	ClaimStale(ctx context.Context, owner string, staleAfter, lease time.Duration, maxAttempts, limit int) ([]store.InboxItem, error)
	ClaimExhausted(ctx context.Context, owner string, lease time.Duration, maxAttempts, limit int) ([]store.InboxItem, error)
	InboxDone(ctx context.Context, id, outcome string) error
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
	maxAttempts = 5 // an item claimed by this many holders (each died, or it cannot be served) is given up, and its sender told
	sweepBatch  = 20
	// refuseFor is how long a refusal that the store does not take is
	// tried again: the envelope's claim keeps the sweep off it meanwhile.
	refuseFor = 2 * time.Minute
)

// envelopeRecord is an envelope as the inbox keeps it.
type envelopeRecord struct {
	Input       *Input `json:"input,omitempty"`
	Click       *Click `json:"click,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
}

// remember records e's trigger ID (which Slack's retries share, under new
// envelope IDs) and, unless it was seen before, e itself in the inbox,
// claimed by this replica, in one write. A retry under the same envelope
// ID is seen by the inbox item's ID, which is kept a day after it is done:
// no key of its own is needed (one row less to write before the ack).
func (s *Slack) remember(ctx context.Context, trigger string, e envelope) (seen bool, err error) {
	var keys []string
	if trigger != "" {
		keys = []string{"trigger:" + trigger}
	}
	payload, err := json.Marshal(envelopeRecord{Input: e.input, Click: e.click, ResponseURL: e.responseURL})
	if err != nil {
		return false, fmt.Errorf("encode envelope %s: %w", e.id, err)
	}
	kind := "command"
	if e.click != nil {
		kind = "click"
	}
	return s.cfg.Inbox.Take(ctx, dedupTTL, keys, store.InboxItem{ID: e.id, Kind: kind, Payload: payload}, s.cfg.Replica, s.cfg.claimLease)
}

// refuse records, in the background, that envelope id must never run:
// its sender was told to try again. A Take that failed is not recorded,
// except when its COMMIT broke as it was sent; the tombstone covers that
// case, and is tried again for refuseFor until the store takes it.
func (s *Slack) refuse(log *zap.Logger, id string) {
	go func() {
		deadline := time.Now().Add(refuseFor)
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
			err := s.cfg.Inbox.Refuse(ctx, id)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				log.Error("cannot record that an envelope was refused; if the store recorded it after all, it may run",
					zap.Error(err))
				return
			}
			time.Sleep(wait)
		}
	}()
}

// stillClaimed reports whether this replica's claim on e, made when it was
// taken or swept, surely holds: a quarter of claimLease has not passed
// since the claiming write began, by this process's monotonic clock, which
// runs no slower than the database's. The claim then needs no second write
// (under a burst, one of each command's few); renewClaim keeps it from
// then on, its first renewal due well before the claim runs out.
func (s *Slack) stillClaimed(e envelope) bool {
	return !e.claimed.IsZero() && time.Since(e.claimed) < s.cfg.claimLease/4
}

// claim takes e for this replica; false means another has it or it is done.
func (s *Slack) claim(ctx context.Context, e envelope) bool {
	_, ok, err := s.cfg.Inbox.ClaimInbox(ctx, e.id, s.cfg.Replica, s.cfg.claimLease)
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
		t := time.NewTicker(s.cfg.claimLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
			_, err := s.cfg.Inbox.RenewInbox(rctx, e.id, s.cfg.Replica, s.cfg.claimLease)
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
	if err := s.cfg.Inbox.InboxDone(ctx, e.id, store.Served); err != nil {
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
// (who claim them again: a claim's holder may, without counting an
// attempt), and tells the senders of items that ran out of attempts. It
// reports whether there may be more and room for them.
func (s *Slack) sweepOnce(ctx context.Context) bool {
	s.giveUpExhausted(ctx)
	s.admitting.RLock()
	defer s.admitting.RUnlock()
	if s.draining {
		return false
	}
	room := 0
	for room < sweepBatch && s.reserve() {
		room++
	}
	defer func() {
		for range room {
			s.unreserve()
		}
	}()
	if room == 0 {
		return false
	}
	claimed := time.Now()
	items, err := s.cfg.Inbox.ClaimStale(ctx, s.cfg.Replica, s.cfg.staleAfter, s.cfg.claimLease, maxAttempts, room)
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
		e.claimed = claimed
		s.log.Info("serving work a stopped replica left", zap.String("envelope", it.ID), zap.Int("attempt", it.Attempts))
		room--      // its place goes with it: the worker gives it back
		s.work <- e // reserved: this never blocks
		s.cfg.Metrics.envelopes.WithLabelValues("swept", "queued").Inc()
	}
	return len(items) == sweepBatch
}

// giveUpExhausted tells the senders of inbox items that ran out of
// attempts that their command or click could not be served, marks them
// done, and counts them.
func (s *Slack) giveUpExhausted(ctx context.Context) {
	items, err := s.cfg.Inbox.ClaimExhausted(ctx, s.cfg.Replica, s.cfg.claimLease, maxAttempts, sweepBatch)
	if err != nil {
		s.log.Warn("sweep the inbox for exhausted work", zap.Error(err))
		return
	}
	for _, it := range items {
		log := s.log.With(zap.String("envelope", it.ID), zap.Int("attempts", it.Attempts))
		e, err := envelopeOf(it)
		if err == nil {
			err = s.tellPrivately(ctx, e, givenUpAnswer(s.cfg.Command, e.input, e.click, it.Attempts))
		}
		if err != nil {
			log.Error("tell the sender of work given up", zap.Error(withoutURL(err)))
		}
		if err := s.cfg.Inbox.InboxDone(ctx, it.ID, store.GivenUp); err != nil {
			log.Warn("mark envelope given up", zap.Error(err))
			continue
		}
		log.Error("work given up after too many attempts; its sender was told")
		s.cfg.Metrics.envelopes.WithLabelValues(it.Kind, "given_up").Inc()
	}
}

// tellPrivately shows m to the sender of e: through its response_url, or
// with chat.postEphemeral when that fails.
func (s *Slack) tellPrivately(ctx context.Context, e envelope, m Message) error {
	to := Input{}
	switch {
	case e.input != nil:
		to = *e.input
	case e.click != nil:
		to = Input{User: e.click.User, Channel: e.click.Channel}
	}
	if e.responseURL != "" {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
		err := slack.PostWebhookContext(ctx, e.responseURL, &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: m.Text})
		cancel()
		if err == nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	_, err := s.cfg.API.PostEphemeralContext(ctx, to.Channel, to.User, slack.MsgOptionText(m.Text, false))
	return err
}

func envelopeOf(it store.InboxItem) (envelope, error) {
	var r envelopeRecord
	if err := json.Unmarshal(it.Payload, &r); err != nil {
		return envelope{}, fmt.Errorf("decode inbox item %s: %w", it.ID, err)
	}
	return envelope{id: it.ID, input: r.Input, click: r.Click, responseURL: r.ResponseURL}, nil
}
