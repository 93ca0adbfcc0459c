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

// help is the usage, with the caller's own accounts as examples.
func (b *Bot) help(ctx context.Context, in Input) Message {
	accts := b.policy().Requestable(ctx, b.groups, auth.Subject{User: in.User, Channel: in.Channel})
	names := make([]string, 0, len(accts))
	for _, a := range accts {
		names = append(names, a.Name)
	}
	example := ""
	if len(accts) > 0 {
		example = fmt.Sprintf("%s dynamodb %s %s full before the schema change", b.command, accts[0].Name, b.exampleTableGroup(ctx, accts[0]))
	}
	return helpAnswer(b.command, names, example)
}

// exampleTableGroup names a real table group of a, quoted if need be.
func (b *Bot) exampleTableGroup(ctx context.Context, a *auth.Account) string {
	name := "<tablegroup>"
	if len(a.TableGroups) > 0 {
		name = a.TableGroups[0]
	} else if scs, err := b.cv.Subclients(ctx, a.Client); err == nil && len(scs) > 0 {
		name = scs[0].Name
	}
	return quoteName(name)
}

// list answers with the accounts and table groups the caller may back up.
func (b *Bot) list(ctx context.Context, t *turn, cmd command) {
	pol := b.policy()
	accts := pol.Requestable(ctx, b.groups, auth.Subject{User: t.in.User, Channel: t.in.Channel})
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
			switch {
			case errors.Is(err, commvault.ErrSessionExpired):
				b.commvaultError(err)
				e.Problem = "Commvault is unavailable just now"
			case err != nil:
				t.log.Warn("list table groups", zap.String("account", a.Name), zap.Error(err))
				e.Problem = "Commvault did not list its table groups just now"
			}
			e.TableGroups = commvault.TableGroupNames(scs) // DynamoDB ones only
		}
		entries = append(entries, e)
	}
	b.outcome(t, kindList, "listed", zap.Int("accounts", len(entries)))
	b.reply(ctx, t, listAnswer(b.command, cmd.Account, entries))
}
