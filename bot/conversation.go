package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
)

// A slash command can come from any conversation: a channel the bot is not
// in, a private channel, a DM. Slack takes the command (and the private
// answer through its response_url) wherever it was typed, but refuses the
// bot's post there. The request then ends cancelled, which does not count
// as a failure, and the requester is told privately how to fix it.

// cannotPost reports whether err is Slack refusing a post in the
// conversation itself, and its error code: the bot is not a member
// (not_in_channel; channel_not_found for a private channel or a DM), the
// channel is archived, or posting there is restricted.
func cannotPost(err error) (code string, ok bool) {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return "", false
	}
	switch code = se.Err; {
	case code == "not_in_channel", code == "channel_not_found", code == "is_archived",
		strings.HasPrefix(code, "restricted_action"):
		return code, true
	}
	return "", false
}

// notPosted ends request r, whose card Slack refused to post (code), as
// cancelled, records why, and tells the requester how to fix it.
func (b *Bot) notPosted(ctx context.Context, t *turn, kind cmdKind, acct *auth.Account, r request, code string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	b.outcome(t, kind, "not-posted", zap.String("slack_error", code))
	_, err := b.transition(ctx, r, []store.State{r.State}, store.Change{To: store.Cancelled, Actor: actorBot,
		Problem: "not posted: Slack says " + code})
	if err != nil {
		t.log.Error("record that the request could not be posted", zap.Error(err))
	} else {
		b.audit(ctx, t.log, r.event(actorBot, "not-posted", "", "Slack says "+code))
	}
	b.reply(ctx, t, cannotPostAnswer(code, t.in.Channel, acct.Channels))
}
