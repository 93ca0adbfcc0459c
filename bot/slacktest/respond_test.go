package slacktest

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func TestSlashCommandResponseURL(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	if _, err := srv.SlashCommand(ctx, SlashCommand{UserID: "U01ALICE", ChannelID: "C01OPS", Text: "list"}); err != nil {
		t.Fatal(err)
	}
	url := b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 1)[0].Data.(slack.SlashCommand).ResponseURL

	// slack-go's two ways of posting to a response_url.
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "prod: orders, payments"}); err != nil {
		t.Fatalf("PostWebhook: %v", err)
	}
	if _, _, err := b.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(url, slack.ResponseTypeInChannel),
		slack.MsgOptionText("alice asked for the list", false)); err != nil {
		t.Fatalf("PostMessage with MsgOptionResponseURL: %v", err)
	}

	eph := srv.Ephemerals("U01ALICE")
	if len(eph) != 1 || eph[0].Via != "response_url" || eph[0].Text != "prod: orders, payments" || eph[0].Channel != "C01OPS" {
		t.Errorf("ephemerals = %+v, want the webhook text for alice", eph)
	}
	msgs := srv.Messages("C01OPS")
	if len(msgs) != 1 || msgs[0].Text != "alice asked for the list" {
		t.Errorf("messages = %+v, want the in_channel response", msgs)
	}
	posts := srv.ResponseURLPosts()
	if len(posts) != 2 || posts[0].URL != url || posts[1].ResponseType != "in_channel" || posts[0].Status != http.StatusOK {
		t.Errorf("response posts = %+v", posts)
	}

	// Five uses at most.
	for range 3 {
		if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "again"}); err != nil {
			t.Fatalf("use within the limit: %v", err)
		}
	}
	err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "sixth"})
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Errorf("sixth use: err = %v, want a 404", err)
	}
	if p := srv.ResponseURLPosts(); p[len(p)-1].Error != "used_url" {
		t.Errorf("last post = %+v, want used_url", p[len(p)-1])
	}

	srv.ExpireResponseURLs()
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "late"}); !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Errorf("expired url: err = %v, want a 404", err)
	}
	if p := srv.ResponseURLPosts(); p[len(p)-1].Error != "expired_url" {
		t.Errorf("last post = %+v, want expired_url", p[len(p)-1])
	}
}

func TestClickResponseURLReplacesAndDeletes(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	btn := slack.NewButtonBlockElement("backup_approve", "req-7", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	_, ts, err := b.api.PostMessageContext(ctx, "C01OPS", slack.MsgOptionText("awaiting approval", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("a", btn)))
	if err != nil {
		t.Fatal(err)
	}
	click := func(n int) string {
		t.Helper()
		if _, err := srv.Click(ctx, Click{UserID: "U02BOB", ChannelID: "C01OPS", MessageTS: ts, ActionID: "backup_approve"}); err != nil {
			t.Fatal(err)
		}
		return b.waitEvents(t, srv, socketmode.EventTypeInteractive, n)[n-1].Data.(slack.InteractionCallback).ResponseURL
	}

	if _, _, err := b.api.PostMessageContext(ctx, "", slack.MsgOptionReplaceOriginal(click(1)),
		slack.MsgOptionText("approved by <@U02BOB>", false)); err != nil {
		t.Fatalf("replace_original: %v", err)
	}
	m, found := srv.Message("C01OPS", ts)
	if !found || m.Text != "approved by <@U02BOB>" || m.Blocks != nil || m.Updated != 1 {
		t.Errorf("after replace_original: %+v", m)
	}

	// The next click carries the message as it stands now.
	url := click(2)
	cb := b.ofType(socketmode.EventTypeInteractive)[1].Data.(slack.InteractionCallback)
	if cb.Message.Text != "approved by <@U02BOB>" {
		t.Errorf("second click message text = %q", cb.Message.Text)
	}
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{DeleteOriginal: true}); err != nil {
		t.Fatalf("delete_original: %v", err)
	}
	if _, found := srv.Message("C01OPS", ts); found || len(srv.Messages("C01OPS")) != 0 {
		t.Error("message still there after delete_original")
	}
}

// response_url posts and slash-command ack payloads are held to Block Kit's
// rules too; what Slack refuses is not shown and is a Rejection.
func TestResponseURLAndAckBlocksAreValidated(t *testing.T) {
	srv := newServer(t, Config{})
	badBlocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.MarkdownType, "*list*", false, false))}
	b := connectedBot(t, srv, withAckPayload(func(e socketmode.Event) any {
		if cmd, ok := e.Data.(slack.SlashCommand); ok && cmd.Text == "bad ack" {
			return map[string]any{"text": "checking…", "blocks": badBlocks}
		}
		return map[string]any{"text": "checking…"}
	}))
	ctx := testContext(t)

	id, err := srv.SlashCommand(ctx, SlashCommand{UserID: "U01ALICE", ChannelID: "C01OPS", Text: "bad ack"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := srv.Ack(ctx, id)
	if err != nil || ack.Error != "invalid_blocks" || ack.Payload == nil {
		t.Fatalf("ack = %+v, %v; want it refused with invalid_blocks", ack, err)
	}
	if _, err := srv.SlashCommand(ctx, SlashCommand{UserID: "U01ALICE", ChannelID: "C01OPS", Text: "good ack"}); err != nil {
		t.Fatal(err)
	}
	url := b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 2)[1].Data.(slack.SlashCommand).ResponseURL
	if err := srv.WaitFor(ctx, func() bool { return len(srv.Ephemerals("U01ALICE")) == 1 }); err != nil {
		t.Fatalf("the valid ack payload was not shown: %v", err)
	}

	err = slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "list", Blocks: &slack.Blocks{BlockSet: badBlocks}})
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusBadRequest {
		t.Errorf("response_url with bad blocks: err = %v, want a 400", err)
	}
	if p := srv.ResponseURLPosts(); p[len(p)-1].Error != "invalid_blocks" {
		t.Errorf("last post = %+v, want invalid_blocks", p[len(p)-1])
	}
	if eph := srv.Ephemerals("U01ALICE"); len(eph) != 1 || eph[0].Via != "ack" {
		t.Errorf("ephemerals = %+v, want only the valid ack", eph)
	}
	want := "[ERROR] must be one of: plain_text [json-pointer:/blocks/0/text/type]"
	rej := srv.Rejected()
	if len(rej) != 2 || rej[0].Method != "ack" || rej[1].Method != "response_url" {
		t.Fatalf("Rejected() = %+v, want the ack and the response_url post", rej)
	}
	for _, r := range rej {
		if r.Channel != "C01OPS" || r.Error != "invalid_blocks" || !slices.Contains(r.Messages, want) || r.Body == nil {
			t.Errorf("rejection %+v, want invalid_blocks in C01OPS with %q", r, want)
		}
	}
}
