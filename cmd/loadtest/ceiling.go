package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The ceiling runs send commands at a steady rate, step after step, each
// rate higher than the last, to find the rate a topology sustains: the
// operator's answer to "when do I add a replica?".
const (
	ceilingAckBound = time.Second      // a step whose ack p99 passes this is past the ceiling
	ceilingKeepUp   = 2 * time.Second  // a step kept up when its last answer came this soon after its last command
	ceilingDrainCap = 30 * time.Second // the longest wait for a step's answers
	// ceilingSettle is the longest wait, after the last step, for every
	// command sent to be answered before the run is judged: a step past
	// the ceiling leaves a backlog that the bot still serves, and a command
	// answered late is slow, not lost.
	ceilingSettle   = 2 * time.Minute
	ceilingChannels = 10
	// ceilingWarmup commands, one per channel, are sent over a second and
	// answered before the first step, which would otherwise time the
	// replicas' first connections, prepares and table-group listings: a
	// first 50/s step on two replicas measured ack p99 227 ms, the next
	// 100/s one 23 ms. They count among the commands judged.
	ceilingWarmup = ceilingChannels
)

// defaultRates are the steps' rates, commands per second.
var defaultRates = []int{50, 100, 200, 400, 800, 1600}

// defaultStep is how long each step sends.
const defaultStep = 3 * time.Second

// ceilingResult is what a ceiling run found.
type ceilingResult struct {
	Step  duration      `json:"step_s"` // how long each rate was sent
	Steps []ceilingStep `json:"steps"`
	// AckCeiling is the highest rate tried whose ack p99 stayed within 1 s
	// with every command answered; AckBroke the first that did not (0: no
	// rate tried did).
	AckCeiling int `json:"ack_ceiling_per_s"`
	AckBroke   int `json:"ack_broke_per_s,omitempty"`
	// KeptUp is the highest rate tried at which, besides, every command was
	// taken (none answered busy) and the last was answered within 2 s of
	// being sent: the rate the bot serves as it comes, not only acks.
	KeptUp int `json:"kept_up_per_s"`
}

// ceilingStep is one rate of a ceiling run.
type ceilingStep struct {
	Rate     int      `json:"rate_per_s"` // asked
	Sent     int      `json:"sent"`
	Achieved float64  `json:"achieved_per_s"` // commands sent over the time the sending took
	AckP50   duration `json:"ack_p50_s"`
	AckP99   duration `json:"ack_p99_s"`
	AckMax   duration `json:"ack_max_s"`
	// Lag is from the step's last command sent to its last one answered
	// (capped at 30 s, then Unanswered says how many were not).
	Lag        duration `json:"lag_s"`
	Unanswered int      `json:"unanswered"`
	NotTaken   int      `json:"not_taken"` // told "try again" (busy, restarting): not taken
	CPUPerCmd  duration `json:"cpu_s_per_command"`
	Kept       bool     `json:"kept_up"`
}

// ceilingScenarios are the ceiling runs: one replica on SQLite, one and
// two on PostgreSQL.
func ceilingScenarios() []scenario {
	return []scenario{
		{key: "ceiling1", name: "throughput ceiling", replicas: 1, ceiling: true},
		{key: "ceilingpg", name: "throughput ceiling", replicas: 1, postgres: true, ceiling: true},
		{key: "ceilingpg2", name: "throughput ceiling", replicas: 2, postgres: true, ceiling: true},
	}
}

// ceilingKeys are the runs "-runs ceiling" stands for.
func ceilingKeys() []string { return []string{"ceiling1", "ceilingpg", "ceilingpg2"} }

// ceilingSize is how many commands a ceiling run may send: every step's.
func ceilingSize(rates []int, step time.Duration) int {
	n := ceilingWarmup
	for _, r := range rates {
		n += stepSize(r, step)
	}
	return n
}

func stepSize(rate int, step time.Duration) int {
	return max(1, int(math.Round(float64(rate)*step.Seconds())))
}

// ceiling runs the steps until one's ack p99 passes 1 s or its commands
// are not all answered within 30 s, then counts the commands sent as the
// burst, as other runs do: lost, double, told-but-run.
func (w *world) ceiling(ctx context.Context, res *runResult) error {
	rates, step := w.s.opts.rates, w.s.opts.step
	cmds := w.commands(0, w.n(), "ceiling")
	for i, c := range cmds {
		c.channel = fmt.Sprintf("%s%d", channel, i%ceilingChannels+1)
	}
	c := &ceilingResult{Step: duration(step)}
	res.Ceiling = c
	w.acksBefore = len(w.slack.Acks())
	cost := w.startCost()
	warm := w.ceilingStep(ctx, cmds[:ceilingWarmup], ceilingWarmup, time.Second)
	w.s.progress("%s: warm-up, %d commands over 1s: ack max %s, %d unanswered", w.sc.key, ceilingWarmup, warm.AckMax, warm.Unanswered)
	sent := ceilingWarmup
	for _, rate := range rates {
		if ctx.Err() != nil {
			break
		}
		k := stepSize(rate, step)
		st := w.ceilingStep(ctx, cmds[sent:sent+k], rate, step)
		sent += k
		w.s.progress("%s: %d/s: ack p99 %s, last answer %s after the last command, %d unanswered, %d not taken",
			w.sc.key, rate, st.AckP99, st.Lag, st.Unanswered, st.NotTaken)
		c.Steps = append(c.Steps, st)
		if time.Duration(st.AckP99) > ceilingAckBound || st.Unanswered > 0 {
			c.AckBroke = rate
			break
		}
		c.AckCeiling = rate
	}
	c.KeptUp = keptUp(c.Steps)
	done := cmds[:sent]
	w.drainBacklog(ctx, done)
	t := w.read.tally(w.slack, w.snapshot(done))
	res.Burst = w.sumUp(done, t, time.Time{})
	cost(res, sent)
	w.finish(ctx, done, res)
	return ctx.Err()
}

// drainBacklog waits, for at most ceilingSettle, until every command of cmds
// that was delivered is answered.
func (w *world) drainBacklog(ctx context.Context, cmds []*command) {
	sctx, cancel := context.WithTimeout(ctx, ceilingSettle)
	defer cancel()
	start := time.Now()
	for {
		t := w.read.tally(w.slack, w.snapshot(cmds))
		if t.answered() >= t.delivered {
			if d := time.Since(start); d > time.Second {
				w.s.progress("%s: the backlog was answered %s after the last step", w.sc.key, duration(d.Round(100*time.Millisecond)))
			}
			return
		}
		if !sleep(sctx, 250*time.Millisecond) {
			w.s.progress("%s: %d command(s) still unanswered %s after the last step", w.sc.key, t.delivered-t.answered(), duration(ceilingSettle))
			return
		}
	}
}

// keptUp is the highest rate of the leading steps that all kept up.
func keptUp(steps []ceilingStep) int {
	r := 0
	for _, st := range steps {
		if !st.Kept {
			break
		}
		r = st.Rate
	}
	return r
}

// ceilingStep sends cmds paced over step and waits for their answers.
func (w *world) ceilingStep(ctx context.Context, cmds []*command, rate int, step time.Duration) ceilingStep {
	st := ceilingStep{Rate: rate, Sent: len(cmds)}
	cpu0 := w.cpuTime()
	done := make(chan struct{})
	start := time.Now()
	go w.send(ctx, cmds, step, done, nil)
	<-done
	last := time.Now()
	if took := last.Sub(start); took > 0 && len(cmds) > 1 {
		st.Achieved = math.Round(float64(len(cmds)-1)/took.Seconds()*10) / 10 // the intervals between them
	}
	dctx, cancel := context.WithTimeout(ctx, ceilingDrainCap)
	defer cancel()
	var t tally
	for {
		t = w.read.tally(w.slack, w.snapshot(cmds))
		if t.answered() >= t.delivered || !sleep(dctx, 100*time.Millisecond) {
			break
		}
	}
	st.Lag = duration(time.Since(last))
	snap := w.snapshot(cmds)
	lat, _ := latencies(w.slack, snap)
	st.AckP50, st.AckP99, st.AckMax = duration(percentile(lat, 50)), duration(percentile(lat, 99)), duration(percentile(lat, 100))
	st.Unanswered = t.delivered - t.answered() + (len(cmds) - t.delivered)
	for _, no := range t.toldNo {
		if no != "" {
			st.NotTaken++
		}
	}
	st.CPUPerCmd = duration(float64(w.cpuTime()-cpu0) / float64(len(cmds)))
	st.Kept = time.Duration(st.AckP99) <= ceilingAckBound && st.Unanswered == 0 && st.NotTaken == 0 &&
		time.Duration(st.Lag) <= ceilingKeepUp
	return st
}

// parseRates reads -rates: commands per second, comma-separated, rising.
func parseRates(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		r, err := strconv.Atoi(f)
		switch {
		case err != nil || r < 1 || r > 10000:
			return nil, fmt.Errorf("-rates: %q is not a rate from 1 to 10000 commands per second", f)
		case len(out) > 0 && r <= out[len(out)-1]:
			return nil, fmt.Errorf("-rates: %d after %d: the rates must rise", r, out[len(out)-1])
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-rates: no rate")
	}
	return out, nil
}

// writeCeiling prints a ceiling run's steps.
func writeCeiling(out io.Writer, c *ceilingResult) {
	broke := "at no rate tried"
	if c.AckBroke > 0 {
		broke = fmt.Sprintf("at %d/s", c.AckBroke)
	}
	fmt.Fprintf(out, "   ceiling: ack p99 within %s up to %d/s (passed it %s); kept up (every command taken and answered within %s) up to %d/s; %s per step\n",
		duration(ceilingAckBound), c.AckCeiling, broke, duration(ceilingKeepUp), c.KeptUp, c.Step)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   rate\tsent\tachieved\tack p50/p99/max\tlast answer after last sent\tunanswered\tnot taken\tCPU/cmd\tkept up")
	for _, st := range c.Steps {
		fmt.Fprintf(tw, "   %d/s\t%d\t%.1f/s\t%s / %s / %s\t%s\t%d\t%d\t%s\t%v\n", st.Rate, st.Sent, st.Achieved,
			st.AckP50, st.AckP99, st.AckMax, st.Lag, st.Unanswered, st.NotTaken, st.CPUPerCmd, st.Kept)
	}
	_ = tw.Flush()
}
