package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault/simulator"
)

const (
	pollInterval      = 2 * time.Second  // BACKUPBOT_JOB_POLL_INTERVAL of every bot
	burstJobDuration  = time.Second      // how long the burst's jobs run in the simulator
	followJobDuration = 60 * time.Second // the followed jobs outlast the measurement
	followIntervals   = 2                // poll intervals the reads are counted over
	quietFor          = 5 * time.Second  // no new answer for this long: the rest will not come
	settleCap         = 60 * time.Second // the longest wait for a phase's answers
	tickEvery         = 50 * time.Millisecond
	slackAckLimit     = 3 * time.Second                                   // Slack shows the user an error when an envelope's ack takes longer
	jobEndsWait       = burstJobDuration + 2*pollInterval + 3*time.Second // after the last answer
	channel           = "C0LOAD"
	busyChannel       = "C0BUSY" // a scenario's busy commands go here (Slack's faults pick it)
	account           = "aws-load-account"
	policyAccount     = "load"
	cvPassword        = "loadtest-Pw-7c1e"
	faultSeed         = 20261127
)

// policyText lets anyone back up the load account from anywhere.
const policyText = `accounts:
  ` + policyAccount + `:
    client: ` + account + `
    requesters: ["*"]
`

// scenario is one run of the suite.
type scenario struct {
	key       string // as -runs names it
	name      string
	replicas  int
	postgres  bool
	follow    bool          // count Commvault reads with -jobs jobs followed
	spread    time.Duration // the burst is paced over this long; 0: all at once
	failRatio float64       // of the Commvault simulator
	late      time.Duration // after the fault, answers may still come this late (a takeover)
	host      bool          // runs the side runs while it waits for a takeover
	side      bool          // may run while a host waits
	jobEnds   bool          // wait for the burst's job ends to be posted
	endsWait  time.Duration // how long to wait for them; 0: jobEndsWait
	fault     func(ctx context.Context, w *world) (string, error)
	precheck  func(ctx context.Context, s *suite) string // a reason to skip, or ""
	// prepare, if set, puts a fault in force before the burst is sent and
	// says what it is (the fake Slack's faults).
	prepare func(w *world) string
	busy    int           // the first busy commands of the burst go to busyChannel
	watch   time.Duration // after the fault struck, watch this long for late work before counting
	lateWhy string        // why answers may come late, for the report
	args    []string      // the command line of the last replica (the others get none)
	checks  checks        // the musts beyond the suite's own
	// n, when set, is the burst's size instead of -n; channels spreads it
	// over that many channels, in turn (0: one).
	n, channels int
	jobDuration time.Duration // of the burst's jobs; 0: burstJobDuration
	slackLimits bool          // the fake Slack enforces Slack's rate limits (slacktest.SlackRateLimits)
	cardsWait   time.Duration // after the job ends, wait up to this long for every card to show its final state
	dbDelay     time.Duration // PostgreSQL is this far away, each way (the proxy delays every chunk)
	// ceiling runs the rates of -rates one after the other instead of a
	// burst (see ceiling.go).
	ceiling bool
	// floor runs the null app instead of the bot (see floor.go): only its
	// acks are judged.
	floor bool
}

// checks are musts that only some runs judge.
type checks struct {
	oneParent bool // no request has more than one card
	noUnknown bool // no command is told "outcome unknown"
	oneEnd    bool // no job's end is posted twice
	noEarly   bool // no Web API call before an earlier 429's Retry-After passed
	// idsWithin and endsWithin, when set, bound the time from the first
	// command to the last IDs reply and to the last job end Slack took.
	idsWithin, endsWithin time.Duration
}

// burst is the scenario's burst size.
func (sc scenario) burst(o options) int {
	if sc.ceiling {
		return ceilingSize(o.rates, o.step)
	}
	if sc.n > 0 {
		return sc.n
	}
	return o.n
}

// burstJobs is how long the burst's jobs run.
func (sc scenario) burstJobs() time.Duration {
	if sc.jobDuration > 0 {
		return sc.jobDuration
	}
	return burstJobDuration
}

// world is what one run runs against: the fakes, the bots, the database.
type world struct {
	s          *suite
	sc         scenario
	dir        string
	sim        *simulator.Server
	simURL     string
	slack      *slacktest.Server
	dbURL      string
	dbPath     string // the SQLite file; "" on PostgreSQL
	pg         *pgSchema
	proxy      *pgProxy // between the bots and PostgreSQL
	groups     []simulator.TableGroup
	bots       []*botProc
	sent       atomic.Int64 // burst commands sent so far
	acksBefore int          // acks received before the burst
	faultAt    time.Time    // when the fault struck; guarded by mu
	// whileWaiting, if set, is run once while the burst waits for a
	// takeover: the suite runs its side runs then.
	whileWaiting func()
	sendDone     chan struct{} // closed when the burst is sent
	read         *reader
	notes        []string
	closers      []func() error // the fakes' Close, in start order
	mu           sync.Mutex     // guards the commands' delivery fields and notes
}

// topology describes the bots of a scenario.
func (sc scenario) topology() string {
	if sc.floor {
		return "null app, nothing recorded"
	}
	db := "SQLite"
	if sc.postgres {
		db = "PostgreSQL"
	}
	if sc.dbDelay > 0 {
		db += fmt.Sprintf(" %s away", duration(sc.dbDelay))
	}
	if sc.replicas == 1 {
		return "1 replica, " + db
	}
	return fmt.Sprintf("%d replicas, %s", sc.replicas, db)
}

// runScenario runs one scenario from start to clean-up.
func (s *suite) runScenario(ctx context.Context, sc scenario) (res runResult) {
	started := time.Now()
	res = runResult{Key: sc.key, Name: sc.name, Topology: sc.topology()}
	defer func() { res.Wall = duration(time.Since(started)) }()
	if sc.postgres && s.opts.postgres == "" {
		res.Skipped = "no PostgreSQL: set -postgres or BACKUPBOT_TEST_POSTGRES"
		return res
	}
	if sc.precheck != nil {
		if why := sc.precheck(ctx, s); why != "" {
			res.Skipped = why
			return res
		}
	}
	w, err := s.newWorld(ctx, sc)
	if err == nil && sc.host {
		w.whileWaiting = func() {
			if ran := s.runSide(ctx, sc.key); len(ran) > 0 {
				w.note("while this run waited for the takeover, the suite ran: %s", strings.Join(ran, ", "))
			}
		}
	}
	defer func() {
		if w != nil {
			if err := w.close(); err != nil {
				res.Notes = append(res.Notes, "clean-up: "+err.Error())
			}
			res.Notes = append(res.Notes, w.notes...)
		}
		res.judge(sc, s.opts)
	}()
	if err == nil {
		err = w.play(ctx, &res)
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

// newWorld starts the simulator, the fake Slack and the bots.
func (s *suite) newWorld(ctx context.Context, sc scenario) (*world, error) {
	dir, err := os.MkdirTemp(s.dir, sc.key+"-")
	if err != nil {
		return nil, err
	}
	w := &world{s: s, sc: sc, dir: dir, read: newReader(), sendDone: make(chan struct{})}
	load := simulator.Account{Name: account}
	for i := range sc.burst(s.opts) + s.opts.jobs {
		load.TableGroups = append(load.TableGroups, simulator.TableGroup{Name: fmt.Sprintf("tg%04d", i)})
	}
	w.sim = simulator.New(simulator.Config{
		Accounts: []simulator.Account{load}, Password: cvPassword, JobDuration: sc.burstJobs(),
		FailRatio: sc.failRatio, Seed: faultSeed,
	})
	w.groups = w.sim.Accounts()[0].TableGroups
	srv := httptest.NewServer(w.sim) // 127.0.0.1
	w.simURL = srv.URL
	w.closers = append(w.closers, func() error { srv.Close(); return nil })
	if w.slack, err = slacktest.New(sc.slackConfig()); err != nil {
		return w, err
	}
	w.closers = append(w.closers, func() error { w.slack.Close(); return nil })
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(policyText), 0o600); err != nil {
		return w, err
	}
	w.dbPath = filepath.Join(dir, "backupbot.db")
	w.dbURL = "sqlite:" + w.dbPath
	if sc.postgres {
		w.dbPath = ""
		if w.pg, err = newSchema(ctx, s.opts.postgres); err != nil {
			return w, err
		}
		// The bots reach the server through a proxy that counts round trips
		// (and, for dbDelay, delays them).
		if w.proxy, err = startProxy(w.pg.target(), sc.dbDelay); err != nil {
			return w, err
		}
		w.closers = append(w.closers, w.proxy.close)
		if w.dbURL, err = w.pg.through(w.proxy.addr()); err != nil {
			return w, err
		}
	}
	env := w.env(policy)
	bin := s.bin
	if sc.floor {
		if bin, err = os.Executable(); err != nil {
			return w, err
		}
	}
	for i := range sc.replicas {
		var args []string
		if i == sc.replicas-1 {
			args = sc.args
		}
		if sc.floor {
			args = []string{nullAppFlag}
		}
		p, err := startBot(bin, fmt.Sprintf("replica %d", i+1), env, args)
		if err != nil {
			return w, err
		}
		w.bots = append(w.bots, p)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, p := range w.bots {
		if err := p.waitServing(sctx); err != nil {
			return w, err
		}
	}
	if err := w.slack.WaitConnections(sctx, 2*sc.replicas); err != nil {
		err = fmt.Errorf("%d socket-mode connections: %w", 2*sc.replicas, err)
		for _, p := range w.bots {
			err = fmt.Errorf("%w\n%s log:\n%s", err, p.name, p.log.tail(10))
		}
		return w, err
	}
	return w, nil
}

// env is a bot's whole environment.
func (w *world) env(policy string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + w.dir,
		"SLACK_APP_TOKEN=" + w.slack.AppToken(), "SLACK_BOT_TOKEN=" + w.slack.BotToken(), "SLACK_API_URL=" + w.slack.APIURL(),
		"COMMVAULT_API_URL=" + w.simURL + "/commandcenter/api", "COMMVAULT_USERNAME=admin", "COMMVAULT_PASSWORD=" + cvPassword,
		"BACKUPBOT_POLICY=" + policy, "BACKUPBOT_DATABASE_URL=" + w.dbURL, "BACKUPBOT_HTTP_ADDR=127.0.0.1:0",
		"BACKUPBOT_JOB_POLL_INTERVAL=" + pollInterval.String(), "BACKUPBOT_SHUTDOWN_TIMEOUT=2s", "BACKUPBOT_LOG_LEVEL=info",
		"COMMVAULT_TIMEOUT=" + cvTimeout.String(),
	}
}

// play runs the phases: the followed jobs, then the burst (with the fault).
func (w *world) play(ctx context.Context, res *runResult) error {
	if w.sc.ceiling {
		return w.ceiling(ctx, res)
	}
	n, m := w.n(), w.s.opts.jobs
	if w.sc.follow && m > 0 {
		w.s.progress("%s: %d followed jobs, counting Commvault reads over %d poll intervals", w.sc.key, m, followIntervals)
		f, err := w.follow(ctx, w.commands(n, n+m, "follow"))
		res.Follow = f
		if err != nil {
			return err
		}
	}
	w.s.progress("%s: burst of %d commands", w.sc.key, n)
	cmds := w.commands(0, n, "burst")
	for i, c := range cmds {
		if w.sc.channels > 1 {
			c.channel = fmt.Sprintf("%s%d", channel, i%w.sc.channels+1)
		}
	}
	for _, c := range cmds[:min(w.sc.busy, n)] {
		c.channel = busyChannel
	}
	w.acksBefore = len(w.slack.Acks())
	if w.sc.prepare != nil {
		res.Fault = w.sc.prepare(w)
		w.struck()
	}
	faultDone := make(chan struct{})
	if w.sc.fault != nil {
		go func() {
			defer close(faultDone)
			what, err := w.sc.fault(ctx, w)
			res.Fault = what
			if err != nil {
				res.Fault += " — " + err.Error()
				res.FaultFailed = true
			}
		}()
	} else {
		close(faultDone)
	}
	cost := w.startCost()
	profiled := w.profile(ctx)
	go w.send(ctx, cmds, w.sc.spread, w.sendDone, &w.sent)
	b, _ := w.settle(ctx, cmds, w.sendDone, faultDone)
	profiled()
	<-faultDone
	w.watchLate(ctx)
	if w.sc.jobEnds {
		w.waitJobEnds(ctx, cmds, b)
	}
	if w.sc.cardsWait > 0 {
		w.waitCards(ctx, cmds)
	}
	res.Burst = b
	cost(res, n)
	res.Pace = w.measurePace(w.snapshot(cmds))
	w.finish(ctx, cmds, res)
	return ctx.Err()
}

// n is the run's burst size.
func (w *world) n() int { return w.sc.burst(w.s.opts) }

// struck records that the fault struck now.
func (w *world) struck() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faultAt = time.Now()
}

// lateUntil is until when answers may still come: the scenario's takeover
// allowance after its fault struck; zero when there is none.
func (w *world) lateUntil() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.faultAt.IsZero() || w.sc.late <= 0 {
		return time.Time{}
	}
	return w.faultAt.Add(w.sc.late)
}

// note adds a line to the run's notes.
func (w *world) note(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notes = append(w.notes, fmt.Sprintf(format, args...))
}

// close stops the bots and the fakes and drops the schema.
func (w *world) close() error {
	var errs []error
	for i, p := range w.bots {
		if p.alive() {
			p.sampleRSS()
		}
		if code := p.stop(4 * time.Second); code != 0 && !p.killed {
			w.note("%s exited %d on SIGTERM", p.name, code)
		}
		if w.s.opts.logs != "" {
			name := filepath.Join(w.s.opts.logs, fmt.Sprintf("%s-replica-%d.log", w.sc.key, i+1))
			if err := os.WriteFile(name, []byte(p.log.String()), 0o600); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for i := len(w.closers) - 1; i >= 0; i-- {
		if err := w.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if w.pg != nil {
		if err := w.pg.drop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(w.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
