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

// status answers with a job's state, if it belongs to an account the caller
// may use: job IDs are easy to guess, other teams' jobs are not ours to show.
func (b *Bot) status(ctx context.Context, t *turn, cmd command) {
	t.log = t.log.With(zap.String("job", cmd.JobID))
	j, err := b.cv.Job(ctx, cmd.JobID)
	switch {
	case errors.Is(err, commvault.ErrJobNotFound):
		b.outcome(t, kindStatus, "no-such-job")
		b.reply(ctx, t, noSuchJobAnswer(cmd.JobID))
		return
	case err != nil:
		b.commvaultReadFailed(ctx, t, kindStatus, fmt.Errorf("read job %s: %w", cmd.JobID, err))
		return
	}
	if !b.mayView(ctx, t.in, j.ClientName, j.SubclientName) {
		b.outcome(t, kindStatus, "denied", zap.String("rule", "status-account"))
		b.denied("status-account")
		b.reply(ctx, t, jobNotYoursAnswer(cmd.JobID))
		return
	}
	b.outcome(t, kindStatus, "status", zap.String("status", j.Status))
	b.reply(ctx, t, statusAnswer(j, b.links))
}

// mayView reports whether the caller may see a job of a table group of a
// Commvault client: whoever may request or approve backups of it from
// this channel (auth.CheckView), under any account on that client.
func (b *Bot) mayView(ctx context.Context, in Input, client, tableGroup string) bool {
	pol := b.policy()
	for _, a := range pol.Accounts() {
		if strings.EqualFold(a.Client, client) &&
			pol.CheckView(ctx, b.groups, auth.Subject{User: in.User, Channel: in.Channel}, a.Name, tableGroup).Allow {
			return true
		}
	}
	return false
}
