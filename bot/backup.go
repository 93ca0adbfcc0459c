package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/internal/fuzzy"
)

// reportTimeout bounds the chat and store calls that report an outcome
// after the command's own deadline may have passed.
const reportTimeout = 30 * time.Second

// detached is ctx without its cancellation, bounded by reportTimeout: what
// was started is reported even when the caller has gone.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
}

// backup runs a backup request: authorize, resolve the table group, record
// the request, post the parent message (an approval card when the account
// needs one), and submit what needs no approval.
func (b *Bot) backup(ctx context.Context, log *zap.Logger, in Input, cmd command) {
	pol := b.policy()
	log = log.With(zap.String("account", cmd.Account), zap.String("tablegroup", cmd.TableGroup),
		zap.String("level", string(cmd.Level)))
	subj := auth.Subject{User: in.User, Channel: in.Channel}
	target := auth.Target{Account: cmd.Account, TableGroup: cmd.TableGroup, Level: levelName(cmd.Level), Reason: cmd.Reason}
	emergency := cmd.Kind == kindEmergency
	var d auth.Decision
	if emergency {
		d = pol.CheckBreakglass(ctx, b.groups, subj, target)
	} else {
		d = pol.CheckRequest(ctx, b.groups, subj, target)
	}
	if !d.Allow {
		b.outcome(log, cmd.Kind, "denied", zap.String("rule", d.Rule))
		b.denied(d.Rule)
		b.audit(ctx, log, store.Event{Actor: in.User, Action: "denied", Rule: d.Rule, Account: cmd.Account,
			TableGroup: cmd.TableGroup, Channel: in.Channel, Detail: string(cmd.Kind) + ": " + d.Reason})
		b.reply(ctx, log, in, deniedMessage(d))
		return
	}
	acct, ok := pol.Account(cmd.Account)
	if !ok { // the policy allowed an account it does not have: never proceed
		b.internalError(ctx, log, in, fmt.Errorf("policy allowed unknown account %q", cmd.Account))
		return
	}
	sc, err := b.cv.TableGroup(ctx, acct.Client, cmd.TableGroup)
	if err != nil {
		b.resolveFailed(ctx, log, in, cmd.Kind, acct, err)
		return
	}

	now := b.now()
	r := request{
		ID: requestID(in.Origin, b.newID), User: in.User, Channel: in.Channel, Account: acct.Name, TableGroup: sc,
		Level: cmd.Level, Reason: cmd.Reason, Emergency: emergency, State: store.Approved, Created: now, Updated: now,
		Approvers: acct.Approvers,
	}
	if acct.NeedsApproval() && !emergency {
		r.State, r.Expires = store.Pending, now.Add(acct.Timeout())
	}
	log = log.With(zap.String("request", r.ID), zap.Int("subclient", sc.ID))
	if !b.create(ctx, log, in, cmd.Kind, r) {
		return
	}
	ts, err := b.chat.Post(ctx, in.Channel, parentMessage(r))
	if err != nil { // nobody would see the outcome: do not submit
		ctx, cancel := detached(ctx)
		defer cancel()
		b.internalError(ctx, log, in, fmt.Errorf("post parent message: %w", err))
		b.transition(ctx, log, r, []store.State{r.State}, store.Change{To: store.Failed, Actor: actorBot,
			Problem: "the request could not be posted in the channel"})
		return
	}
	r.ParentTS = ts
	if err := b.store.SetParentTS(ctx, r.ID, ts); err != nil {
		log.Error("record parent message", zap.Error(err))
	}
	switch {
	case r.State == store.Pending:
		b.outcome(log, cmd.Kind, "pending-approval")
	case emergency:
		b.outcome(log, cmd.Kind, "breakglass")
		b.thread(ctx, log, r, breakglassReply(r, acct.Approvers))
		b.submit(ctx, log, r)
	default:
		b.submit(ctx, log, r)
	}
}

// create records r with its first audit event. A table group that already
// has an active request refuses it, with a link to that request's thread;
// a break-glass request supersedes one that only waits for approval.
func (b *Bot) create(ctx context.Context, log *zap.Logger, in Input, kind cmdKind, r request) bool {
	rec, err := r.record()
	if err != nil {
		b.internalError(ctx, log, in, err)
		return false
	}
	action := "request"
	if r.Emergency {
		action = "breakglass"
	}
	ev := store.Event{At: r.Created, RequestID: r.ID, Actor: r.User, Action: action, Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Review: r.Emergency,
		Detail: fmt.Sprintf("%s backup; reason: %s", levelName(r.Level), r.Reason)}
	for attempt := 0; ; attempt++ {
		err = b.store.Create(ctx, rec, ev)
		var busy *store.BusyError
		switch {
		case err == nil:
			b.logState(rec, store.Change{Actor: r.User, Detail: action})
			return true
		case errors.Is(err, store.ErrDuplicate): // this envelope was served before, by a replica that stopped
			log.Info("request already recorded from this envelope; recovery finishes it")
			return false
		case errors.As(err, &busy) && r.Emergency && busy.Existing.State == store.Pending && attempt == 0:
			b.supersede(ctx, log, busy.Existing, r)
			continue
		case errors.As(err, &busy):
			b.outcome(log, kind, "table-group-busy", zap.String("existing", busy.Existing.ID))
			b.denied("one-at-a-time")
			b.audit(ctx, log, store.Event{Actor: r.User, Action: "denied", Rule: "one-at-a-time", Account: r.Account,
				TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: "active request " + busy.Existing.ID})
			b.reply(ctx, log, in, busyMessage(busy.Existing, b.permalink(ctx, busy.Existing)))
			return false
		default:
			b.internalError(ctx, log, in, fmt.Errorf("record request: %w", err))
			return false
		}
	}
}

// requestID names a request: derived from the envelope it came in, so that
// an envelope served twice makes one request, or random.
func requestID(origin string, random func() string) string {
	if origin == "" {
		return "r-" + random()
	}
	sum := sha256.Sum256([]byte("backupbot request " + origin))
	return "r-" + hex.EncodeToString(sum[:5])
}

// supersede withdraws a pending request in favour of a break-glass one.
func (b *Bot) supersede(ctx context.Context, log *zap.Logger, old store.Request, by request) {
	r, err := fromRecord(old)
	if err != nil {
		log.Error("superseded request", zap.Error(err))
		return
	}
	b.finish(ctx, log, r, []store.State{store.Pending}, store.Change{To: store.Cancelled, Actor: by.User, Decided: true,
		Problem: "superseded by break-glass request " + by.ID}, "cancelled")
}

// permalink links to a request's thread, or names it when Slack cannot.
func (b *Bot) permalink(ctx context.Context, r store.Request) string {
	if r.ParentTS == "" {
		return ""
	}
	link, err := b.chat.Permalink(ctx, r.Channel, r.ParentTS)
	if err != nil {
		b.log.Warn("permalink", zap.String("request", r.ID), zap.Error(err))
		return ""
	}
	return link
}

// submit sends an approved request to Commvault, once, and reports the
// answer in its thread. The request is recorded as submitting before
// CreateTask is sent, so that a crash in between is found at start-up and
// reported as an unknown outcome rather than sent again.
func (b *Bot) submit(ctx context.Context, log *zap.Logger, r request) {
	ch := store.Change{To: store.Submitting, Actor: actorBot, At: b.now()}
	rec, err := b.store.Transition(ctx, r.ID, []store.State{store.Approved}, ch)
	switch {
	case errors.Is(err, store.ErrConflict):
		log.Info("not submitted: another process submits it, or it changed meanwhile", zap.Error(err))
		return
	case err != nil:
		log.Error("not submitted: cannot record it as submitting; recovery retries", zap.Error(err))
		return
	}
	b.logState(rec, ch)
	r.Updated = rec.Updated
	// CreateTask gets its own time, whatever the caller's deadline left
	// (Slack calls before it may have waited out rate limits); the client
	// bounds each of its requests, and recovery waits longer than this.
	sendCtx, cancelSend := context.WithTimeout(context.WithoutCancel(ctx), b.submitBound())
	started := time.Now()
	task, err := b.cv.CreateBackup(sendCtx, r.TableGroup, r.Level)
	cancelSend()
	b.metrics.submitSeconds.Observe(time.Since(started).Seconds())
	b.commvaultError(err)
	// Whatever happened, the thread must hear of it, even when the command's
	// own deadline has passed.
	ctx, cancel := detached(ctx)
	defer cancel()
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		ref := b.newID()
		log.Error("submission outcome unknown", zap.String("ref", ref), zap.String("outcome", "unknown"), zap.Error(err))
		b.unknown(ctx, log, r, false, "Commvault did not answer in time", ref)
	case errors.As(err, &apiErr):
		log.Warn("submission refused", zap.String("outcome", "failed"), zap.Error(err))
		b.failed(ctx, log, r, commvaultProblem(apiErr))
	case err != nil:
		ref := b.newID()
		log.Error("submission", zap.String("ref", ref), zap.String("outcome", "failed"), zap.Error(err))
		b.failed(ctx, log, r, "Commvault could not be reached (ref "+ref+")")
	default:
		log.Info("submitted", zap.Int("task", task.ID), zap.Strings("jobs", task.JobIDs))
		b.metrics.submissions.WithLabelValues("submitted").Inc()
		// The thread hears of it before it is recorded: should the bot stop
		// in between, the request stays submitting and recovery reports an
		// unknown outcome and finds the job, rather than a recorded
		// submission nobody was told of.
		r.TaskID, r.JobIDs = task.ID, task.JobIDs
		b.thread(ctx, log, r, submittedReply(r))
		r, ok := b.transition(ctx, log, r, []store.State{store.Submitting}, store.Change{To: store.Submitted, Actor: actorBot,
			TaskID: task.ID, JobIDs: task.JobIDs})
		if !ok { // left submitting: recovery reports it as unknown and reconciles
			return
		}
		b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: actorBot, Action: "submitted", Account: r.Account,
			TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: fmt.Sprintf("task %d, jobs %s", task.ID, strings.Join(task.JobIDs, ", "))})
		b.updateParent(ctx, log, r)
	}
}

// failed records and reports that Commvault did not start the backup.
func (b *Bot) failed(ctx context.Context, log *zap.Logger, r request, problem string) {
	r, ok := b.transition(ctx, log, r, []store.State{store.Submitting}, store.Change{To: store.Failed, Actor: actorBot, Problem: problem})
	if !ok {
		return
	}
	b.metrics.submissions.WithLabelValues("failed").Inc()
	b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: actorBot, Action: "failed", Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: problem})
	b.thread(ctx, log, r, submitFailedReply(problem))
	b.updateParent(ctx, log, r)
}

// unknown records and reports a submission whose outcome is not known.
func (b *Bot) unknown(ctx context.Context, log *zap.Logger, r request, interrupted bool, problem, ref string) {
	r, ok := b.transition(ctx, log, r, []store.State{store.Submitting}, store.Change{To: store.Unknown, Actor: actorBot, Problem: problem})
	if !ok {
		return
	}
	b.metrics.submissions.WithLabelValues("unknown").Inc()
	b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: actorBot, Action: "unknown", Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: problem + " (ref " + ref + ")"})
	b.thread(ctx, log, r, outcomeUnknownReply(r, interrupted, ref))
	b.updateParent(ctx, log, r)
}

// transition applies ch to r in the store and returns r as it now is.
func (b *Bot) transition(ctx context.Context, log *zap.Logger, r request, from []store.State, ch store.Change) (request, bool) {
	if ch.At.IsZero() {
		ch.At = b.now()
	}
	rec, err := b.store.Transition(ctx, r.ID, from, ch)
	if err != nil {
		log.Error("record transition", zap.String("to", string(ch.To)), zap.Error(err))
		return r, false
	}
	b.logState(rec, ch)
	next, err := fromRecord(rec)
	if err != nil {
		log.Error("read request", zap.Error(err))
		return r, false
	}
	next.Jobs, next.Approvers = r.Jobs, r.Approvers
	return next, true
}

// logState is the one log line of a state change.
func (b *Bot) logState(r store.Request, ch store.Change) {
	b.log.Info("state", zap.String("request", r.ID), zap.String("state", string(r.State)), zap.String("actor", ch.Actor),
		zap.String("user", r.User), zap.String("channel", r.Channel), zap.String("account", r.Account),
		zap.String("tablegroup", r.TableGroup), zap.String("detail", ch.Problem+ch.Detail))
}

// audit appends e to the audit trail; a failure is logged, not shown.
func (b *Bot) audit(ctx context.Context, log *zap.Logger, e store.Event) {
	if e.At.IsZero() {
		e.At = b.now()
	}
	if err := b.store.Audit(ctx, e); err != nil {
		log.Error("audit", zap.String("action", e.Action), zap.Error(err))
	}
}

// resolveFailed tells the caller why the table group could not be resolved.
func (b *Bot) resolveFailed(ctx context.Context, log *zap.Logger, in Input, kind cmdKind, acct *auth.Account, err error) {
	b.commvaultError(err)
	var nf *commvault.NotFoundError
	var apiErr *commvault.APIError
	switch {
	case errors.As(err, &nf):
		b.outcome(log, kind, "unknown-tablegroup")
		var allowed []string
		for _, name := range nf.Listed {
			if acct.AllowsTableGroup(name) {
				allowed = append(allowed, name)
			}
		}
		b.reply(ctx, log, in, unknownTableGroupMessage(b.command, acct.Name, acct.Client, nf.Name, fuzzy.Closest(nf.Name, allowed, 3)))
	case errors.Is(err, commvault.ErrTimeout):
		b.outcome(log, kind, "commvault-timeout", zap.Error(err))
		b.reply(ctx, log, in, Message{Text: "Commvault did not answer in time while I looked up the table group. " +
			"Nothing was submitted; try again in a minute."})
	case errors.As(err, &apiErr):
		b.outcome(log, kind, "commvault-error", zap.Error(err))
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Commvault answered with an error while I looked up the table groups of %s: %s. "+
			"Nothing was submitted.", esc(acct.Client), esc(commvaultProblem(apiErr)))})
	default:
		b.internalError(ctx, log, in, fmt.Errorf("resolve table group: %w", err))
	}
}

// commvaultError counts a Commvault error by kind.
func (b *Bot) commvaultError(err error) {
	if err == nil {
		return
	}
	var apiErr *commvault.APIError
	var nf *commvault.NotFoundError
	kind := "other"
	switch {
	case errors.As(err, &nf), errors.Is(err, commvault.ErrJobNotFound):
		return // an answer, not an error
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		kind = "unknown_outcome"
	case errors.Is(err, commvault.ErrTimeout):
		kind = "timeout"
	case errors.As(err, &apiErr) && apiErr.StatusCode == 429:
		kind = "rate_limited"
	case errors.As(err, &apiErr) && apiErr.Code != 0:
		kind = "error_code"
	case errors.As(err, &apiErr):
		kind = "http"
	}
	b.metrics.cvErrors.WithLabelValues(kind).Inc()
}

// commvaultProblem is Commvault's error in words for a person.
func commvaultProblem(e *commvault.APIError) string {
	switch {
	case e.StatusCode == 429:
		return "Commvault is rate-limiting requests (HTTP 429)"
	case e.Code != 0 && e.Message != "":
		return fmt.Sprintf("%s (error code %d)", e.Message, e.Code)
	case e.Message != "":
		return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d", e.StatusCode)
}

// thread posts m in r's thread.
func (b *Bot) thread(ctx context.Context, log *zap.Logger, r request, m Message) {
	if r.ParentTS == "" {
		log.Error("thread reply without a parent message", zap.String("request", r.ID))
		return
	}
	if _, err := b.chat.Reply(ctx, r.Channel, r.ParentTS, m); err != nil {
		log.Error("thread reply", zap.Error(err))
	}
}

// updateParent shows r's state in its parent message.
func (b *Bot) updateParent(ctx context.Context, log *zap.Logger, r request) {
	if r.ParentTS == "" {
		return
	}
	if err := b.chat.Update(ctx, r.Channel, r.ParentTS, parentMessage(r)); err != nil {
		log.Error("update parent message", zap.Error(err))
	}
}

// mention renders a policy entry (user or user group ID) as a Slack mention.
func mention(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}
