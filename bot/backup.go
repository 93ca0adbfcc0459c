package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/commvault"
)

// backup runs a backup request: authorize, resolve the table group, post the
// parent message, submit, and reply in its thread with task and job IDs.
func (b *Bot) backup(ctx context.Context, log *zap.Logger, in Input, cmd Command) {
	pol := b.policy()
	log = log.With(zap.String("account", cmd.Account), zap.String("tablegroup", cmd.TableGroup),
		zap.String("level", string(cmd.Level)))
	subj := auth.Subject{User: in.User, Channel: in.Channel}
	target := auth.Target{Account: cmd.Account, TableGroup: cmd.TableGroup, Level: levelName(cmd.Level), Reason: cmd.Reason}
	var d auth.Decision
	if cmd.Kind == KindEmergency {
		d = pol.CheckBreakglass(ctx, b.groups, subj, target)
	} else {
		d = pol.CheckRequest(ctx, b.groups, subj, target)
	}
	if !d.Allow {
		log.Info("command", zap.String("outcome", "denied"), zap.String("rule", d.Rule))
		b.reply(ctx, log, in, DeniedMessage(d))
		return
	}
	acct, ok := pol.Account(cmd.Account)
	if !ok { // the policy allowed an account it does not have: never proceed
		b.internalError(ctx, log, in, fmt.Errorf("policy allowed unknown account %q", cmd.Account))
		return
	}
	if cmd.Kind == KindBackup && acct.NeedsApproval() {
		log.Info("command", zap.String("outcome", "approval-unsupported"))
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("*%s* needs a second person's approval, and approval-gated accounts "+
			"arrive in a later version of backupbot. Nothing was submitted.", esc(acct.Name))})
		return
	}

	sc, err := b.cv.TableGroup(ctx, acct.Client, cmd.TableGroup)
	if err != nil {
		b.resolveFailed(ctx, log, in, acct, err)
		return
	}
	r := Request{
		ID: "r-" + b.newID(), User: in.User, Channel: in.Channel, Account: acct.Name, TableGroup: sc,
		Level: cmd.Level, Reason: cmd.Reason, Emergency: cmd.Kind == KindEmergency, State: StateApproved, Created: b.now(),
	}
	log = log.With(zap.String("request", r.ID), zap.Int("subclient", sc.ID))
	ts, err := b.chat.Post(ctx, in.Channel, ParentMessage(r))
	if err != nil { // nobody would see the outcome: do not submit
		b.internalError(ctx, log, in, fmt.Errorf("post parent message: %w", err))
		return
	}
	r.ParentTS = ts
	if r.Emergency {
		b.thread(ctx, log, r, BreakglassReply(r, acct.Approvers))
	}
	b.submit(ctx, log, r)
}

// reportTimeout bounds the chat calls that report a submission's outcome.
const reportTimeout = 30 * time.Second

// submit sends the backup to Commvault and reports the answer in the thread.
// CreateTask is sent once: an unknown outcome is reported, never retried.
func (b *Bot) submit(ctx context.Context, log *zap.Logger, r Request) {
	task, err := b.cv.CreateBackup(ctx, r.TableGroup, r.Level)
	// Whatever happened, the thread must hear of it, even when the command's
	// own deadline has passed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	defer cancel()
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrOutcomeUnknown):
		ref := b.newID()
		log.Error("submission outcome unknown", zap.String("ref", ref), zap.String("outcome", "unknown"), zap.Error(err))
		r.State = StateUnknown
		b.thread(ctx, log, r, OutcomeUnknownReply(r, ref))
	case errors.As(err, &apiErr):
		log.Warn("submission refused", zap.String("outcome", "failed"), zap.Error(err))
		r.State, r.Problem = StateFailed, commvaultProblem(apiErr)
		b.thread(ctx, log, r, SubmitFailedReply(r.Problem))
	case err != nil:
		ref := b.newID()
		log.Error("submission", zap.String("ref", ref), zap.String("outcome", "failed"), zap.Error(err))
		r.State, r.Problem = StateFailed, "Commvault could not be reached (ref "+ref+")"
		b.thread(ctx, log, r, SubmitFailedReply(r.Problem))
	default:
		r.State, r.TaskID, r.JobIDs = StateSubmitted, task.ID, task.JobIDs
		log.Info("command", zap.String("outcome", "submitted"), zap.Int("task", task.ID), zap.Strings("jobs", task.JobIDs))
		b.thread(ctx, log, r, SubmittedReply(r))
		b.follow(r)
	}
	b.updateParent(ctx, log, r)
}

// resolveFailed tells the caller why the table group could not be resolved.
func (b *Bot) resolveFailed(ctx context.Context, log *zap.Logger, in Input, acct *auth.Account, err error) {
	var nf *commvault.NotFoundError
	var apiErr *commvault.APIError
	switch {
	case errors.As(err, &nf):
		log.Info("command", zap.String("outcome", "unknown-tablegroup"))
		var close []string
		for _, s := range nf.Suggestions {
			if acct.AllowsTableGroup(s) {
				close = append(close, s)
			}
		}
		b.reply(ctx, log, in, UnknownTableGroupMessage(b.command, acct.Name, acct.Client, nf.Name, close))
	case errors.Is(err, commvault.ErrTimeout):
		log.Warn("command", zap.String("outcome", "commvault-timeout"), zap.Error(err))
		b.reply(ctx, log, in, Message{Text: "Commvault did not answer in time while I looked up the table group. " +
			"Nothing was submitted; try again in a minute."})
	case errors.As(err, &apiErr):
		log.Warn("command", zap.String("outcome", "commvault-error"), zap.Error(err))
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Commvault answered with an error while I looked up the table groups of %s: %s. "+
			"Nothing was submitted.", esc(acct.Client), esc(commvaultProblem(apiErr)))})
	default:
		b.internalError(ctx, log, in, fmt.Errorf("resolve table group: %w", err))
	}
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
func (b *Bot) thread(ctx context.Context, log *zap.Logger, r Request, m Message) {
	if _, err := b.chat.Reply(ctx, r.Channel, r.ParentTS, m); err != nil {
		log.Error("thread reply", zap.Error(err))
	}
}

// updateParent shows r's state in its parent message.
func (b *Bot) updateParent(ctx context.Context, log *zap.Logger, r Request) {
	if err := b.chat.Update(ctx, r.Channel, r.ParentTS, ParentMessage(r)); err != nil {
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
