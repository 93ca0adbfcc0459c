package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// duration is a time.Duration that is written in seconds in JSON.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(d).Seconds(), 'f', 3, 64), nil
}

func (d duration) String() string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0"
	case t < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(t)/float64(time.Millisecond))
	case t < 10*time.Second:
		return t.Round(time.Millisecond).String()
	default:
		return t.Round(100 * time.Millisecond).String()
	}
}

// report is the suite's result.
type report struct {
	N            int         `json:"n"`
	Jobs         int         `json:"jobs"`
	PollInterval duration    `json:"poll_interval_s"`
	CPUs         int         `json:"cpus"`
	GoVersion    string      `json:"go_version"`
	Binary       string      `json:"binary"`
	Build        duration    `json:"build_s"`
	Runs         []runResult `json:"runs"`
	Wall         duration    `json:"wall_s"`
	Passed       bool        `json:"passed"`
}

// runResult is one run's figures.
type runResult struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	Topology string `json:"topology"`
	Verdict  string `json:"verdict"` // PASS, FAIL, SKIP
	Skipped  string `json:"skipped,omitempty"`
	Error    string `json:"error,omitempty"`
	Fault    string `json:"fault,omitempty"`
	// FaultFailed says the fault could not be injected as planned (Fault says why).
	FaultFailed bool           `json:"fault_failed,omitempty"`
	Burst       *phaseResult   `json:"burst,omitempty"`
	Pace        *rateResult    `json:"slack_pace,omitempty"` // what the fake Slack saw of the bot's calls
	Ceiling     *ceilingResult `json:"ceiling,omitempty"`    // the steps of a ceiling run
	Follow      *followResult  `json:"follow,omitempty"`
	Lost        int            `json:"lost"`
	Double      int            `json:"double_submissions"` // table groups with more than one CreateTask
	// ToldButRun is the commands whose user was told they were not taken
	// ("Nothing was submitted", "try again", "did not start") and whose
	// table group got a CreateTask anyway, by the end of the run.
	ToldButRun int `json:"told_but_run"`
	// UntoldEnds is the jobs Commvault started for the burst whose end was
	// never posted in their thread (in the runs that wait for job ends).
	UntoldEnds    int     `json:"untold_ends"`
	DoubleParents int     `json:"double_parents"`         // requests with more than one card
	UnknownTold   int     `json:"unknown_told"`           // commands told "outcome unknown" at some point
	PeakRSSKB     []int64 `json:"peak_rss_kib,omitempty"` // per replica, VmHWM
	// CPU is the bots' CPU time (user and system, every replica) from the
	// start of the burst to the end of its count (job ends included where
	// the run waits for them); CPUPerCommand is it per command.
	CPU           duration `json:"cpu_s"`
	CPUPerCommand duration `json:"cpu_s_per_command"`
	// RoundTrips is the bots' round trips to PostgreSQL over the same
	// time (counted by the proxy they connect through), and per command.
	RoundTrips           int64   `json:"round_trips,omitempty"`
	RoundTripsPerCommand float64 `json:"round_trips_per_command,omitempty"`
	// What the live bots say they did with the slash commands' envelopes
	// (backupbot_slack_envelopes_total by result), and their internal errors.
	Envelopes      map[string]int `json:"bot_envelopes,omitempty"`
	InternalErrors int            `json:"bot_internal_errors"`
	Failures       []string       `json:"failures,omitempty"`
	Notes          []string       `json:"notes,omitempty"`
	Wall           duration       `json:"wall_s"`
}

// phaseResult is what became of a phase's slash commands.
type phaseResult struct {
	Commands      int      `json:"commands"`
	Delivered     int      `json:"delivered"` // written to a socket-mode connection
	Acked         int      `json:"acked"`
	AckP50        duration `json:"ack_p50_s"`
	AckP99        duration `json:"ack_p99_s"`
	AckMax        duration `json:"ack_max_s"`
	AcksLate      int      `json:"acks_over_3s"`      // acks later than Slack waits for one
	LastTaskReply duration `json:"last_task_reply_s"` // first command sent → last thread reply with a task ID
	Submitted     int      `json:"submitted"`         // thread reply with the task ID
	Failed        int      `json:"failed"`            // thread reply: Commvault did not start it
	Unknown       int      `json:"unknown"`           // thread reply: outcome unknown
	OtherReply    int      `json:"other_reply"`       // another thread reply
	Private       int      `json:"private"`           // an answer only the user saw
	Lost          int      `json:"lost"`              // acked, never answered
	LostSubmitted int      `json:"lost_create_task"`  // of those, with a CreateTask accepted for their table group
	Unacked       int      `json:"unacked"`           // delivered, never acked (Slack tells the user it failed)
	Undelivered   int      `json:"undelivered"`       // no connection to deliver it on
	CreateTasks   int      `json:"create_tasks"`
	JobEndsWaited bool     `json:"job_ends_waited"` // whether the run waited for the job ends
	JobEnds       int      `json:"job_ends"`
	JobEndsWanted int      `json:"job_ends_wanted"`
	JobEndsExtra  int      `json:"job_ends_extra"` // end replies posted more than once
	JobsStarted   int      `json:"jobs_started"`   // jobs Commvault started for the burst's table groups
	UntoldEnds    int      `json:"untold_ends"`    // of those, ended and never told in their thread
	ToldNotTaken  int      `json:"told_not_taken"` // commands told they were not taken
	ToldButRun    int      `json:"told_but_run"`   // of those, with a CreateTask accepted for their table group
	UnknownTold   int      `json:"unknown_told"`   // commands whose thread said "outcome unknown" at some point
	DoubleParents int      `json:"double_parents"` // requests with more than one card
	StaleCards    int      `json:"stale_cards"`    // cards still "submitting" or "running" at the end
}

// followResult is the Commvault reads counted with jobs followed.
type followResult struct {
	Jobs        int      `json:"jobs"`
	Submitted   int      `json:"submitted"`
	CreateTasks int      `json:"create_tasks"`
	Lost        int      `json:"lost"`
	Interval    duration `json:"poll_interval_s"`
	Window      duration `json:"window_s"`
	Reads       int      `json:"reads"`
	PerMinute   float64  `json:"reads_per_minute"`
	PerInterval float64  `json:"reads_per_poll_interval"`
	ByInterval  []int    `json:"reads_by_interval"`
}

// judge checks the musts: nothing lost, nothing submitted twice, and, in
// the runs without injected failures, one CreateTask per command.
func (r *runResult) judge(sc scenario, o options) {
	if r.Skipped != "" {
		r.Verdict = "SKIP"
		return
	}
	if r.Burst != nil {
		r.Lost += r.Burst.Lost
		switch n := sc.burst(o); {
		case sc.ceiling:
			// It stops at the first rate past the ceiling, and overload may be
			// answered busy: every command taken, and only those, is submitted.
			if taken := r.Burst.Commands - r.Burst.ToldNotTaken; r.Burst.CreateTasks != taken {
				r.Failures = append(r.Failures, fmt.Sprintf("CreateTasks %d, want %d (the commands sent, less those told they were not taken)",
					r.Burst.CreateTasks, taken))
			}
		case sc.floor:
			if r.Burst.Acked != n {
				r.Failures = append(r.Failures, fmt.Sprintf("acked %d, want %d", r.Burst.Acked, n))
			}
		case sc.fault == nil && sc.failRatio == 0 && r.Burst.CreateTasks != n:
			r.Failures = append(r.Failures, fmt.Sprintf("CreateTasks %d, want %d", r.Burst.CreateTasks, n))
		}
	}
	if r.Follow != nil {
		r.Lost += r.Follow.Lost
		if r.Follow.CreateTasks != r.Follow.Jobs {
			r.Failures = append(r.Failures, fmt.Sprintf("followed jobs: CreateTasks %d, want %d", r.Follow.CreateTasks, r.Follow.Jobs))
		}
	}
	if r.Lost > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d lost request(s)", r.Lost))
	}
	r.judgePromise(sc)
	r.judgePace(sc)
	switch why := sc.lateWhy; {
	case sc.late > 0 && why == "":
		r.Notes = append(r.Notes, fmt.Sprintf("answers were awaited until %s after the fault struck "+
			"(the bot serves a stopped replica's claimed work after a 10 s claim and a 5 s sweep, and recovers its half-done requests after 30 s)", duration(sc.late)))
	case sc.late > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("answers were awaited until %s, and what the bot did counted %s, after the fault struck (%s)",
			duration(sc.late), duration(max(sc.watch, sc.late)), why))
	case sc.watch > 0:
		r.Notes = append(r.Notes, fmt.Sprintf("what the bot did was counted %s after the fault struck (%s)", duration(sc.watch), why))
	}
	if b := r.Burst; b != nil && b.LostSubmitted > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d lost request(s) had a CreateTask accepted: a submission in flight when its "+
			"replica stopped is left to the bot's recovery, which reports it after 4 × COMMVAULT_TIMEOUT plus 15 s, "+
			"and it had not by the end of this run", b.LostSubmitted))
	}
	if r.Double > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d double submission(s)", r.Double))
	}
	if r.FaultFailed {
		r.Failures = append(r.Failures, "the fault was not injected as planned")
	}
	if r.Error != "" {
		r.Failures = append(r.Failures, "the run did not complete")
	}
	r.Verdict = "PASS"
	if len(r.Failures) > 0 {
		r.Verdict = "FAIL"
	}
}

// judgePromise checks that what the users were told is what happened.
func (r *runResult) judgePromise(sc scenario) {
	b := r.Burst
	if b == nil {
		return
	}
	if r.ToldButRun > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d command(s) told they were not taken, and run (told-but-run)", r.ToldButRun))
	}
	if b.JobEndsWaited && r.UntoldEnds > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d job end(s) never told in their thread (untold-end)", r.UntoldEnds))
	}
	if sc.checks.oneParent && r.DoubleParents > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d request(s) with more than one card (double parents)", r.DoubleParents))
	}
	if sc.checks.noUnknown && r.UnknownTold > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d command(s) told \"outcome unknown\"", r.UnknownTold))
	}
	if sc.checks.oneEnd && b.JobEndsExtra > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d job end(s) posted more than once", b.JobEndsExtra))
	}
}

// exitCode is 0 when no run failed.
func (rep *report) exitCode() int {
	if rep.Passed {
		return 0
	}
	return 1
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// writeText prints the report for people: a block per run, then a summary.
func (rep *report) writeText(out io.Writer) {
	fmt.Fprintf(out, "backupbot load and fault suite: N=%d commands per burst, M=%d followed jobs, poll interval %s, %d CPUs, %s\n",
		rep.N, rep.Jobs, rep.PollInterval, rep.CPUs, rep.GoVersion)
	fmt.Fprintf(out, "binary: %s (build %s)\n", rep.Binary, rep.Build)
	for _, r := range rep.Runs {
		writeRun(out, r)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\ttopology\tack p50/p99/max\tlast reply\tCreateTasks\tlost\tdouble\ttold-but-run\tuntold-end\t"+
		"peak RSS\tCPU/cmd\tRT/cmd\treads/interval\tverdict")
	for _, r := range rep.Runs {
		ack, last, ct, rss, reads, cpu, rt := "-", "-", "-", "-", "-", "-", "-"
		if r.CPUPerCommand > 0 {
			cpu = r.CPUPerCommand.String()
		}
		if r.RoundTripsPerCommand > 0 {
			rt = strconv.FormatFloat(r.RoundTripsPerCommand, 'f', 1, 64)
		}
		if f := r.Follow; f != nil && f.Window > 0 {
			reads = fmt.Sprintf("%.2f (%d jobs)", f.PerInterval, f.Submitted)
		}
		if b := r.Burst; b != nil {
			ack, ct = b.AckP50.String()+" / "+b.AckP99.String()+" / "+b.AckMax.String(), fmt.Sprintf("%d/%d", b.CreateTasks, b.Commands)
			if b.LastTaskReply > 0 {
				last = b.LastTaskReply.String()
			}
		}
		var peak int64
		for _, kb := range r.PeakRSSKB {
			peak = max(peak, kb)
		}
		if peak > 0 {
			rss = mib(peak)
		}
		lost, double, told, untold := strconv.Itoa(r.Lost), strconv.Itoa(r.Double), strconv.Itoa(r.ToldButRun), strconv.Itoa(r.UntoldEnds)
		if b := r.Burst; b == nil || !b.JobEndsWaited {
			untold = "-"
		}
		if r.Verdict == "SKIP" {
			lost, double, told, untold = "-", "-", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key, r.Topology, ack, last, ct, lost, double,
			told, untold, rss, cpu, rt, reads, r.Verdict)
	}
	_ = tw.Flush()
	writeFloorRatios(out, rep.Runs)
	verdict := "PASSED"
	if !rep.Passed {
		verdict = "FAILED: a run lost requests, submitted twice, ran what it said it would not, left a job's end untold, " +
			"missed a CreateTask or did not complete"
	}
	fmt.Fprintf(out, "\nwall time %s — %s\n", rep.Wall, verdict)
}

// writeRun prints one run's block.
func writeRun(out io.Writer, r runResult) {
	fmt.Fprintf(out, "\n== %s — %s — %s (%s)\n", r.Name, r.Topology, r.Verdict, r.Wall)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "   %s\t%s\n", k, fmt.Sprintf(format, args...)) }
	if r.Skipped != "" {
		row("skipped", "%s", r.Skipped)
	}
	if r.Fault != "" {
		row("fault", "%s", r.Fault)
	}
	if f := r.Follow; f != nil {
		row("followed jobs", "%d submitted of %d, CreateTasks %d, lost %d", f.Submitted, f.Jobs, f.CreateTasks, f.Lost)
		if f.Window > 0 {
			row("Commvault reads", "%d in %s with %d jobs followed: %.1f per minute, %.2f per poll interval (by interval: %s)",
				f.Reads, f.Window, f.Submitted, f.PerMinute, f.PerInterval, ints(f.ByInterval))
		}
	}
	if b := r.Burst; b != nil {
		row("burst", "%d commands, %d delivered, %d acked", b.Commands, b.Delivered, b.Acked)
		row("ack latency", "p50 %s, p99 %s, max %s", b.AckP50, b.AckP99, b.AckMax)
		if b.LastTaskReply > 0 {
			row("last task reply", "%s after the first command", b.LastTaskReply)
		}
		row("answers", "%d submitted, %d failed (Commvault refused), %d unknown outcome, %d other thread reply, %d private",
			b.Submitted, b.Failed, b.Unknown, b.OtherReply, b.Private)
		row("CreateTasks", "%d", b.CreateTasks)
		row("lost", "%d acked and never answered (%d of them with a CreateTask accepted); %d never acked, %d not delivered",
			b.Lost, b.LostSubmitted, b.Unacked, b.Undelivered)
		if b.JobEndsWaited {
			row("job ends", "%d of %d posted, %d posted more than once; of the %d jobs Commvault started, %d ended untold",
				b.JobEnds, b.JobEndsWanted, b.JobEndsExtra, b.JobsStarted, b.UntoldEnds)
		}
		row("promise", "told-but-run %d (of %d told not taken); %d request(s) with more than one card; %d told outcome unknown",
			b.ToldButRun, b.ToldNotTaken, b.DoubleParents, b.UnknownTold)
		if b.JobEndsWaited {
			row("cards", "%d still say submitting or running at the end", b.StaleCards)
		}
	}
	if c := r.Ceiling; c != nil {
		_ = tw.Flush()
		writeCeiling(out, c)
	}
	if p := r.Pace; p != nil {
		row("Slack's pace", "last IDs reply %s, last job end %s after the first command (%d and %d taken); "+
			"%d Web API calls, %d answered 429, %d early; %d card updates taken, the last %s after the first command",
			p.LastIDsReply, p.LastJobEnd, p.IDsReplies, p.JobEnds, p.Calls, p.RateLimited, p.EarlyCalls, p.Updates, p.LastUpdate)
		if p.RateLimited > 0 {
			row("429s", "by method: %s; early calls by method: %s", counts(p.LimitedBy), counts(p.EarlyBy))
		}
	}
	if r.Burst != nil || r.Follow != nil {
		row("double submissions", "%d table group(s) with more than one CreateTask", r.Double)
	}
	if r.Envelopes != nil {
		row("bot's own count", "slash-command envelopes %s; internal errors %d", counts(r.Envelopes), r.InternalErrors)
	}
	if r.CPU > 0 {
		row("CPU", "%s in all, %s per command", r.CPU, r.CPUPerCommand)
	}
	if r.RoundTrips > 0 {
		row("PostgreSQL", "%d round trips, %.1f per command", r.RoundTrips, r.RoundTripsPerCommand)
	}
	if len(r.PeakRSSKB) > 0 {
		var s []string
		for _, kb := range r.PeakRSSKB {
			s = append(s, mib(kb))
		}
		row("peak RSS", "%s", strings.Join(s, ", "))
	}
	for _, f := range r.Failures {
		row("FAILED", "%s", f)
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	_ = tw.Flush()
	if r.Error != "" {
		fmt.Fprintf(out, "   error: %s\n", strings.ReplaceAll(strings.TrimRight(r.Error, "\n"), "\n", "\n      "))
	}
}

// counts renders a count by key, keys sorted: "busy 2, queued 480".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(s, ", ")
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// writeFloorRatios prints, when the floor run ran and passed, each other
// run's ack p50 and p99 as multiples of the floor's (for the runs of the
// same burst size): on a shared machine, the figure that compares.
func writeFloorRatios(out io.Writer, runs []runResult) {
	i := slices.IndexFunc(runs, func(r runResult) bool { return r.Key == floorScenario().key })
	if i < 0 || runs[i].Verdict != "PASS" || runs[i].Burst == nil || runs[i].Burst.AckP50 <= 0 || runs[i].Burst.AckP99 <= 0 {
		return
	}
	floor := runs[i].Burst
	var parts []string
	for _, r := range runs {
		if b := r.Burst; b != nil && r.Key != runs[i].Key && b.Commands == floor.Commands && b.AckP99 > 0 {
			parts = append(parts, fmt.Sprintf("%s %.1f× / %.1f×", r.Key, float64(b.AckP50)/float64(floor.AckP50), float64(b.AckP99)/float64(floor.AckP99)))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(out, "\nack p50 / p99 against the floor's (%s / %s): %s\n", floor.AckP50, floor.AckP99, strings.Join(parts, ", "))
	}
}
