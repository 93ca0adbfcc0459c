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
	var apiErr *commvault.APIError
	switch {
	case errors.Is(err, commvault.ErrJobNotFound):
		b.outcome(t, kindStatus, "no-such-job")
		b.reply(ctx, t, noSuchJobAnswer(cmd.JobID))
		return
	case errors.Is(err, commvault.ErrTimeout):
		b.outcome(t, kindStatus, "commvault-timeout", zap.Error(err))
		b.reply(ctx, t, commvaultTimeoutAnswer())
		return
	case errors.Is(err, commvault.ErrSessionExpired):
		b.commvaultError(err)
		b.outcome(t, kindStatus, "commvault-unavailable")
		b.reply(ctx, t, commvaultUnavailableAnswer())
		return
	case errors.As(err, &apiErr):
		b.outcome(t, kindStatus, "commvault-error", zap.Error(err))
		b.reply(ctx, t, commvaultErrorAnswer(commvaultProblem(apiErr)))
		return
	case err != nil:
		b.internalError(ctx, t, fmt.Errorf("read job %s: %w", cmd.JobID, err))
		return
	}
	if !b.mayView(ctx, t.in, j.ClientName) {
		b.outcome(t, kindStatus, "denied", zap.String("rule", "status-account"))
		b.denied("status-account")
		b.reply(ctx, t, jobNotYoursAnswer(cmd.JobID))
		return
	}
	b.outcome(t, kindStatus, "status", zap.String("status", j.Status))
	b.reply(ctx, t, statusAnswer(j))
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
