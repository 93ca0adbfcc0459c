package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/commvault"
)

// usageMessage turns a parse error into the caller's answer.
func (b *Bot) usageMessage(err error) Message {
	var ue *usageError
	if errors.As(err, &ue) {
		return usageMessage(b.command, ue)
	}
	return Message{Text: esc(err.Error())}
}

// helpMessage is the usage, with the caller's own accounts as examples.
func (b *Bot) helpMessage(ctx context.Context, in Input) Message {
	accts := b.policy().Requestable(ctx, b.groups, auth.Subject{User: in.User, Channel: in.Channel})
	names := make([]string, 0, len(accts))
	for _, a := range accts {
		names = append(names, a.Name)
	}
	example := ""
	if len(accts) > 0 {
		example = fmt.Sprintf("%s dynamodb %s %s full before the schema change", b.command, accts[0].Name, b.exampleTableGroup(ctx, accts[0]))
	}
	return helpMessage(b.command, names, example)
}

// exampleTableGroup names a real table group of a, quoted if need be.
func (b *Bot) exampleTableGroup(ctx context.Context, a *auth.Account) string {
	name := "<tablegroup>"
	if len(a.TableGroups) > 0 {
		name = a.TableGroups[0]
	} else if scs, err := b.cv.Subclients(ctx, a.Client); err == nil && len(scs) > 0 {
		name = scs[0].Name
	}
	if strings.ContainsAny(name, " \t") {
		return `"` + name + `"`
	}
	return name
}

// list answers with the accounts and table groups the caller may back up.
func (b *Bot) list(ctx context.Context, log *zap.Logger, in Input, cmd command) {
	pol := b.policy()
	accts := pol.Requestable(ctx, b.groups, auth.Subject{User: in.User, Channel: in.Channel})
	if cmd.Account != "" {
		var only []*auth.Account
		for _, a := range accts {
			if strings.EqualFold(a.Name, cmd.Account) {
				only = append(only, a)
			}
		}
		accts = only
	}
	entries := make([]listEntry, 0, len(accts))
	for _, a := range accts {
		e := listEntry{Account: a.Name, Client: a.Client, NeedsApproval: a.NeedsApproval(), TableGroups: a.TableGroups}
		if len(a.TableGroups) == 0 {
			scs, err := b.cv.Subclients(ctx, a.Client)
			if err != nil {
				log.Warn("list table groups", zap.String("account", a.Name), zap.Error(err))
				e.Problem = "Commvault did not list its table groups just now"
			}
			for _, sc := range scs {
				e.TableGroups = append(e.TableGroups, sc.Name)
			}
		}
		entries = append(entries, e)
	}
	b.outcome(log, kindList, "listed", zap.Int("accounts", len(entries)))
	b.reply(ctx, log, in, listMessage(b.command, cmd.Account, entries))
}

// status answers with a job's state, if it belongs to an account the caller
// may use: job IDs are easy to guess, other teams' jobs are not ours to show.
func (b *Bot) status(ctx context.Context, log *zap.Logger, in Input, cmd command) {
	log = log.With(zap.String("job", cmd.JobID))
	j, err := b.cv.Job(ctx, cmd.JobID)
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrJobNotFound):
		b.outcome(log, kindStatus, "no-such-job")
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Commvault has no job %s.", esc(cmd.JobID))})
		return
	case errors.Is(err, commvault.ErrTimeout):
		b.outcome(log, kindStatus, "commvault-timeout", zap.Error(err))
		b.reply(ctx, log, in, Message{Text: "Commvault did not answer in time. Try again in a minute."})
		return
	case errors.As(err, &apiErr):
		b.outcome(log, kindStatus, "commvault-error", zap.Error(err))
		b.reply(ctx, log, in, Message{Text: "Commvault answered with an error: " + esc(commvaultProblem(apiErr)) + "."})
		return
	case err != nil:
		b.internalError(ctx, log, in, fmt.Errorf("read job %s: %w", cmd.JobID, err))
		return
	}
	if !b.mayView(ctx, in, j.ClientName) {
		b.outcome(log, kindStatus, "denied", zap.String("rule", "status-account"))
		b.denied("status-account")
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Job %s is not in an account you may use here.", esc(cmd.JobID))})
		return
	}
	b.outcome(log, kindStatus, "status", zap.String("status", j.Status))
	b.reply(ctx, log, in, statusMessage(j))
}

// mayView reports whether the caller may request or approve backups of the
// Commvault client a job belongs to.
func (b *Bot) mayView(ctx context.Context, in Input, client string) bool {
	pol := b.policy()
	for _, a := range pol.Requestable(ctx, b.groups, auth.Subject{User: in.User, Channel: in.Channel}) {
		if strings.EqualFold(a.Client, client) {
			return true
		}
	}
	for _, a := range pol.Accounts() {
		if strings.EqualFold(a.Client, client) && pol.CheckApprove(ctx, b.groups, in.User, "", a.Name).Allow {
			return true
		}
	}
	return false
}
