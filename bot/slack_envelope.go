package bot

// What happens to one envelope: it is recognised, recorded and acked
// (slashCommand, interactive, admit), handed to a worker (enqueue), and
// served (serve, process).

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// envelope is one piece of work taken from Slack, in the core's terms.
type envelope struct {
	id          string // the envelope ID: the inbox key
	input       *Input
	click       *Click
	responseURL string
	// claimed is when, by this process's monotonic clock, this replica
	// began the write that claimed the envelope (its Take, or the sweep's
	// claim); zero when it did not. The claim runs claimLease from a moment
	// after this on the database's clock, so a worker that starts well
	// within it holds the claim without claiming it again.
	claimed time.Time
}

// maxAcking bounds the envelopes being recorded and acked at once. They
// are acked concurrently so that a burst does not queue behind each one's
// database writes; past the bound (a store that stalls), envelopes are
// answered "busy" at once.
const maxAcking = 1024

// acking runs take-and-ack for one envelope on its own goroutine; f
// records the envelope within rec, whose deadline is RecordBudget after
// the envelope arrived. Once the sockets are closing, the envelope is
// answered "restarting" at once instead, and when maxAcking envelopes are
// being recorded already (the store is slow), "busy": the connection's
// reader never waits, so every envelope is acked within Slack's window.
func (s *Slack) acking(f func(rec context.Context), ctx context.Context, received time.Time, log *zap.Logger,
	sm *socketmode.Client, evt socketmode.Event) {
	s.ackMu.RLock()
	if s.closing {
		s.ackMu.RUnlock()
		s.cfg.Metrics.envelopes.WithLabelValues(string(evt.Type), "draining").Inc()
		s.refuseAtOnce(ctx, log, sm, evt, restartingAnswer())
		return
	}
	select {
	case s.ackers <- struct{}{}:
	default:
		s.ackMu.RUnlock()
		log.Warn("too many envelopes being recorded; envelope answered busy")
		s.cfg.Metrics.envelopes.WithLabelValues(string(evt.Type), "busy").Inc()
		s.refuseAtOnce(ctx, log, sm, evt, busyNowAnswer())
		return
	}
	s.acks.Add(1)
	s.lull.begin()
	s.ackMu.RUnlock()
	go func() {
		defer func() { <-s.ackers; s.lull.end(); s.acks.Done() }()
		rec, cancel := context.WithDeadline(ctx, received.Add(s.cfg.RecordBudget))
		defer cancel()
		f(rec)
		s.cfg.Metrics.ackSeconds.Observe(time.Since(received).Seconds())
	}()
}

// ackYield is how long a worker that is about to start on an envelope
// waits for the envelopes being recorded and acked: under a burst the
// acks go first (Slack waits for them; the work waits in the queue), on a
// store and CPUs that both would share. With the database a round trip of
// 2 ms away, a burst's group commits take tens of ms each: at 20 ms the
// workers' statements came in between them (the load suite's pglatency
// ack p99 was 190–430 ms; 150–290 ms at 100 ms). Under a steady load an
// ack is in flight for a few ms, so the wait is that short.
const ackYield = 100 * time.Millisecond

// lull tells the workers when no envelope is being acked.
type lull struct {
	mu    sync.Mutex
	n     int           // envelopes being recorded and acked
	quiet chan struct{} // closed once n is 0
}

func (l *lull) begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		l.quiet = make(chan struct{})
	}
	l.n++
}

func (l *lull) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n--; l.n == 0 {
		close(l.quiet)
	}
}

// wait waits until no envelope is being acked, for at most d.
func (l *lull) wait(d time.Duration) {
	l.mu.Lock()
	quiet := l.quiet
	busy := l.n > 0
	l.mu.Unlock()
	if !busy {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-quiet:
	case <-t.C:
	}
}

// refuseAtOnce acks an envelope that was not taken, telling its sender m:
// in the ack of a slash command, through the response_url of a click (whose
// ack cannot carry a message).
func (s *Slack) refuseAtOnce(ctx context.Context, log *zap.Logger, sm *socketmode.Client, evt socketmode.Event, m Message) {
	if evt.Request == nil {
		return
	}
	if evt.Type == socketmode.EventTypeSlashCommand {
		s.ack(ctx, log, sm, evt.Request, ephemeralAck(m))
		return
	}
	s.ack(ctx, log, sm, evt.Request, nil)
	if cb, ok := evt.Data.(slack.InteractionCallback); ok {
		go s.tellLater(ctx, log, cb.ResponseURL)
	}
}

// ephemeralAck is m as a slash command's ack payload: shown to the caller only.
func ephemeralAck(m Message) map[string]any {
	p := map[string]any{"response_type": "ephemeral", "text": m.Text}
	if len(m.Blocks) > 0 {
		p["blocks"] = m.Blocks
	}
	return p
}

func (s *Slack) slashCommand(ctx, rec context.Context, log *zap.Logger, c *socketmode.Client, evt socketmode.Event) {
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok || evt.Request == nil {
		log.Warn("slash command envelope without a command")
		if evt.Request != nil {
			s.ack(ctx, log, c, evt.Request, nil)
		}
		return
	}
	req := evt.Request
	log = log.With(zap.String("envelope", req.EnvelopeID), zap.String("user", cmd.UserID), zap.String("channel", cmd.ChannelID),
		zap.Int("retry_attempt", req.RetryAttempt))
	var answer *Message
	if cmd.Command != s.cfg.Command {
		m := notServedAnswer(s.cfg.Command)
		answer = &m
		s.cfg.Metrics.envelopes.WithLabelValues("slash_commands", "ignored").Inc()
	} else {
		in := &Input{User: cmd.UserID, Channel: cmd.ChannelID, Text: cmd.Text, Origin: req.EnvelopeID}
		var taken bool
		answer, taken = s.admit(rec, log, "slash_commands", cmd.TriggerID, envelope{id: req.EnvelopeID, input: in,
			responseURL: cmd.ResponseURL})
		if taken { // the sender sees at once that it is under way
			answer = s.cfg.Handler.Receipt(*in)
		}
	}
	var payload any
	if answer != nil {
		payload = ephemeralAck(*answer)
	}
	s.ack(ctx, log, c, req, payload)
}

func (s *Slack) interactive(ctx, rec context.Context, log *zap.Logger, c *socketmode.Client, evt socketmode.Event) {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || evt.Request == nil {
		if evt.Request != nil {
			s.ack(ctx, log, c, evt.Request, nil)
		}
		return
	}
	req := evt.Request
	log = log.With(zap.String("envelope", req.EnvelopeID), zap.String("user", cb.User.ID))
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		s.ack(ctx, log, c, req, nil)
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	answer, _ := s.admit(rec, log, "interactive", cb.TriggerID, envelope{id: req.EnvelopeID, click: &Click{User: cb.User.ID,
		Channel: channel, MessageTS: ts, ActionID: a.ActionID, Value: a.Value,
		TeamID: cb.Team.ID, AppID: cb.APIAppID, EnterpriseID: cb.Enterprise.ID}, responseURL: cb.ResponseURL})
	s.ack(ctx, log, c, req, nil)
	if answer != nil { // a click's ack cannot carry a message
		s.tellLater(ctx, log, cb.ResponseURL)
	}
}

// admit takes an envelope: it recognises Slack's retries of it (by envelope
// and trigger ID), records it in the inbox, and hands it to a worker without
// blocking. It reports whether it was taken, and returns the answer for
// the sender when it was not: nil for a retry, else why they should try
// again (restarting, cannot record, busy). Whatever it refuses never runs: a place in the queue is
// taken before anything is recorded, and an envelope whose recording failed
// is refused in the inbox too (a tombstone a late commit cannot overwrite).
func (s *Slack) admit(rec context.Context, log *zap.Logger, typ, trigger string, e envelope) (answer *Message, taken bool) {
	s.admitting.RLock() // the drain waits for the admissions under way
	defer s.admitting.RUnlock()
	if s.draining {
		log.Info("shutting down; envelope answered restarting")
		s.cfg.Metrics.envelopes.WithLabelValues(typ, "draining").Inc()
		m := restartingAnswer()
		return &m, false
	}
	if !s.reserve() {
		log.Warn("work queue full; envelope answered busy")
		s.cfg.Metrics.envelopes.WithLabelValues(typ, "busy").Inc()
		m := busyNowAnswer()
		return &m, false
	}
	e.claimed = time.Now()
	seen, err := s.remember(rec, trigger, e)
	switch {
	case err != nil: // cannot tell: taking it could submit twice, dropping it loses it
		s.unreserve()
		log.Error("cannot record the envelope; answered try again", zap.Error(err))
		s.refuse(log, e.id)
		s.cfg.Metrics.envelopes.WithLabelValues(typ, "unrecorded").Inc()
		m := unrecordedAnswer()
		return &m, false
	case seen:
		s.unreserve()
		log.Info("duplicate envelope dropped")
		s.cfg.Metrics.envelopes.WithLabelValues(typ, "duplicate").Inc()
		return nil, false
	}
	s.work <- e // its place was reserved: this never blocks
	s.cfg.Metrics.envelopes.WithLabelValues(typ, "queued").Inc()
	return nil, true
}

// reserve takes a place in the work queue, if there is one.
func (s *Slack) reserve() bool {
	select {
	case s.places <- struct{}{}:
		return true
	default:
		return false
	}
}

// unreserve gives a place in the work queue back.
func (s *Slack) unreserve() { <-s.places }

// tellLater answers a click that could not be taken through its
// response_url (a click's ack cannot carry a message).
func (s *Slack) tellLater(ctx context.Context, log *zap.Logger, url string) {
	if url == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	msg := &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: clickNotTakenAnswer().Text}
	if err := slack.PostWebhookContext(ctx, url, msg); err != nil {
		log.Warn("tell a click to retry", zap.Error(withoutURL(err)))
	}
}

// ack acknowledges an envelope within the ack timeout, whatever happens.
func (s *Slack) ack(ctx context.Context, log *zap.Logger, c *socketmode.Client, req *socketmode.Request, payload any) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	if err := c.AckCtx(ctx, req.EnvelopeID, payload); err != nil {
		log.Error("ack", zap.Error(err))
	}
}

// serve claims an envelope (unless this replica's claim from taking or
// sweeping it surely holds), runs it (renewing the claim meanwhile, so no
// other replica takes it up while it runs), and marks it done.
func (s *Slack) serve(base context.Context, e envelope) {
	if !s.stillClaimed(e) {
		ctx, cancel := context.WithTimeout(base, s.cfg.AckTimeout)
		claimed := s.claim(ctx, e)
		cancel()
		if !claimed {
			return
		}
	}
	stopRenewing := s.renewClaim(base, e)
	s.process(base, e)
	stopRenewing()
	ctx, cancel := context.WithTimeout(base, s.cfg.AckTimeout)
	defer cancel()
	s.done(ctx, e)
}

// process runs one envelope, with its own deadline.
func (s *Slack) process(base context.Context, e envelope) {
	ctx, cancel := context.WithTimeout(base, s.cfg.WorkTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic while handling an envelope", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	switch {
	case e.input != nil:
		in := *e.input
		in.ResponseURL = e.responseURL
		s.cfg.Handler.Handle(ctx, in)
	case e.click != nil:
		c := *e.click
		c.ResponseURL = e.responseURL
		s.cfg.Handler.Click(ctx, c)
	}
}
