package main

// The slackrate run: a burst under Slack's real rate limits (issue #13,
// item 7). The fake Slack enforces SlackRateLimits (chat.postMessage one a
// second per channel with bursts of 3, chat.update Tier 3, …) and answers
// 429 with Retry-After past them; the bot must wait out every Retry-After
// (no early call), keep each channel's posts in order, and still get every
// IDs reply and every job's end out close to the floor Slack's pace sets.

import (
	"context"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

const (
	rateCommands    = 30
	rateChannels    = 3
	rateJobDuration = 3 * time.Second
	// The targets, from the first command: per channel, 10 cards and 10
	// IDs replies at one a second after a burst of 3 take 17 s, and the 10
	// job ends 10 s more (27 s); the targets leave a margin for the rest.
	rateIDsWithin  = 20 * time.Second
	rateEndsWithin = 36 * time.Second
	// rateCardsWait is how long the run waits, after the job ends, for the
	// cards' last updates: chat.update's Tier 3 (50 a minute) takes at
	// least 36 s for one update of each of 30 cards.
	rateCardsWait = 60 * time.Second
)

// slackRateScenario is the slackrate run.
func slackRateScenario() scenario {
	return scenario{key: "slackrate",
		name: fmt.Sprintf("Slack's rate limits: %d commands over %d channels, jobs of %s", rateCommands, rateChannels,
			duration(rateJobDuration)),
		replicas: 1, n: rateCommands, channels: rateChannels, jobDuration: rateJobDuration, slackLimits: true,
		jobEnds: true, endsWait: rateEndsWithin, cardsWait: rateCardsWait,
		checks: checks{noEarly: true, idsWithin: rateIDsWithin, endsWithin: rateEndsWithin}}
}

// rateResult is what the fake Slack saw of the bot's pace.
type rateResult struct {
	LastIDsReply duration `json:"last_ids_reply_s"` // first command → the last IDs reply Slack took
	LastJobEnd   duration `json:"last_job_end_s"`   // first command → the last job end Slack took
	IDsReplies   int      `json:"ids_replies"`
	JobEnds      int      `json:"job_ends"`
	Calls        int      `json:"calls"`        // Web API calls of the run
	RateLimited  int      `json:"rate_limited"` // of those, answered 429
	EarlyCalls   int      `json:"early_calls"`  // made before an earlier 429's Retry-After had passed
	// LimitedBy and EarlyBy count the 429s and the early calls by method.
	LimitedBy  map[string]int `json:"rate_limited_by,omitempty"`
	EarlyBy    map[string]int `json:"early_by,omitempty"`
	Updates    int            `json:"updates"`       // chat.update calls Slack took
	LastUpdate duration       `json:"last_update_s"` // first command → the last card update Slack took
	// Repeated is the thread replies Slack took more than once (the same
	// text in the same thread).
	Repeated int `json:"repeated_replies"`
}

// measurePace reads, from the fake Slack's calls, when the IDs replies and
// the job ends of cmds were taken, counted from the first command sent.
func (w *world) measurePace(cmds []command) *rateResult {
	var first time.Time
	channels := map[string]bool{}
	for _, c := range cmds {
		channels[c.channel] = true
		if !c.sentAt.IsZero() && (first.IsZero() || c.sentAt.Before(first)) {
			first = c.sentAt
		}
	}
	r := &rateResult{LimitedBy: map[string]int{}, EarlyBy: map[string]int{}}
	for _, c := range w.slack.EarlyCalls() {
		r.EarlyCalls++
		r.EarlyBy[c.Method]++
	}
	var lastIDs, lastEnd, lastUpdate time.Time
	taken := map[string]bool{} // thread and text of each reply taken
	for _, c := range w.slack.Calls("") {
		r.Calls++
		switch ok := c.Status == 200 && c.Error == ""; {
		case c.Status == 429:
			r.RateLimited++
			r.LimitedBy[c.Method]++
		case !ok:
		case c.Method == "chat.update":
			r.Updates++
			lastUpdate = later(lastUpdate, c.At)
		case c.Method != "chat.postMessage" || !channels[c.Params.Get("channel")] || c.Params.Get("thread_ts") == "":
		case taken[c.Params.Get("thread_ts")+"\x00"+c.Params.Get("text")]:
			r.Repeated++
			w.note("a thread reply taken twice: %q", clip(c.Params.Get("text"), 120))
		case !mark(taken, c.Params.Get("thread_ts")+"\x00"+c.Params.Get("text")):
		case w.read.task.MatchString(c.Params.Get("text")):
			r.IDsReplies++
			lastIDs = later(lastIDs, c.At)
		case w.read.jobEnd.MatchString(c.Params.Get("text")):
			r.JobEnds++
			lastEnd = later(lastEnd, c.At)
		}
	}
	if !first.IsZero() {
		if !lastIDs.IsZero() {
			r.LastIDsReply = duration(lastIDs.Sub(first))
		}
		if !lastEnd.IsZero() {
			r.LastJobEnd = duration(lastEnd.Sub(first))
		}
		if !lastUpdate.IsZero() {
			r.LastUpdate = duration(lastUpdate.Sub(first))
		}
	}
	return r
}

// mark adds k to seen and reports true (for use in a switch).
func mark(seen map[string]bool, k string) bool {
	seen[k] = true
	return true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// judgePace checks the pace targets of a run that has them.
func (r *runResult) judgePace(sc scenario) {
	p, c := r.Pace, sc.checks
	if p == nil || r.Burst == nil {
		return
	}
	if c.noEarly && p.EarlyCalls > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d call(s) made before an earlier 429's Retry-After had passed", p.EarlyCalls))
	}
	if c.idsWithin > 0 && (p.IDsReplies < r.Burst.Submitted || p.IDsReplies == 0 || time.Duration(p.LastIDsReply) > c.idsWithin) {
		r.Failures = append(r.Failures, fmt.Sprintf("IDs replies: %d, the last %s after the first command; want all within %s",
			p.IDsReplies, p.LastIDsReply, duration(c.idsWithin)))
	}
	if c.endsWithin > 0 && (p.JobEnds < r.Burst.JobsStarted || p.JobEnds == 0 || time.Duration(p.LastJobEnd) > c.endsWithin) {
		r.Failures = append(r.Failures, fmt.Sprintf("job ends: %d of %d, the last %s after the first command; want all within %s",
			p.JobEnds, r.Burst.JobsStarted, p.LastJobEnd, duration(c.endsWithin)))
	}
}

// waitCards waits, up to the scenario's cardsWait, until no card of cmds
// still says submitting or running.
func (w *world) waitCards(ctx context.Context, cmds []*command) {
	ctx, cancel := context.WithTimeout(ctx, w.sc.cardsWait)
	defer cancel()
	for w.read.tally(w.slack, w.snapshot(cmds)).staleCards > 0 && sleep(ctx, 200*time.Millisecond) {
	}
}

// slackConfig is the fake Slack of a run.
func (sc scenario) slackConfig() slacktest.Config {
	if sc.slackLimits {
		return slacktest.Config{RateLimits: slacktest.SlackRateLimits()}
	}
	return slacktest.Config{}
}
