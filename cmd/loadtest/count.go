package main

import (
	"context"
	"math"
	"strings"
	"time"
)

// finish samples the bots' peak RSS and their own counts, and counts what
// became of cmds.
func (w *world) finish(ctx context.Context, cmds []*command, res *runResult) {
	for _, p := range w.bots {
		p.sampleRSS()
		res.PeakRSSKB = append(res.PeakRSSKB, p.rssKB)
		w.scrapeInto(ctx, p, res)
	}
	w.count(cmds, res)
}

// cpuTime is the bots' CPU time so far, every replica's.
func (w *world) cpuTime() time.Duration {
	var cpu time.Duration
	for _, p := range w.bots {
		p.sampleCPU()
		cpu += p.cpu
	}
	return cpu
}

// count counts, at the end of the run, what became of the burst cmds and
// of the followed jobs: CreateTasks, lost and double submissions, and the
// promise's counts.
func (w *world) count(cmds []*command, res *runResult) {
	n, m, b := w.n(), w.s.opts.jobs, res.Burst
	subs := w.sim.Submissions()
	b.CreateTasks = 0
	for _, g := range w.groups[:n] {
		b.CreateTasks += subs[g.ID]
	}
	snap := w.snapshot(cmds)
	t := w.read.tally(w.slack, snap) // as it stands at the end of the run
	_, acked := latencies(w.slack, snap)
	for i, c := range snap {
		if acked[c.envID] && t.answers[i] == answerNone && subs[c.group.ID] > 0 {
			b.LostSubmitted++
		}
	}
	w.recount(b, snap, t) // answers that came while the run watched or waited for job ends
	w.countPromises(snap, t, subs, res)
	if res.Follow != nil {
		res.Follow.CreateTasks = 0
		for _, g := range w.groups[n : n+m] {
			res.Follow.CreateTasks += subs[g.ID]
		}
	}
	for _, k := range subs {
		if k > 1 {
			res.Double++
		}
	}
}

// scrapeInto adds a live bot's own counts to res: what it did with the
// slash-command envelopes, and its internal errors.
func (w *world) scrapeInto(ctx context.Context, p *botProc, res *runResult) {
	if p.killed {
		return
	}
	series, err := p.scrape(ctx)
	if err != nil {
		w.note("no metrics: %v", err)
		return
	}
	for k, v := range series {
		switch {
		case k == "backupbot_internal_errors_total":
			res.InternalErrors += int(v)
		case strings.HasPrefix(k, "backupbot_slack_envelopes_total{") && label(k, "type") == "slash_commands":
			if res.Envelopes == nil {
				res.Envelopes = map[string]int{}
			}
			res.Envelopes[label(k, "result")] += int(v)
		}
	}
}

// startCost samples the bots' CPU time and the round trips to PostgreSQL
// so far; the func it returns sets res's CPU time and round trips per
// command of the burst of n commands (its job ends included, in the runs
// that wait for them) from the difference.
func (w *world) startCost() func(res *runResult, n int) {
	cpu0 := w.cpuTime()
	var trips0 int64
	if w.proxy != nil {
		trips0 = w.proxy.roundTrips()
	}
	return func(res *runResult, n int) {
		cpu := w.cpuTime()
		per := float64(max(n, 1))
		res.CPU = duration(cpu - cpu0)
		res.CPUPerCommand = duration(float64(cpu-cpu0) / per)
		if w.proxy != nil {
			res.RoundTrips = w.proxy.roundTrips() - trips0
			res.RoundTripsPerCommand = math.Round(float64(res.RoundTrips)/per*10) / 10
		}
	}
}
