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
	Handle(ctx context.Context, in Input)
	Click(ctx context.Context, c Click)
}

// SlackConfig is what NewSlack needs. API (with the app-level token),
// Handler and Inbox are required.
type SlackConfig struct {
	API         *slack.Client
	Handler     handler
	Log         *zap.Logger
	Command     string        // the slash command served; default "/backup"
	Connections int           // socket-mode connections held open; default 2
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
	places chan struct{}  // one token for each envelope queued, or about to be

	admitting sync.RWMutex // held for reading by admissions and sweeps under way; for writing by the drain
	draining  bool         // shutting down: no new work is taken (under admitting)
	giveUp    atomic.Bool  // past the drain timeout: queued work is left for the next start

	mu sync.Mutex
	up []bool // by connection
}

// NewSlack returns a transport; Run starts it.
func NewSlack(cfg SlackConfig) (*Slack, error) {
	if cfg.API == nil || cfg.Handler == nil || cfg.Inbox == nil {
		return nil, errors.New("new slack transport: an API client, a handler and an inbox are required")
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
	s := &Slack{cfg: cfg, log: cfg.Log, work: make(chan envelope, cfg.Queue), up: make([]bool, cfg.Connections),
		ackers: make(chan struct{}, maxAcking), places: make(chan struct{}, cfg.Queue)}
	for range cfg.Connections {
		s.clients = append(s.clients, socketmode.New(cfg.API, socketmode.OptionPingInterval(cfg.PingInterval)))
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Ready reports whether at least one connection to Slack is open.
func (s *Slack) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, up := range s.up {
		if up {
			return nil
		}
	}
	return errors.New("no socket-mode connection to Slack is open")
}

func (s *Slack) setUp(i int, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up[i] = up
	n := 0
	for _, u := range s.up {
		if u {
			n++
		}
	}
	s.cfg.Metrics.connections.Set(float64(n))
}

// Run holds the connections open and serves envelopes until ctx ends. Then
// it drains: new commands are answered "restarting, try again in a minute"
// while the work already taken finishes (within drain); then it closes the
// connections and returns. It returns early with an error when Slack
// refuses the app-level token.
func (s *Slack) Run(ctx context.Context, drain time.Duration) error {
	connCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	fatal := make(chan error, len(s.clients))
	var conns sync.WaitGroup
	for i, c := range s.clients {
		conns.Add(2)
		go func() {
			defer conns.Done()
			// RunContext returns only with an error: one that is not ours
			// (the context ending) is fatal, such as a refused token.
			if err := c.RunContext(connCtx); connCtx.Err() == nil {
				fatal <- fmt.Errorf("slack socket mode: %w", err)
			}
		}()
		go func() {
			defer conns.Done()
			s.events(connCtx, i, c)
		}()
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
				s.serve(base, e)
			}
		})
	}

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: finishing the work taken", zap.Int("queued", len(s.work)), zap.Duration("within", drain))
	case err = <-fatal:
	}
	stopSweeping()
	sweeper.Wait()
	s.admitting.Lock() // every admission under way has queued its work
	s.draining = true  // from now on, new work is answered "restarting"
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
	stop()
	conns.Wait()
	s.acks.Wait()
	return err
}

// events drains one connection's events: nothing here may block for long,
// or the connection stalls.
func (s *Slack) events(ctx context.Context, i int, c *socketmode.Client) {
	log := s.log.With(zap.Int("connection", i))
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-c.Events:
		}
		received := time.Now()
		switch evt.Type {
		case socketmode.EventTypeConnecting:
			s.setUp(i, false)
		case socketmode.EventTypeConnected:
			s.setUp(i, true)
			log.Info("slack connected")
		case socketmode.EventTypeHello:
			s.setUp(i, true)
		case socketmode.EventTypeIncomingError:
			s.setUp(i, false)
			log.Info("slack connection closed; reconnecting")
		case socketmode.EventTypeConnectionError:
			s.setUp(i, false)
			if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
				log.Warn("slack connection cannot be opened; retrying", zap.Int("attempt", ce.Attempt),
					zap.Duration("backoff", ce.Backoff), zap.Error(ce.ErrorObj))
			}
		case socketmode.EventTypeInvalidAuth:
			s.setUp(i, false)
			log.Error("slack refused the app-level token (invalid_auth)")
		case socketmode.EventTypeSlashCommand:
			s.acking(func(rec context.Context) { s.slashCommand(ctx, rec, log, c, evt) }, ctx, received)
		case socketmode.EventTypeInteractive:
			s.acking(func(rec context.Context) { s.interactive(ctx, rec, log, c, evt) }, ctx, received)
		case socketmode.EventTypeEventsAPI:
			s.ack(ctx, log, c, evt.Request, nil)
		}
	}
}
