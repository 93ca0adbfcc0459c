// Command loadtest is backupbot's load and fault suite. It builds the bot,
// runs it as one or more subprocesses against an in-process fake Slack
// (bot/slacktest) and Commvault simulator, both on 127.0.0.1, and reports:
// ack latency and the time to the last thread reply for a burst of N slash
// commands, CreateTasks, lost requests, double submissions, the bot's peak
// RSS, and Commvault reads with M jobs followed; with one replica on
// SQLite, with two on PostgreSQL, and under faults (kill -9 of a replica,
// a PostgreSQL restart, Slack disconnects, Commvault 500s). The "told"
// runs check that what a requester is told is what happens: under a
// database stalled mid-burst (stall, stallpg), a busy channel whose cards
// Slack answers 429 with Retry-After 40 s (slowslack), two replicas whose
// clocks are 20 s apart (skew), and job-end posts that fail twice
// (endfail). They are not in the default set (-runs told runs them), and
// neither is slackrate: 30 commands over 3 channels against a fake Slack
// that enforces Slack's rate limits, which must get every IDs reply out
// within 20 s and every job's end within 36 s, with no call made before a
// Retry-After had passed. Nor are the ceiling runs (ceiling1: one replica
// on SQLite; ceilingpg, ceilingpg2: one and two on PostgreSQL), which send
// commands at a steady rate over 10 channels, one step per rate of -rates
// (each -step long, its answers awaited before the next), and report the
// highest rate whose ack p99 stays within 1 s, and the highest at which
// every command is taken and answered within 2 s of the last being sent.
// Nor is the floor run, which measures the machine rather than the bot:
// the same burst against a null app (this program run with -null-app)
// that acks each command at once through slack-go and records nothing;
// the report then gives every run's ack p50 and p99 as multiples of its.
//
//	go run ./cmd/loadtest [-n 500] [-jobs 50] [-postgres URL] [-runs baseline,replicas,faults,floor]
//	                      [-timeout 0] [-json] [-bin BINARY] [-logs DIR] [-rates 50,100,…] [-step 3s]
//
// Every command is for its own table group and user. A command is lost
// when the bot acked it and then neither replied in its thread nor showed
// its user a private answer; a double submission is a table group with
// more than one CreateTask. Commands never acked (written to a replica as
// it died) are reported apart: Slack tells those users it failed. A
// command is told-but-run when its user was told it was not taken
// ("Nothing was submitted" or "try again", privately or in the ack, or
// "did not start" in its thread) and its table group got a CreateTask
// anyway, by the end of the run; an untold end is a job Commvault started
// for the burst whose end was never posted in its thread (in the runs that
// wait for job ends). Every run also counts requests with more than one
// card and commands told "outcome unknown"; the slowslack and skew runs
// fail on them.
//
// The runs with a replica fault wait for answers until the bot's takeover
// of a stopped replica's work is due (36 s); meanwhile the single-replica
// fault runs run. The told runs watch for late work for up to 70 s after
// their fault. The PostgreSQL runs need -postgres (default
// $BACKUPBOT_TEST_POSTGRES) and use a fresh schema each, dropped at the
// end; the PostgreSQL restart runs only as root, with pg_ctlcluster, on a
// local server no one else is connected to.
//
// It exits 1 when a run lost a request, submitted a table group twice, ran
// a command it told its user it had not taken, left a job's end untold,
// missed a CreateTask without an injected failure, could not inject its
// fault, or did not complete; 2 when it could not run at all.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == nullAppFlag {
		if err := runNullApp(); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest: null app:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	n := flag.Int("n", 500, "burst size: slash commands, one per table group")
	jobs := flag.Int("jobs", 50, "jobs followed while Commvault reads are counted")
	postgres := flag.String("postgres", os.Getenv("BACKUPBOT_TEST_POSTGRES"),
		"PostgreSQL URL for the runs with replicas (default $BACKUPBOT_TEST_POSTGRES); empty: they are skipped")
	runs := flag.String("runs", "baseline,replicas,faults",
		"runs, comma-separated: baseline, replicas, pg, pglatency, faults (= kill, pgrestart, disconnects, cv500), "+
			"told (= stall, stallpg, slowslack, skew, endfail), slackrate, ceiling (= ceiling1, ceilingpg, ceilingpg2), floor, or any of those")
	timeout := flag.Duration("timeout", 0, "bound on the whole suite, build included (0: 110s, plus 90s for each told run)")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	bin := flag.String("bin", "", "run this backupbot binary instead of building ./cmd/backupbot")
	logs := flag.String("logs", "", "write every bot's log to this directory (RUN-replica-K.log)")
	profile := flag.String("profile", "", "build the bot with -tags loadprofile and write each bot's CPU, block and mutex profiles and execution trace "+
		"of the burst to this directory (RUN-replica-K.KIND.pprof)")
	profileSeconds := flag.Int("profile-seconds", 3, "how long -profile profiles, from the start of the burst")
	rates := flag.String("rates", "50,100,200,400,800,1600", "the ceiling runs' rates, commands per second, rising: one step each")
	step := flag.Duration("step", defaultStep, "how long each rate of a ceiling run is sent")
	flag.Parse()
	steps, err := parseRates(*rates)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}

	opts := options{n: *n, jobs: *jobs, postgres: *postgres, timeout: *timeout, bin: *bin, logs: *logs,
		profile: *profile, profileSeconds: *profileSeconds, rates: steps, step: *step}
	for r := range strings.SplitSeq(*runs, ",") {
		if r = strings.TrimSpace(r); r != "" {
			opts.runs = append(opts.runs, r)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	rep, err := runSuite(ctx, opts, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	if *asJSON {
		if err := rep.writeJSON(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(2)
		}
	} else {
		rep.writeText(os.Stdout)
	}
	os.Exit(rep.exitCode())
}

// options are the flags.
type options struct {
	n, jobs  int
	postgres string
	runs     []string
	timeout  time.Duration
	bin      string
	logs     string // where to keep the bots' logs; "" = nowhere
	// profile is where to write the bots' profiles of the burst ("": none),
	// taken over profileSeconds.
	profile        string
	profileSeconds int
	// rates and step are the ceiling runs' (defaultRates and defaultStep
	// when unset).
	rates []int
	step  time.Duration
}

// suite is what every run shares.
type suite struct {
	opts    options
	dir     string // temporary, removed at the end
	bin     string
	out     io.Writer // progress
	started time.Time
	pending []scenario  // side runs not run yet
	results []runResult // in the order they ran
}

func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.out, "[%6.1fs] %s\n", time.Since(s.started).Seconds(), fmt.Sprintf(format, args...))
}

// run runs one scenario and keeps its result, with note if not "".
func (s *suite) run(ctx context.Context, sc scenario, note string) {
	if ctx.Err() != nil {
		s.results = append(s.results, runResult{Key: sc.key, Name: sc.name, Topology: sc.topology(), Verdict: "FAIL",
			Error: "not run: " + ctx.Err().Error(), Failures: []string{"the run did not complete"}})
		return
	}
	s.progress("%s: %s", sc.key, sc.topology())
	res := s.runScenario(ctx, sc)
	if note != "" {
		res.Notes = append(res.Notes, note)
	}
	s.progress("%s: %s in %s", sc.key, res.Verdict, res.Wall)
	s.results = append(s.results, res)
}

// runSide runs the pending side runs while host waits for a takeover, and
// returns their keys.
func (s *suite) runSide(ctx context.Context, host string) []string {
	var ran []string
	for len(s.pending) > 0 && ctx.Err() == nil {
		sc := s.pending[0]
		s.pending = s.pending[1:]
		s.progress("%s waits for a takeover: %s runs meanwhile", host, sc.key)
		s.run(ctx, sc, "ran while the "+host+" run waited for its takeover (its replicas idle meanwhile)")
		ran = append(ran, sc.key)
	}
	return ran
}

// selected resolves -runs to scenarios, in the suite's order.
func selected(names []string) ([]scenario, error) {
	want := map[string]bool{}
	all := scenarios()
	for _, name := range names {
		keys := []string{name}
		switch name {
		case "faults":
			keys = faultKeys()
		case "told":
			keys = toldKeys()
		case "ceiling":
			keys = ceilingKeys()
		}
		for _, k := range keys {
			if !slices.ContainsFunc(all, func(sc scenario) bool { return sc.key == k }) {
				return nil, fmt.Errorf("-runs: unknown run %q (baseline, replicas, pg, pglatency, faults, %s, told, %s, slackrate, ceiling, %s, floor)", name,
					strings.Join(faultKeys(), ", "), strings.Join(toldKeys(), ", "), strings.Join(ceilingKeys(), ", "))
			}
			want[k] = true
		}
	}
	var out []scenario
	for _, sc := range all {
		if want[sc.key] {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-runs: nothing to run")
	}
	return out, nil
}

// defaultTimeout bounds a suite of scs: 110 s, plus 90 s for each told
// run (they watch for late work after their fault), 120 s for slackrate
// (Slack's pace) and, for each ceiling run, its warm-up, its steps, a
// drain of up to 30 s after each and the wait for its backlog.
func defaultTimeout(scs []scenario, o options) time.Duration {
	d := 110 * time.Second
	for _, sc := range scs {
		switch {
		case slices.Contains(toldKeys(), sc.key):
			d += 90 * time.Second
		case sc.slackLimits:
			d += 120 * time.Second
		case sc.ceiling:
			d += 5*time.Second + time.Duration(len(o.rates))*(o.step+ceilingDrainCap) + ceilingSettle
		}
	}
	return d
}

// runSuite builds the bot and runs the selected scenarios one after the
// other, within opts.timeout. Progress goes to progress.
func runSuite(ctx context.Context, opts options, progress io.Writer) (*report, error) {
	switch {
	case opts.n < 1 || opts.n > 5000:
		return nil, fmt.Errorf("-n %d: want 1 to 5000", opts.n)
	case opts.jobs < 0 || opts.jobs > 1000:
		return nil, fmt.Errorf("-jobs %d: want 0 to 1000", opts.jobs)
	case opts.timeout < 0:
		return nil, fmt.Errorf("-timeout %v: want a positive duration, or 0 for the default", opts.timeout)
	case opts.profile != "" && (opts.profileSeconds < 1 || opts.profileSeconds > 60):
		return nil, fmt.Errorf("-profile-seconds %d: want 1 to 60", opts.profileSeconds)
	case opts.step < 0 || opts.step > time.Minute:
		return nil, fmt.Errorf("-step %v: want up to a minute", opts.step)
	}
	if len(opts.rates) == 0 {
		opts.rates = defaultRates
	}
	if opts.step == 0 {
		opts.step = defaultStep
	}
	if n := ceilingSize(opts.rates, opts.step); n > 50000 {
		return nil, fmt.Errorf("-rates and -step: %d commands in all; want at most 50000", n)
	}
	scs, err := selected(opts.runs)
	if err != nil {
		return nil, err
	}
	if opts.timeout == 0 {
		opts.timeout = defaultTimeout(scs, opts)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	if opts.profile != "" {
		if err := os.MkdirAll(opts.profile, 0o755); err != nil {
			return nil, fmt.Errorf("-profile: %w", err)
		}
	}
	if opts.logs != "" {
		if err := os.MkdirAll(opts.logs, 0o755); err != nil {
			return nil, fmt.Errorf("-logs: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "backupbot-loadtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s := &suite{opts: opts, dir: dir, bin: opts.bin, out: progress, started: time.Now()}
	rep := &report{N: opts.n, Jobs: opts.jobs, PollInterval: duration(pollInterval), CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Binary: opts.bin}
	if s.bin == "" {
		s.progress("building ./cmd/backupbot")
		if s.bin, err = buildBot(ctx, dir, opts.profile != ""); err != nil {
			return nil, err
		}
		rep.Binary, rep.Build = "built from ./cmd/backupbot", duration(time.Since(s.started))
	}
	for _, sc := range scs {
		if sc.side {
			s.pending = append(s.pending, sc)
		}
	}
	for _, sc := range scs {
		if sc.side {
			if !slices.ContainsFunc(s.pending, func(p scenario) bool { return p.key == sc.key }) {
				continue // it ran while a host waited
			}
			s.pending = slices.DeleteFunc(s.pending, func(p scenario) bool { return p.key == sc.key })
		}
		s.run(ctx, sc, "")
	}
	order := map[string]int{}
	for i, sc := range scs {
		order[sc.key] = i
	}
	rep.Runs = slices.SortedFunc(slices.Values(s.results), func(a, b runResult) int { return order[a.Key] - order[b.Key] })
	rep.Wall = duration(time.Since(s.started))
	rep.Passed = !slices.ContainsFunc(rep.Runs, func(r runResult) bool { return r.Verdict == "FAIL" })
	return rep, nil
}
