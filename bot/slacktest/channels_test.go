package slacktest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func TestChannelMembership(t *testing.T) {
	channels := map[string]Channel{
		"CPUBOUT":  {},
		"CPUBIN":   {Member: true},
		"GPRIVOUT": {Type: PrivateChannel},
		"GPRIVIN":  {Type: PrivateChannel, Member: true},
		"DHUMANS":  {Type: DirectMessage},
		"DBOT":     {Type: DirectMessage, Member: true},
		"GMPIM":    {Type: GroupMessage},
		"CARCH":    {Member: true, Archived: true},
		"CREADONL": {Member: true, ReadOnly: true},
		"CFEW":     {Member: true, Users: []string{"U01ALICE"}},
	}
	for _, tt := range []struct {
		channel                     string
		post, ephemeral, update     string // "" when the call is accepted
		postWithPublic, ephWithPubl string // with the chat:write.public scope
	}{
		{"CPUBOUT", "not_in_channel", "not_in_channel", "", "", "not_in_channel"},
		{"CPUBIN", "", "", "", "", ""},
		{"GPRIVOUT", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found"},
		{"GPRIVIN", "", "", "", "", ""},
		{"DHUMANS", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found"},
		{"DBOT", "", "", "", "", ""},
		{"GMPIM", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found", "channel_not_found"},
		{"CARCH", "is_archived", "is_archived", "is_inactive", "is_archived", "is_archived"},
		{"CREADONL", "restricted_action_read_only_channel", "", "", "restricted_action_read_only_channel", ""},
		{"CFEW", "", "user_not_in_channel", "", "", "user_not_in_channel"},
		{"CUNDECLARED", "", "", "", "", ""},
	} {
		t.Run(tt.channel, func(t *testing.T) {
			for _, public := range []bool{false, true} {
				cfg := Config{}
				wantPost, wantEph := tt.post, tt.ephemeral
				if public {
					cfg.Scopes = []string{"commands", "chat:write", "chat:write.public"}
					wantPost, wantEph = tt.postWithPublic, tt.ephWithPubl
				}
				srv := newServer(t, cfg)
				api := newAPI(srv, srv.BotToken())
				ctx := testContext(t)

				// A message the bot posted before it was removed (or the
				// channel archived), for chat.update.
				_, ts, err := api.PostMessageContext(ctx, tt.channel, slack.MsgOptionText("before", false))
				if err != nil {
					t.Fatal(err)
				}
				for id, ch := range channels {
					srv.SetChannel(id, ch)
				}
				_, _, err = api.PostMessageContext(ctx, tt.channel, slack.MsgOptionText("hello", false))
				if got := errString(err); got != wantPost {
					t.Errorf("chat.postMessage (chat:write.public %v): %q, want %q", public, got, wantPost)
				}
				_, err = api.PostEphemeralContext(ctx, tt.channel, "U02BOB", slack.MsgOptionText("psst", false))
				if got := errString(err); got != wantEph {
					t.Errorf("chat.postEphemeral (chat:write.public %v): %q, want %q", public, got, wantEph)
				}
				_, _, _, err = api.UpdateMessageContext(ctx, tt.channel, ts, slack.MsgOptionText("after", false))
				if got := errString(err); got != tt.update {
					t.Errorf("chat.update: %q, want %q", got, tt.update)
				}
				var rejected []string
				for _, r := range srv.Rejected() {
					rejected = append(rejected, r.Method+" "+r.Channel+" "+r.Error)
				}
				var want []string
				for _, x := range [][2]string{{"chat.postMessage", wantPost}, {"chat.postEphemeral", wantEph}, {"chat.update", tt.update}} {
					if x[1] != "" {
						want = append(want, x[0]+" "+tt.channel+" "+x[1])
					}
				}
				if !slices.Equal(rejected, want) {
					t.Errorf("Rejected() = %q, want %q", rejected, want)
				}
			}
		})
	}
}

// Slash commands come from any conversation, and their response_url and
// ack payload work there, whether the bot is in it or not.
func TestCommandsFromConversationsTheBotIsNotIn(t *testing.T) {
	srv := newServer(t, Config{Channels: map[string]Channel{
		"D0DM":   {Type: DirectMessage},
		"G0PRIV": {Type: PrivateChannel, Name: "secret-ops"},
		"C0PUB":  {Name: "general"},
	}})
	b := connectedBot(t, srv, withAckPayload(func(socketmode.Event) any {
		return map[string]string{"text": "checking…", "response_type": "in_channel"}
	}))
	ctx := testContext(t)

	wantNames := map[string]string{"D0DM": "directmessage", "G0PRIV": "secret-ops", "C0PUB": "general"}
	for i, ch := range []string{"D0DM", "G0PRIV", "C0PUB"} {
		if _, err := srv.SlashCommand(ctx, SlashCommand{UserID: "U01ALICE", ChannelID: ch, Text: "list"}); err != nil {
			t.Fatal(err)
		}
		cmd := b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, i+1)[i].Data.(slack.SlashCommand)
		if cmd.ChannelID != ch || cmd.ChannelName != wantNames[ch] {
			t.Errorf("payload channel %s %q, want %s %q", cmd.ChannelID, cmd.ChannelName, ch, wantNames[ch])
		}
		if _, _, err := b.api.PostMessageContext(ctx, ch, slack.MsgOptionText("in the channel", false)); err == nil {
			t.Errorf("chat.postMessage to %s: accepted, want it refused", ch)
		}
		if err := slack.PostWebhookContext(ctx, cmd.ResponseURL, &slack.WebhookMessage{Text: "invite me", ResponseType: "in_channel"}); err != nil {
			t.Errorf("response_url in %s: %v", ch, err)
		}
		if err := srv.WaitFor(ctx, func() bool { return len(srv.Messages(ch)) == 2 }); err != nil {
			t.Errorf("%s: messages %+v, want the ack payload and the response_url post: %v", ch, srv.Messages(ch), err)
		}
	}
	var refused []string
	for _, r := range srv.Rejected() {
		refused = append(refused, fmt.Sprintf("%s %s %s", r.Method, r.Channel, r.Error))
	}
	want := []string{"chat.postMessage D0DM channel_not_found", "chat.postMessage G0PRIV channel_not_found", "chat.postMessage C0PUB not_in_channel"}
	if !slices.Equal(refused, want) {
		t.Errorf("Rejected() = %q, want %q", refused, want)
	}
}
