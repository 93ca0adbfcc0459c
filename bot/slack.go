package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// handler is what the Slack transport hands work to; *Bot is one.
type handler interface {
	// Receipt is what the sender of in sees at once, in the ack, when the
	// command was taken; nil for nothing.
	Receipt(in Input) *Message
	Handle(ctx context.Context, in Input)
	Click(ctx context.Context, c Click)
}

// SlackConfig is what NewSlack needs. API, AppToken, Handler and Inbox
// are required.
type SlackConfig struct {
	API         *slack.Client // the Web API, with the bot token
	AppToken    string        // the app-level token (xapp-…) socket mode connects with
	APIURL      string        // the Web API's base; default slack.APIURL
	Handler     handler
	Log         *zap.Logger
	Command     string        // the slash command served; default "/backup"
	Connections int           // socket-mode connections held open, 1 to 10; default 2
	Stagger     time.Duration // between the starts of successive connections; default 2s
	Workers     int           // envelopes handled at once; default 16
	Queue       int           // envelopes waiting for a worker; default 1024
	AckTimeout  time.Duration // bound on one ack; default 1s
	// RecordBudget bounds, from an envelope's arrival, recognising it and
	// recording it before the ack; default 2s (Slack wants the ack in 3s).
	RecordBudget time.Duration
	WorkTimeout  time.Duration // bound on handling one envelope; default 2m
	PingInterval time.Duration // longest silence from Slack before reconnecting; default 30s
	Metrics      *Metrics      // default: registered nowhere
	Inbox        inbox         // records taken work durably before it is acked; required (a *store.DB)
	Replica      string        // this replica's name, for inbox claims; default host and a random suffix
	SweepEvery   time.Duration // how often the inbox is swept for work stopped replicas left; default 5s

	claimLease, staleAfter time.Duration // tests only: default claimLease, staleAfter
}

// Slack is the socket-mode transport: it holds several connections open
// (a refresh of one never leaves none), acks every envelope at once, and
// hands the work to a bounded pool of workers.
type Slack struct {
	cfg     SlackConfig
	log     *zap.Logger
	work    chan envelope
	clients []*socketmode.Client

	ackers chan struct{}  // one token for each envelope being acked
	acks   sync.WaitGroup // envelopes being acked
	lull   lull           // when none is: the workers start the next envelope then
	places chan struct{}  // one token for each envelope queued, or about to be

	admitting sync.RWMutex // held for reading by admissions and sweeps under way; for writing by the drain
	draining  bool         // shutting down: no new work is taken (under admitting)
	giveUp    atomic.Bool  // past the drain timeout: queued work is left for the next start

	conns   []*conn      // by connection
	closing bool         // the sockets are about to close: envelopes are answered "restarting" (under ackMu)
	ackMu   sync.RWMutex // held for reading while an ack is started; for writing by the shutdown
}

// errorNoConnection is Ready's answer when no connection is open.
var errorNoConnection = errors.New("no socket-mode connection to Slack is open")

// NewSlack returns a transport; Run starts it.
func NewSlack(cfg SlackConfig) (*Slack, error) {
	if cfg.API == nil || cfg.AppToken == "" || cfg.Handler == nil || cfg.Inbox == nil {
		return nil, errors.New("new slack transport: an API client, an app-level token, a handler and an inbox are required")
	}
	if cfg.Connections > maxConnections {
		return nil, fmt.Errorf("new slack transport: %d connections asked for; Slack allows an app %d", cfg.Connections, maxConnections)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if cfg.Stagger == 0 {
		cfg.Stagger = defaultStagger
	}
	setDefault(&cfg.Connections, 2)
	setDefault(&cfg.Workers, 16)
	setDefault(&cfg.Queue, 1024)
	setDefault(&cfg.AckTimeout, time.Second)
	setDefault(&cfg.RecordBudget, 2*time.Second)
	setDefault(&cfg.WorkTimeout, 2*time.Minute)
	setDefault(&cfg.PingInterval, 30*time.Second)
	setDefault(&cfg.SweepEvery, sweepEvery)
	setDefault(&cfg.claimLease, claimLease)
	setDefault(&cfg.staleAfter, staleAfter)
	if cfg.Command == "" {
		cfg.Command = "/backup"
	}
	if cfg.Replica == "" {
		cfg.Replica = replicaName()
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	s := &Slack{cfg: cfg, log: cfg.Log, work: make(chan envelope, cfg.Queue),
		ackers: make(chan struct{}, maxAcking), places: make(chan struct{}, cfg.Queue)}
	for i := range cfg.Connections {
		c := &conn{i: i, log: cfg.Log.With(zap.Int("connection", i))}
		s.conns = append(s.conns, c)
		s.clients = append(s.clients, s.newSocketClient(c))
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Run holds the connections open and serves envelopes until ctx ends.
// Then it shuts down so that other replicas take over: the acks under way
// finish (envelopes arriving meanwhile are answered "restarting, try again
// in a minute"), the sockets close (Slack sends new envelopes to the
// replicas still connected), and the work already taken finishes within
// drain; past drain, queued work is left for the next start and Run waits
// only for what runs. It returns early with an error when Slack refuses
// the app-level token.
func (s *Slack) Run(ctx context.Context, drain time.Duration) error {
	connCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	fatal := make(chan error, len(s.clients))
	var conns sync.WaitGroup
	for i, c := range s.clients {
		conns.Go(func() {
			// Connections start apart, so that Slack's refreshes of them
			// (hours after each opened) do not come together.
			if !sleepCtx(connCtx, time.Duration(i)*s.cfg.Stagger) {
				return
			}
			// RunContext returns only with an error: one that is not ours
			// (the context ending) is fatal, such as a refused token.
			if err := c.RunContext(connCtx); connCtx.Err() == nil {
				fatal <- fmt.Errorf("slack socket mode: %w", err)
			}
		})
		conns.Go(func() { s.events(connCtx, s.conns[i], c) })
	}
	var workers, sweeper sync.WaitGroup
	base := context.WithoutCancel(ctx) // taken work finishes even while shutting down
	sweepCtx, stopSweeping := context.WithCancel(ctx)
	defer stopSweeping()
	sweeper.Go(func() { s.sweep(sweepCtx) })
	for range s.cfg.Workers {
		workers.Go(func() {
			for e := range s.work {
				s.unreserve()
				if s.giveUp.Load() { // recorded and claimed: it runs after the next start, or on another replica
					continue
				}
				s.lull.wait(ackYield)
				s.serve(base, e)
			}
		})
	}

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: closing the connections, then finishing the work taken", zap.Int("queued", len(s.work)),
			zap.Duration("within", drain))
	case err = <-fatal:
	}
	stopSweeping()
	sweeper.Wait()
	s.closeSockets(stop, &conns)
	s.admitting.Lock() // every admission under way has queued its work
	s.draining = true
	close(s.work)
	s.admitting.Unlock()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		s.giveUp.Store(true)
		s.log.Error("shutdown: work still running after the drain timeout; what is queued resumes on the next start, "+
			"and the store stays open for what runs",
			zap.Duration("drain", drain), zap.Int("not_started", len(s.work)))
		<-done // a worker's submission is bounded; the store must outlive it
	}
	return err
}

// ackFlush is how long the sockets stay open after the last ack was
// handed to slack-go, which writes it on its own goroutine.
const ackFlush = 200 * time.Millisecond

// closeSockets lets the acks under way finish (envelopes that arrive
// meanwhile are answered "restarting" at once), then closes the sockets.
func (s *Slack) closeSockets(stop func(), conns *sync.WaitGroup) {
	s.ackMu.Lock()
	s.closing = true
	s.ackMu.Unlock()
	s.acks.Wait()
	time.Sleep(ackFlush)
	stop()
	conns.Wait()
	for _, c := range s.conns {
		c.down()
	}
	s.countConnections()
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// events drains one connection's events: nothing here may block for long,
// or the connection stalls.
func (s *Slack) events(ctx context.Context, c *conn, sm *socketmode.Client) {
	log := c.log
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-sm.Events:
		}
		received := time.Now()
		switch evt.Type {
		case socketmode.EventTypeConnecting:
			c.down()
			s.countConnections()
		case socketmode.EventTypeConnected:
			log.Info("slack connected")
		case socketmode.EventTypeHello:
			s.helloFrom(c, evt)
		case socketmode.EventTypeIncomingError:
			c.down()
			s.countConnections()
			log.Info("slack connection closed; reconnecting")
		case socketmode.EventTypeConnectionError:
			c.down()
			s.countConnections()
			if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
				log.Warn("slack connection cannot be opened; retrying", zap.Int("attempt", ce.Attempt),
					zap.Duration("backoff", ce.Backoff), zap.Error(ce.ErrorObj))
			}
		case socketmode.EventTypeInvalidAuth:
			c.down()
			s.countConnections()
			log.Error("slack refused the app-level token (invalid_auth)")
		case socketmode.EventTypeErrorBadMessage: // one unreadable frame: the connection itself is fine
			s.badMessage(ctx, log, sm, evt)
		case socketmode.EventTypeErrorWriteFailed:
			if wf, ok := evt.Data.(*socketmode.ErrorWriteFailed); ok {
				id := ""
				if wf.Response != nil {
					id = wf.Response.EnvelopeID
				}
				log.Error("could not write to Slack: an ack may be lost", zap.String("envelope", id), zap.Error(wf.Cause))
			}
		case socketmode.EventTypeSlashCommand:
			s.acking(func(rec context.Context) { s.slashCommand(ctx, rec, log, sm, evt) }, ctx, received, log, sm, evt)
		case socketmode.EventTypeInteractive:
			s.acking(func(rec context.Context) { s.interactive(ctx, rec, log, sm, evt) }, ctx, received, log, sm, evt)
		case socketmode.EventTypeEventsAPI:
			s.ack(ctx, log, sm, evt.Request, nil)
		}
	}
}
