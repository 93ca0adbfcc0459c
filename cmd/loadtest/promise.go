package main

import (
	"context"
	"fmt"
	"time"
)

// The promise every run checks: what the requester is told is what
// happens, and every taken command is told its outcome and its job's end.

// countPromises counts, from the run's last tally t of the burst cmds and
// the CreateTasks accepted by subclient ID (subs): the commands whose user
// was told the command was not taken and whose table group still got a
// CreateTask (told-but-run), the requests with more than one card, and the
// commands told "outcome unknown". Job ends were counted by waitJobEnds.
func (w *world) countPromises(cmds []command, t tally, subs map[int]int, res *runResult) {
	b := res.Burst
	var examples []string
	for i, c := range cmds {
		if t.toldUnknown[i] {
			b.UnknownTold++
		}
		if t.toldNo[i] == "" {
			continue
		}
		b.ToldNotTaken++
		if k := subs[c.group.ID]; k > 0 {
			b.ToldButRun++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s was told %q, and %s got %d CreateTask(s)",
					c.user, clip(t.toldNo[i], 90), c.group.Name, k))
			}
		}
	}
	b.DoubleParents, b.StaleCards = t.doubleParents, t.staleCards
	res.ToldButRun, res.UntoldEnds = b.ToldButRun, b.UntoldEnds
	res.DoubleParents, res.UnknownTold = b.DoubleParents, b.UnknownTold
	for _, e := range examples {
		w.note("told but run: %s", e)
	}
}

// watchLate waits, once the fault struck, for the scenario's watch: work
// the bot wrongly kept (an envelope whose user was told to try again, a
// request taken for stuck) shows within it.
func (w *world) watchLate(ctx context.Context) {
	if w.sc.watch <= 0 {
		return
	}
	w.mu.Lock()
	at := w.faultAt
	w.mu.Unlock()
	if at.IsZero() {
		return
	}
	if d := time.Until(at.Add(w.sc.watch)); d > 0 {
		w.s.progress("%s: watching %s more for late work (until %s after the fault)", w.sc.key, d.Round(time.Second), w.sc.watch)
		sleep(ctx, d)
	}
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
