package bot

import (
	"context"

	"github.com/slack-go/slack"
)

// Message is one message the bot posts: a plain-text fallback that holds the
// key facts (IDs, states) and, where they help reading, Block Kit blocks.
// Text is Slack mrkdwn: user-supplied parts are already escaped.
type Message struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks,omitempty"`
}

// Chat is what the core needs from a chat transport. Slack and the console
// both implement it, so they drive the same conversation.
type Chat interface {
	// Post posts a message in a channel and returns its timestamp, which
	// identifies it for Reply and Update.
	Post(ctx context.Context, channel string, m Message) (ts string, err error)
	// Reply posts m in the thread of the message threadTS.
	Reply(ctx context.Context, channel, threadTS string, m Message) (ts string, err error)
	// Update replaces the message ts.
	Update(ctx context.Context, channel, ts string, m Message) error
	// Delete removes the bot's own message ts.
	Delete(ctx context.Context, channel, ts string) error
	// Ephemeral shows m only to the person who sent in: through its
	// ResponseURL when it has one (that works where the bot is not a
	// member), else in its channel.
	Ephemeral(ctx context.Context, to Input, m Message) error
	// Permalink links to the message ts.
	Permalink(ctx context.Context, channel, ts string) (string, error)
}

// Input is one slash command as the core sees it, whatever the transport;
// for a click, who clicked and where.
type Input struct {
	User    string // Slack user ID of the caller
	Channel string // channel the command was typed in
	Text    string // what followed the slash command
	// Origin identifies the envelope the command came in, when it came
	// from Slack: a command served twice (after a replica died) makes one
	// request.
	Origin string
	// ResponseURL answers the caller privately (Slack's response_url, valid
	// for 30 minutes); "" outside Slack. It is a credential: it lets anyone
	// post in the channel, so it never reaches a log.
	ResponseURL string `json:"-"`
}

// Click is one button press as the core sees it.
type Click struct {
	User        string // who clicked
	Channel     string
	MessageTS   string // the message that holds the button
	ActionID    string // which button (ActionApprove, ActionDeny)
	Value       string // the button's value: a request ID
	ResponseURL string `json:"-"` // answers the clicker privately, as Input's
	// Where Slack says the click comes from: the payload's team.id,
	// api_app_id and enterprise.id ("" outside Enterprise Grid), held
	// against Config.Workspace.
	TeamID, AppID, EnterpriseID string
}

// The action_id of the approval buttons: part of the contract with Slack.
const (
	ActionApprove = "backup_approve"
	ActionDeny    = "backup_deny"
)
