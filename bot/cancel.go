package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// settleFor is how long a cancel waits for a request that is being sent
// to Commvault to get its job IDs (normally a second), before it says to
// try again.
const settleFor = 10 * time.Second

// settleEvery is how often that wait looks at the request again.
const settleEvery = 100 * time.Millisecond

// killOutcome is what became of one job's kill.
type killOutcome struct {
	JobID   string
	Killed  bool   // Commvault took the kill: the job shows Kill Pending, then Killed
	Refused string // Commvault refused (an errorCode), in its words
	Unknown bool   // the kill may or may not have reached Commvault
	Problem string // the kill could not be asked: Commvault's error, or a reference
	Ended   string // the bot had already recorded the job's end: its status
}

// cancel serves `cancel <request-id or jobId> [reason…]`: a request
// waiting for approval, or approved and not yet sent, is withdrawn; a
// submitted one has its Commvault jobs killed, the thread told, and their
// ends reported by the job following as any other. Whoever may not cancel
// it is refused in words that say nothing of the request.
func (b *Bot) cancel(ctx context.Context, t *turn, cmd command) {
	if cmd.JobID != "" {
		t.log = t.log.With(zap.String("job", cmd.JobID))
		b.cancelJob(ctx, t, cmd.JobID, cmd.Reason)
		return
	}
	t.log = t.log.With(zap.String("request", cmd.RequestID))
	rec, err := b.store.Get(ctx, cmd.RequestID)
	switch {
	case errors.Is(err, store.ErrNotFound): // refused as a request that exists would be, failed lookups included
		b.cancelRefused(ctx, t, cmd.RequestID, request{ID: "", Channel: t.in.Channel}, b.lookupRefusal(ctx, t.in.User, "no-such-request"), cmd.Reason)
		return
	case err != nil:
		b.internalError(ctx, t, fmt.Errorf("read request %s: %w", cmd.RequestID, err))
		return
	}
	r, err := fromRecord(rec)
	if err != nil {
		b.internalError(ctx, t, err)
		return
	}
	b.cancelRequest(ctx, t, r, cmd.Reason, "")
}

// cancelRequest cancels r for the caller if the policy lets them: all its
// jobs, or only job when it is not "".
func (b *Bot) cancelRequest(ctx context.Context, t *turn, r request, reason, job string) {
	t.log = t.log.With(zap.String("account", r.Account), zap.String("tablegroup", r.TableGroup.Name))
	d := b.policy().CheckCancel(ctx, b.groups, t.in.User, r.User, r.Account, r.Emergency)
	if !d.Allow {
		label := r.ID
		if job != "" {
			label = job
		}
		b.cancelRefused(ctx, t, label, r, d, reason)
		return
	}
	for range 3 { // the request may move on under us: look again
		var moved bool
		switch r.State {
		case store.Pending, store.Approved:
			moved = b.withdraw(ctx, t, r, d.Rule, reason)
		case store.Submitting:
			if r, moved = b.settled(ctx, r); !moved {
				b.outcome(t, kindCancel, "still-submitting")
				b.audit(ctx, t.log, r.event(t.in.User, "cancel", d.Rule, cancelDetail(reason, "still being sent; nothing killed")))
				b.reply(ctx, t, stillSubmittingAnswer(b.command, r.ID))
				return
			}
		case store.Submitted:
			b.killRequest(ctx, t, r, d.Rule, reason, job)
		case store.Unknown:
			b.outcome(t, kindCancel, "outcome-unknown")
			b.audit(ctx, t.log, r.event(t.in.User, "cancel", d.Rule, cancelDetail(reason, "outcome unknown; nothing killed")))
			b.reply(ctx, t, cancelUnknownAnswer(b.command, r))
		default:
			b.outcome(t, kindCancel, "already-ended")
			b.reply(ctx, t, alreadyEndedAnswer(r, b.links))
		}
		if !moved {
			return
		}
		rec, err := b.store.Get(ctx, r.ID)
		if err == nil {
			r, err = fromRecord(rec)
		}
		if err != nil {
			b.internalError(ctx, t, fmt.Errorf("read request %s again: %w", r.ID, err))
			return
		}
	}
	b.internalError(ctx, t, fmt.Errorf("cancel request %s: it keeps changing state", r.ID))
}

// withdraw ends a request that runs nothing yet (pending, or approved and
// not sent): the card shows who withdrew it and why. It reports whether
// the request moved on meanwhile, so the caller looks again.
func (b *Bot) withdraw(ctx context.Context, t *turn, r request, rule, reason string) (moved bool) {
	if r.State == store.Pending && !b.now().Before(r.Expires) {
		b.expire(ctx, t.log, r)
		b.reply(ctx, t, expiredAnswer(r))
		return false
	}
	next, err := b.transition(ctx, r, []store.State{r.State}, store.Change{To: store.Cancelled, Actor: t.in.User,
		Decided: true, Problem: reason, Detail: "rule " + rule,
		Event: r.audited(t.in.User, "cancelled", rule, cancelDetail(reason, "before it was sent; nothing runs"))})
	switch {
	case errors.Is(err, store.ErrConflict):
		return true
	case err != nil:
		b.internalError(ctx, t, fmt.Errorf("withdraw request %s: %w", r.ID, err))
		return false
	}
	b.outcome(t, kindCancel, "cancelled", zap.String("from", string(r.State)))
	ctx, cancel := detached(ctx)
	defer cancel()
	b.updateParent(ctx, t.log, next)
	if r.State == store.Pending {
		b.reply(ctx, t, withdrawnAnswer(r.ID))
		return false
	}
	b.thread(ctx, t.log, next, cancelledUnsentReply(t.in.User, reason))
	b.reply(ctx, t, cancelledUnsentAnswer(r.ID))
	return false
}

// settled waits up to settleFor for a request being sent to Commvault to
// leave submitting, and returns it as it then is; moved is false when it
// is still being sent.
func (b *Bot) settled(ctx context.Context, r request) (request, bool) {
	tick := time.NewTicker(settleEvery)
	defer tick.Stop()
	deadline := time.After(settleFor)
	for {
		select {
		case <-ctx.Done():
			return r, false
		case <-deadline:
			return r, false
		case <-tick.C:
		}
		rec, err := b.store.Get(ctx, r.ID)
		if err == nil && rec.State != store.Submitting {
			return r, true
		}
	}
}

// killRequest kills the jobs of a submitted request (or only job) that
// have not ended, says so in its thread, and tells the caller.
func (b *Bot) killRequest(ctx context.Context, t *turn, r request, rule, reason, job string) {
	ended, err := b.store.EndedJobs(ctx, r.ID)
	if err != nil {
		b.internalError(ctx, t, fmt.Errorf("read ended jobs of %s: %w", r.ID, err))
		return
	}
	targets := r.JobIDs
	if job != "" {
		targets = []string{job}
	}
	b.audit(ctx, t.log, r.event(t.in.User, "cancel", rule, cancelDetail(reason, "kill "+strings.Join(targets, ", "))))
	var outcomes []killOutcome
	for _, id := range targets {
		if status, done := ended[id]; done {
			outcomes = append(outcomes, killOutcome{JobID: id, Ended: status})
			continue
		}
		o := b.kill(ctx, t, id)
		b.audit(ctx, t.log, r.event(t.in.User, "kill", rule, killDetail(o)))
		outcomes = append(outcomes, o)
	}
	b.outcome(t, kindCancel, killResult(outcomes), zap.Strings("jobs", targets))
	ctx, cancel := detached(ctx)
	defer cancel()
	b.thread(ctx, t.log, r, cancelReply(t.in.User, reason, outcomes, b.links))
	b.reply(ctx, t, killedAnswer(outcomes, b.links, true))
}

// cancelJob cancels by job ID: a job of a request the bot follows is that
// request's (its requester and approvers may); any other job, one the bot
// did not start, only an approver of an account on the job's client may
// kill. Whoever may cancel nothing is refused before any Commvault read.
func (b *Bot) cancelJob(ctx context.Context, t *turn, jobID, reason string) {
	recs, err := b.store.ByState(ctx, store.Submitted)
	if err != nil {
		b.internalError(ctx, t, fmt.Errorf("list followed requests: %w", err))
		return
	}
	for _, rec := range recs {
		if slices.Contains(rec.JobIDs, jobID) {
			r, err := fromRecord(rec)
			if err != nil {
				b.internalError(ctx, t, err)
				return
			}
			b.cancelRequest(ctx, t, r, reason, jobID)
			return
		}
	}
	pol := b.policy()
	var mine []*auth.Account
	refusal := auth.Decision{Rule: auth.RuleCancel}
	for _, a := range pol.Accounts() {
		d := pol.CheckCancel(ctx, b.groups, t.in.User, "", a.Name, false)
		if d.Allow {
			mine = append(mine, a)
		} else if d.Rule == auth.RuleGroupLookup {
			refusal = d
		}
	}
	asked := request{Channel: t.in.Channel}
	if len(mine) == 0 {
		b.cancelRefused(ctx, t, jobID, asked, refusal, reason)
		return
	}
	j, err := b.cv.Job(ctx, jobID)
	if err != nil && !errors.Is(err, commvault.ErrJobNotFound) {
		b.commvaultReadFailed(ctx, t, kindCancel, fmt.Errorf("read job %s: %w", jobID, err))
		return
	}
	i := slices.IndexFunc(mine, func(a *auth.Account) bool {
		return j.ClientName != "" && strings.EqualFold(a.Client, j.ClientName) && a.AllowsTableGroup(j.SubclientName)
	})
	if err != nil || i < 0 {
		b.cancelRefused(ctx, t, jobID, asked, auth.Decision{Rule: auth.RuleCancel}, reason)
		return
	}
	asked = request{Channel: t.in.Channel, Account: mine[i].Name, TableGroup: commvault.Subclient{Name: j.SubclientName}}
	b.audit(ctx, t.log, asked.event(t.in.User, "cancel", auth.RuleApprovers, cancelDetail(reason, "kill job "+jobID+", not started by backupbot")))
	o := b.kill(ctx, t, jobID)
	b.audit(ctx, t.log, asked.event(t.in.User, "kill", auth.RuleApprovers, killDetail(o)))
	b.outcome(t, kindCancel, killResult([]killOutcome{o}), zap.String("account", mine[i].Name))
	b.reply(ctx, t, killedAnswer([]killOutcome{o}, b.links, false))
}

// kill asks Commvault to kill one job and says what became of it.
func (b *Bot) kill(ctx context.Context, t *turn, id string) killOutcome {
	err := b.cv.KillJob(ctx, id)
	b.commvaultError(err)
	var apiErr *commvault.APIError
	switch {
	case err == nil:
		t.log.Info("job killed", zap.String("job", id))
		b.metrics.kills.WithLabelValues("killed").Inc()
		return killOutcome{JobID: id, Killed: true}
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		t.log.Warn("kill outcome unknown", zap.String("job", id), zap.Error(err))
		b.metrics.kills.WithLabelValues("unknown").Inc()
		return killOutcome{JobID: id, Unknown: true}
	case errors.As(err, &apiErr) && apiErr.Code != 0 && apiErr.StatusCode == 200:
		t.log.Info("kill refused", zap.String("job", id), zap.Error(err))
		b.metrics.kills.WithLabelValues("refused").Inc()
		return killOutcome{JobID: id, Refused: commvaultProblem(apiErr)}
	case errors.As(err, &apiErr):
		t.log.Warn("kill failed", zap.String("job", id), zap.Error(err))
		b.metrics.kills.WithLabelValues("error").Inc()
		return killOutcome{JobID: id, Problem: commvaultProblem(apiErr)}
	}
	ref := b.newID()
	t.log.Error("kill failed", zap.String("job", id), zap.String("ref", ref), zap.Error(err))
	b.metrics.kills.WithLabelValues("error").Inc()
	return killOutcome{JobID: id, Problem: "Commvault could not be reached (ref " + ref + ")"}
}

// lookupRefusal is the refusal (with rule) of a cancel that names nothing
// the caller may cancel: the group-lookup denial when a lookup for one of
// the accounts fails, as it would for a request that exists.
func (b *Bot) lookupRefusal(ctx context.Context, user, rule string) auth.Decision {
	pol := b.policy()
	for _, a := range pol.Accounts() {
		if d := pol.CheckCancel(ctx, b.groups, user, "", a.Name, false); d.Rule == auth.RuleGroupLookup {
			return d
		}
	}
	return auth.Decision{Rule: rule}
}

// cancelRefused refuses a cancel of id (a request or a job ID) in the
// same words whatever the reason, records the refusal, and counts it; a
// failed group lookup is told as such, since trying again may work.
func (b *Bot) cancelRefused(ctx context.Context, t *turn, id string, r request, d auth.Decision, reason string) {
	b.outcome(t, kindCancel, "denied", zap.String("rule", d.Rule))
	b.denied(d.Rule)
	b.audit(ctx, t.log, r.event(t.in.User, "cancel-refused", d.Rule, cancelDetail(reason, "cancel "+id)))
	if d.Rule == auth.RuleGroupLookup {
		b.reply(ctx, t, deniedAnswer(d))
		return
	}
	b.reply(ctx, t, cancelRefusedAnswer(id))
}

// cancelDetail is the audit trail's detail of a cancel: why, and what.
func cancelDetail(reason, what string) string {
	if reason == "" {
		reason = "none given"
	}
	return "reason: " + reason + "; " + what
}

// killDetail is the audit trail's detail of one kill.
func killDetail(o killOutcome) string {
	switch {
	case o.Killed:
		return "job " + o.JobID + ": killed"
	case o.Refused != "":
		return "job " + o.JobID + ": refused: " + o.Refused
	case o.Unknown:
		return "job " + o.JobID + ": outcome unknown"
	}
	return "job " + o.JobID + ": not killed: " + o.Problem
}

// killResult names the outcome of a cancel's kills for the command log.
func killResult(outcomes []killOutcome) string {
	switch {
	case anyKilled(outcomes):
		return "killed"
	case slices.ContainsFunc(outcomes, func(o killOutcome) bool { return o.Refused != "" }):
		return "kill-refused"
	case slices.ContainsFunc(outcomes, func(o killOutcome) bool { return o.Unknown }):
		return "kill-unknown"
	case slices.ContainsFunc(outcomes, func(o killOutcome) bool { return o.Problem != "" }):
		return "kill-failed"
	}
	return "already-ended"
}

func anyKilled(outcomes []killOutcome) bool {
	return slices.ContainsFunc(outcomes, func(o killOutcome) bool { return o.Killed })
}
