package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

// sleep waits for d or until ctx ends, and reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// settle watches the fake Slack while cmds are sent and answered. Once
// the sending (and the fault) ended, it returns when every delivered
// command is answered, or every acked one is and a second passed without a
// new answer, or no new answer came for a while (w.quiet) and the
// scenario's takeover allowance after its fault has passed; after settleCap in any
// case. While it only waits for a takeover, it runs w.whileWaiting once.
func (w *world) settle(ctx context.Context, cmds []*command, sendDone, faultDone <-chan struct{}) (*phaseResult, tally) {
	ctx, cancel := context.WithTimeout(ctx, settleCap)
	defer cancel()
	defer func() { <-sendDone }() // the sending is bounded; cmds are read after it
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var (
		t             tally
		lastTaskReply time.Time
		lastChange    = time.Now()
		submitted     = 0
		answered      = 0
		finished      = false
	)
	for {
		ended := closed(sendDone) && closed(faultDone) // before the snapshot, which then holds every delivery
		snap := w.snapshot(cmds)
		t = w.read.tally(w.slack, snap)
		now := time.Now()
		if n := t.count[answerSubmitted]; n > submitted {
			submitted, lastTaskReply = n, now
		}
		if n := t.answered(); n != answered {
			answered, lastChange = n, now
		}
		if !finished && ended {
			finished, lastChange = true, now
		}
		if finished {
			idle, late := now.Sub(lastChange), now.Before(w.lateUntil())
			switch {
			case t.answered() >= t.delivered, idle >= time.Second && w.ackedAnswered(snap, t),
				!late && idle >= w.quiet():
				return w.sumUp(cmds, t, lastTaskReply), t
			case late && idle >= time.Second && w.whileWaiting != nil:
				hook := w.whileWaiting
				w.whileWaiting = nil
				hook()
				continue
			}
		}
		select {
		case <-ctx.Done():
			<-sendDone
			t = w.read.tally(w.slack, w.snapshot(cmds))
			return w.sumUp(cmds, t, lastTaskReply), t
		case <-tick.C:
		}
	}
}

// quiet is how long without a new answer ends the wait once any takeover
// allowance has passed: a run with an allowance has waited already.
func (w *world) quiet() time.Duration {
	if w.sc.late > 0 {
		return 2 * time.Second
	}
	return quietFor
}

// ackedAnswered reports whether every acked command is answered.
func (w *world) ackedAnswered(cmds []command, t tally) bool {
	_, acked := latencies(w.slack, cmds)
	for i, c := range cmds {
		if acked[c.envID] && t.answers[i] == answerNone {
			return false
		}
	}
	return true
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sumUp counts the outcomes of a phase from its last tally.
func (w *world) sumUp(all []*command, t tally, lastTaskReply time.Time) *phaseResult {
	cmds := w.snapshot(all)
	lat, _ := latencies(w.slack, cmds)
	p := &phaseResult{
		Commands: len(cmds),
		AckP50:   duration(percentile(lat, 50)), AckP99: duration(percentile(lat, 99)), AckMax: duration(percentile(lat, 100)),
	}
	w.recount(p, cmds, t)
	var first time.Time
	for _, c := range cmds {
		if !c.sentAt.IsZero() && (first.IsZero() || c.sentAt.Before(first)) {
			first = c.sentAt
		}
	}
	if !lastTaskReply.IsZero() && !first.IsZero() {
		p.LastTaskReply = duration(lastTaskReply.Sub(first))
	}
	for _, d := range lat {
		if d > slackAckLimit {
			p.AcksLate++
		}
	}
	if p.AcksLate > 0 {
		w.note("%d ack(s) came later than Slack's %s: Slack shows those users an error instead of the bot's answer", p.AcksLate, slackAckLimit)
	}
	if p.Unacked > 0 {
		w.note("%d command(s) delivered and never acked: Slack shows those users an error "+
			"(operation_timeout); they are not counted as lost", p.Unacked)
	}
	for _, c := range cmds {
		if c.envID == "" && c.err != nil {
			w.note("%d command(s) not delivered; the first: %v", p.Undelivered, c.err)
			break
		}
	}
	return p
}

// recount sets p's answer counts from t.
func (w *world) recount(p *phaseResult, cmds []command, t tally) {
	_, acked := latencies(w.slack, cmds)
	p.Acked = len(acked)
	p.Submitted, p.Failed, p.Unknown = t.count[answerSubmitted], t.count[answerFailed], t.count[answerUnknown]
	p.OtherReply, p.Private = t.count[answerThread], t.count[answerPrivate]
	p.Delivered, p.Undelivered, p.Lost, p.Unacked = 0, 0, 0, 0
	for i, c := range cmds {
		if c.envID != "" {
			p.Delivered++
		}
		switch {
		case c.envID == "":
			p.Undelivered++
		case t.answers[i] != answerNone:
		case acked[c.envID]:
			p.Lost++
		default:
			p.Unacked++
		}
	}
}

// waitJobEnds waits, for a bounded time (the scenario's, else
// jobEndsWait), until every job of the phase's task replies has its end
// posted and so has every job Commvault started for the phase's table
// groups; it counts ends posted more than once, and the jobs that ended
// (a poll interval ago or more) with their end never told in their thread.
func (w *world) waitJobEnds(ctx context.Context, cmds []*command, p *phaseResult) {
	bound := jobEndsWait
	if w.sc.endsWait > 0 {
		bound = w.sc.endsWait
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var t tally
	for {
		t = w.read.tally(w.slack, w.snapshot(cmds))
		posted, _ := t.endsPosted()
		started, untold, running := w.untoldEnds(cmds, t, time.Now())
		if (posted >= len(t.jobs) && untold == 0 && running == 0) || !sleep(ctx, 100*time.Millisecond) {
			p.JobsStarted = started
			break
		}
	}
	if len(w.bots) > 1 && sleep(ctx, pollInterval) { // another replica's copy would come within a poll
		t = w.read.tally(w.slack, w.snapshot(cmds))
	}
	p.JobEndsWaited = true
	p.JobEnds, p.JobEndsExtra = t.endsPosted()
	p.JobEndsWanted = len(t.jobs)
	p.JobsStarted, p.UntoldEnds, _ = w.untoldEnds(cmds, t, time.Now().Add(-pollInterval))
}

// untoldEnds counts the jobs the simulator started for cmds' table groups,
// those of them that had ended by at and whose end t does not show in a
// thread of their command's user, and those still running at at.
func (w *world) untoldEnds(cmds []*command, t tally, at time.Time) (started, untold, running int) {
	byGroup := map[int]string{} // subclient ID → user
	for _, c := range w.snapshot(cmds) {
		byGroup[c.group.ID] = c.user
	}
	for _, j := range w.sim.Jobs() {
		user, ours := byGroup[j.SubclientID]
		switch {
		case !ours:
		case !j.Ended(at):
			started++
			running++
		case !t.endTold(user, j.ID):
			started++
			untold++
		default:
			started++
		}
	}
	return started, untold, running
}

// follow submits cmds as jobs that outlast the measurement, then counts
// the Commvault reads over followIntervals poll intervals.
func (w *world) follow(ctx context.Context, cmds []*command) (*followResult, error) {
	w.sim.SetJobDuration(followJobDuration)
	done := make(chan struct{})
	go w.send(ctx, cmds, 0, done, nil)
	p, _ := w.settle(ctx, cmds, done, done)
	w.sim.SetJobDuration(w.sc.burstJobs())
	f := &followResult{Jobs: len(cmds), Submitted: p.Submitted, Lost: p.Lost, Interval: duration(pollInterval)}
	if p.Submitted == 0 {
		return f, nil
	}
	t0 := time.Now()
	if !sleep(ctx, followIntervals*pollInterval) {
		return f, ctx.Err()
	}
	window := time.Since(t0)
	f.Reads = w.sim.ReadsSince(t0)
	for k := range followIntervals {
		from := t0.Add(time.Duration(k) * pollInterval)
		f.ByInterval = append(f.ByInterval, w.sim.ReadsSince(from)-w.sim.ReadsSince(from.Add(pollInterval)))
	}
	f.Window = duration(window)
	f.PerMinute = math.Round(float64(f.Reads)/window.Minutes()*10) / 10
	f.PerInterval = math.Round(float64(f.Reads)/(float64(window)/float64(pollInterval))*100) / 100
	return f, nil
}

// commands are the commands for table groups [from, to), one user each.
func (w *world) commands(from, to int, what string) []*command {
	out := make([]*command, 0, to-from)
	for i := from; i < to; i++ {
		g := w.groups[i]
		out = append(out, &command{user: fmt.Sprintf("U0L%05d", i), channel: channel, group: g,
			text: fmt.Sprintf("dynamodb %s %s full load test %s %d", policyAccount, g.Name, what, i)})
	}
	return out
}

// send delivers cmds, paced over spread, counts them in sent (if not nil)
// and closes done. It takes at most spread + 30 s.
func (w *world) send(ctx context.Context, cmds []*command, spread time.Duration, done chan<- struct{}, sent *atomic.Int64) {
	defer close(done)
	ctx, cancel := context.WithTimeout(ctx, spread+30*time.Second)
	defer cancel()
	start := time.Now()
	for i, c := range cmds {
		if spread > 0 {
			sleep(ctx, time.Until(start.Add(spread*time.Duration(i)/time.Duration(len(cmds)))))
		}
		at := time.Now()
		id, err := w.deliver(ctx, c)
		w.mu.Lock()
		c.sentAt, c.envID, c.err = at, id, err
		w.mu.Unlock()
		if sent != nil {
			sent.Add(1)
		}
	}
}

// snapshot copies cmds as the sending has filled them in so far.
func (w *world) snapshot(cmds []*command) []command {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]command, len(cmds))
	for i, c := range cmds {
		out[i] = *c
	}
	return out
}

// deliver sends one slash command, waiting for a connection when Slack has
// none open (as during a disconnect), for at most 10 s.
func (w *world) deliver(ctx context.Context, c *command) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		id, err := w.slack.SlashCommand(sctx, slacktest.SlashCommand{UserID: c.user, ChannelID: c.channel, Text: c.text})
		cancel()
		if err == nil || !errors.Is(err, slacktest.ErrNoConnection) || time.Now().After(deadline) || ctx.Err() != nil {
			return id, err
		}
		wctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_ = w.slack.WaitConnections(wctx, 1)
		cancel()
	}
}
