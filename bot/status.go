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
// Whoever may neither request nor approve any account is refused before
// Commvault is asked; a job that does not exist and one that is not the
// caller's get the same answer; and each person may ask readsPerMinute a
// minute.
func (b *Bot) status(ctx context.Context, t *turn, cmd command) {
	t.log = t.log.With(zap.String("job", cmd.JobID))
	if !b.mayRead(ctx, t, kindStatus, request{Channel: t.in.Channel}, statusRefusedAnswer(cmd.JobID)) {
		return
	}
	j, err := b.cv.Job(ctx, cmd.JobID)
	switch {
	case errors.Is(err, commvault.ErrJobNotFound):
		b.outcome(t, kindStatus, "no-such-job")
		b.reply(ctx, t, statusRefusedAnswer(cmd.JobID))
		return
	case err != nil:
		b.commvaultReadFailed(ctx, t, kindStatus, fmt.Errorf("read job %s: %w", cmd.JobID, err))
		return
	}
	if !b.mayView(ctx, t.in, j.ClientName, j.SubclientName) {
		b.outcome(t, kindStatus, "denied", zap.String("rule", "status-account"))
		b.denied("status-account")
		b.reply(ctx, t, statusRefusedAnswer(cmd.JobID))
		return
	}
	b.outcome(t, kindStatus, "status", zap.String("status", j.Status))
	b.reply(ctx, t, statusAnswer(j, b.links))
}

// mayRead decides, before any Commvault read, whether the caller may ask
// about jobs at all (a requester or approver of some account) and has a
// read left this minute. A refusal is counted, audited (as asked, of the
// request it concerns) and answered: with refused, or with why a user
// group lookup failed, or when to ask again.
func (b *Bot) mayRead(ctx context.Context, t *turn, kind cmdKind, asked request, refused Message) bool {
	if ok, d := b.policy().MayUseSome(ctx, b.groups, t.in.User); !ok {
		b.outcome(t, kind, "denied", zap.String("rule", d.Rule))
		b.denied(d.Rule)
		b.audit(ctx, t.log, asked.event(t.in.User, "denied", d.Rule, string(kind)+": "+d.Reason))
		if d.Rule == auth.RuleGroupLookup {
			refused = deniedAnswer(d)
		}
		b.reply(ctx, t, refused)
		return false
	}
	return b.readLeft(ctx, t, kind)
}

// readLeft counts a status or history of the caller's, and reports whether
// they had one left this minute; if not, they are told when to ask again.
func (b *Bot) readLeft(ctx context.Context, t *turn, kind cmdKind) bool {
	ok, wait := b.reads.take(t.in.User, b.now())
	if !ok {
		b.outcome(t, kind, "rate-limited", zap.Duration("wait", wait))
		b.denied("rate-limit")
		b.reply(ctx, t, slowDownAnswer(readsPerMinute, wait))
	}
	return ok
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
