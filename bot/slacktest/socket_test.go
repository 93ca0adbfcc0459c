package slacktest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

func TestConnectSendsHello(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)

	if got := b.ofType(socketmode.EventTypeConnected); len(got) != 1 {
		t.Fatalf("connected events = %d, want 1", len(got))
	}
	hello := b.ofType(socketmode.EventTypeHello)[0].Request
	if hello.NumConnections != 1 || hello.ConnectionInfo.AppID != "A0APP" || hello.DebugInfo.Host != "fake" {
		t.Errorf("hello = %+v, want num_connections 1, app A0APP, host fake", hello)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("Connections() = %d, want 1", n)
	}
	if n := srv.ConnectionsOpened(); n != 1 {
		t.Errorf("ConnectionsOpened() = %d, want 1", n)
	}
	calls := srv.Calls("apps.connections.open")
	if len(calls) != 1 || calls[0].Token != "xapp-1-test" || calls[0].HTTPMethod != "POST" || calls[0].Status != 200 {
		t.Errorf("apps.connections.open calls = %+v, want one POST with the app token", calls)
	}
}

func TestSlashCommandArrivesAndIsAcked(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv, withAckPayload(func(e socketmode.Event) any {
		if cmd, ok := e.Data.(slack.SlashCommand); ok {
			return map[string]string{"text": "received " + cmd.Text}
		}
		return nil
	}))
	ctx := testContext(t)

	id, err := srv.SlashCommand(ctx, SlashCommand{
		UserID: "U01ALICE", UserName: "alice", ChannelID: "C01OPS", ChannelName: "ops",
		Text: "dynamodb prod orders full before the migration",
	})
	if err != nil {
		t.Fatalf("SlashCommand: %v", err)
	}
	evt := b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 1)[0]
	cmd := evt.Data.(slack.SlashCommand)
	want := slack.SlashCommand{
		Token: "fakeverificationtoken", TeamID: "T0TEAM", TeamDomain: "fake",
		ChannelID: "C01OPS", ChannelName: "ops", UserID: "U01ALICE", UserName: "alice",
		Command: "/backup", Text: "dynamodb prod orders full before the migration",
		ResponseURL: cmd.ResponseURL, TriggerID: cmd.TriggerID, APIAppID: "A0APP",
	}
	if cmd != want {
		t.Errorf("slash command = %+v, want %+v", cmd, want)
	}
	if !strings.HasPrefix(cmd.ResponseURL, strings.TrimSuffix(srv.APIURL(), "api/")+"respond/") || cmd.TriggerID == "" {
		t.Errorf("response_url %q / trigger_id %q: want this server's URL and a trigger", cmd.ResponseURL, cmd.TriggerID)
	}
	if evt.Request.EnvelopeID != id || !evt.Request.AcceptsResponsePayload || evt.Request.RetryAttempt != 0 {
		t.Errorf("request = %+v, want envelope %s accepting a response payload", evt.Request, id)
	}

	ack, err := srv.Ack(ctx, id)
	if err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if string(ack.Payload) != `{"text":"received dynamodb prod orders full before the migration"}` {
		t.Errorf("ack payload = %s", ack.Payload)
	}
	if ack.SentAt.IsZero() || ack.AckedAt.Before(ack.SentAt) || ack.Conn != 1 {
		t.Errorf("ack = %+v, want sent and acked times in order on connection 1", ack)
	}
	eph := srv.Ephemerals("U01ALICE")
	if len(eph) != 1 || eph[0].Via != "ack" || eph[0].Channel != "C01OPS" || !strings.HasPrefix(eph[0].Text, "received") {
		t.Errorf("ephemerals = %+v, want the ack payload shown to alice", eph)
	}
}

func TestSlashCommandWithoutConnection(t *testing.T) {
	srv := newServer(t, Config{})
	_, err := srv.SlashCommand(testContext(t), SlashCommand{Text: "help"})
	if !errors.Is(err, ErrNoConnection) {
		t.Errorf("SlashCommand with no connection: err = %v, want ErrNoConnection", err)
	}
}

func TestClickArrivesAsBlockAction(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	approve := slack.NewButtonBlockElement("backup_approve", "req-1",
		slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
	deny := slack.NewButtonBlockElement("backup_deny", "req-1",
		slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).WithStyle(slack.StyleDanger)
	_, ts, err := b.api.PostMessageContext(ctx, "C01OPS", slack.MsgOptionText("backup req-1 awaiting approval", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("approval_req-1", approve, deny)))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}

	id, err := srv.Click(ctx, Click{UserID: "U02BOB", ChannelID: "C01OPS", MessageTS: ts, ActionID: "backup_deny"})
	if err != nil {
		t.Fatalf("Click: %v", err)
	}
	evt := b.waitEvents(t, srv, socketmode.EventTypeInteractive, 1)[0]
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback type %q with %d block actions, want one block_actions", cb.Type, len(cb.ActionCallback.BlockActions))
	}
	act := cb.ActionCallback.BlockActions[0]
	if act.ActionID != "backup_deny" || act.Value != "req-1" || act.BlockID != "approval_req-1" || act.Type != "button" || act.Text.Text != "Deny" {
		t.Errorf("action = %+v, want backup_deny/req-1 from block approval_req-1", act)
	}
	if cb.User.ID != "U02BOB" || cb.User.Name != "u02bob" || cb.Team.ID != "T0TEAM" || cb.APIAppID != "A0APP" {
		t.Errorf("user %+v team %+v app %q", cb.User, cb.Team, cb.APIAppID)
	}
	if cb.Container.Type != "message" || cb.Container.MessageTs != ts || cb.Container.ChannelID != "C01OPS" || cb.Container.IsEphemeral {
		t.Errorf("container = %+v, want message %s in C01OPS", cb.Container, ts)
	}
	if cb.Channel.ID != "C01OPS" || cb.Message.Timestamp != ts || cb.Message.Text != "backup req-1 awaiting approval" {
		t.Errorf("channel %q message ts %q text %q", cb.Channel.ID, cb.Message.Timestamp, cb.Message.Text)
	}
	if len(cb.Message.Blocks.BlockSet) != 1 || cb.ResponseURL == "" || cb.TriggerID == "" {
		t.Errorf("message blocks %d, response_url %q, trigger %q", len(cb.Message.Blocks.BlockSet), cb.ResponseURL, cb.TriggerID)
	}
	if evt.Request.EnvelopeID != id || evt.Request.AcceptsResponsePayload {
		t.Errorf("request = %+v, want envelope %s not accepting a payload", evt.Request, id)
	}
	if _, err := srv.Ack(ctx, id); err != nil {
		t.Errorf("Ack: %v", err)
	}
}

// A click can come from elsewhere: another workspace, app or Enterprise
// Grid organisation than the server's own, which auth.test reports.
func TestClickFromElsewhere(t *testing.T) {
	srv := newServer(t, Config{EnterpriseID: "E0ORG"})
	b := connectedBot(t, srv)
	ctx := testContext(t)
	who, err := b.api.AuthTestContext(ctx)
	if err != nil || who.TeamID != "T0TEAM" || who.EnterpriseID != "E0ORG" {
		t.Fatalf("auth.test = %+v, %v; want team T0TEAM in enterprise E0ORG", who, err)
	}
	for i, c := range []Click{
		{},
		{TeamID: "T0OTHER", AppID: "A0OTHER", EnterpriseID: "E0OTHER"},
	} {
		c.UserID, c.ChannelID, c.MessageTS, c.ActionID = "U02BOB", "C01OPS", "1.000001", "backup_approve"
		if _, err := srv.Click(ctx, c); err != nil {
			t.Fatalf("Click: %v", err)
		}
		cb := b.waitEvents(t, srv, socketmode.EventTypeInteractive, i+1)[i].Data.(slack.InteractionCallback)
		want := [3]string{"T0TEAM", "A0APP", "E0ORG"}
		if i == 1 {
			want = [3]string{"T0OTHER", "A0OTHER", "E0OTHER"}
		}
		if got := [3]string{cb.Team.ID, cb.APIAppID, cb.Enterprise.ID}; got != want || cb.User.TeamID != want[0] {
			t.Errorf("click %d: team, app, enterprise = %v (user's team %s), want %v", i, got, cb.User.TeamID, want)
		}
	}
}

func TestResend(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	first, err := srv.SlashCommand(ctx, SlashCommand{Text: "dynamodb prod orders full"})
	if err != nil {
		t.Fatalf("SlashCommand: %v", err)
	}
	same, err := srv.Resend(ctx, first, 1, true)
	if err != nil {
		t.Fatalf("Resend same: %v", err)
	}
	other, err := srv.Resend(ctx, first, 2, false)
	if err != nil {
		t.Fatalf("Resend new: %v", err)
	}
	if same != first || other == first {
		t.Errorf("resent IDs %q, %q; want %q then a new one", same, other, first)
	}
	evts := b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 3)
	for i, want := range []struct {
		id      string
		attempt int
		reason  string
	}{{first, 0, ""}, {first, 1, "timeout"}, {other, 2, "timeout"}} {
		r := evts[i].Request
		if r.EnvelopeID != want.id || r.RetryAttempt != want.attempt || r.RetryReason != want.reason {
			t.Errorf("event %d: envelope %q attempt %d reason %q, want %+v", i, r.EnvelopeID, r.RetryAttempt, r.RetryReason, want)
		}
		if got := evts[i].Data.(slack.SlashCommand).Text; got != "dynamodb prod orders full" {
			t.Errorf("event %d text = %q", i, got)
		}
	}
	if err := srv.WaitFor(ctx, func() bool { return len(srv.Acks()) == 3 }); err != nil {
		t.Errorf("acks = %+v, want 3: %v", srv.Acks(), err)
	}
	if _, err := srv.Resend(ctx, "no-such-envelope", 1, true); err == nil {
		t.Error("Resend of an unknown envelope: want an error")
	}
}

func TestReconnects(t *testing.T) {
	for _, tt := range []struct {
		name string
		cut  func(*Server)
	}{
		{"refresh_requested", func(s *Server) { s.Disconnect("refresh_requested") }},
		{"warning", func(s *Server) { s.Disconnect("warning") }},
		{"link_disabled", func(s *Server) { s.Disconnect("link_disabled") }},
		{"dropped", (*Server).DropConnections},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, Config{})
			b := connectedBot(t, srv)
			ctx := testContext(t)

			tt.cut(srv)
			b.waitEvents(t, srv, socketmode.EventTypeHello, 2)
			if err := srv.WaitConnections(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if n := srv.ConnectionsOpened(); n != 2 {
				t.Errorf("ConnectionsOpened() = %d, want 2", n)
			}
			if _, err := srv.SlashCommand(ctx, SlashCommand{Text: "help"}); err != nil {
				t.Fatalf("SlashCommand after reconnect: %v", err)
			}
			b.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 1)
			if got := b.ofType(socketmode.EventTypeDisconnect); len(got) != 0 {
				t.Errorf("slack-go delivered %d disconnect events; it used not to", len(got))
			}
		})
	}
}

func TestBadAppTokenStopsClient(t *testing.T) {
	srv := newServer(t, Config{})
	b := startBot(t, srv, "xapp-1-wrong")
	select {
	case err := <-b.result:
		var slackErr slack.SlackErrorResponse
		if !errors.As(err, &slackErr) || slackErr.Err != "invalid_auth" {
			t.Errorf("RunContext = %v, want invalid_auth", err)
		}
		b.result <- err // for the cleanup
	case <-testContext(t).Done():
		t.Fatal("RunContext did not return on a bad app token")
	}
	if n := srv.ConnectionsOpened(); n != 0 {
		t.Errorf("ConnectionsOpened() = %d, want 0", n)
	}
}

func TestConnectionsOpenError(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	// An outage: slack-go retries with backoff until it clears.
	srv.SetConnectionsOpenError("internal_error")
	srv.DropConnections()
	errEvt := b.waitEvents(t, srv, socketmode.EventTypeConnectionError, 1)[0]
	if ce, ok := errEvt.Data.(*slack.ConnectionErrorEvent); !ok || ce.ErrorObj.Error() != "internal_error" {
		t.Errorf("connection error event = %+v, want internal_error", errEvt.Data)
	}
	srv.SetConnectionsOpenError("")
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// A revoked token: slack-go gives up.
	srv.SetConnectionsOpenError("invalid_auth")
	srv.DropConnections()
	select {
	case err := <-b.result:
		if err == nil || err.Error() != "invalid_auth" {
			t.Errorf("RunContext = %v, want invalid_auth", err)
		}
		b.result <- err
	case <-ctx.Done():
		t.Fatal("RunContext did not return on invalid_auth")
	}
}

func TestEnvelopesRoundRobin(t *testing.T) {
	srv := newServer(t, Config{})
	b1 := connectedBot(t, srv)
	b2 := connectedBot(t, srv)
	ctx := testContext(t)
	if err := srv.WaitConnections(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n := b2.ofType(socketmode.EventTypeHello)[0].Request.NumConnections; n != 2 {
		t.Errorf("second hello num_connections = %d, want 2", n)
	}
	for range 4 {
		if _, err := srv.SlashCommand(ctx, SlashCommand{Text: "help"}); err != nil {
			t.Fatal(err)
		}
	}
	b1.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 2)
	b2.waitEvents(t, srv, socketmode.EventTypeSlashCommand, 2)
	var conns []int
	for _, e := range srv.Envelopes() {
		conns = append(conns, e.Conn)
	}
	if len(conns) != 4 || conns[0] == conns[1] || conns[0] != conns[2] || conns[1] != conns[3] {
		t.Errorf("envelopes went to connections %v, want alternating", conns)
	}
	for _, e := range srv.Envelopes() {
		a, err := srv.Ack(ctx, e.ID)
		if err != nil || a.Conn != e.Conn {
			t.Errorf("ack of %s = %+v, %v; want it on connection %d", e.ID, a, err, e.Conn)
		}
		var p map[string]any
		if json.Unmarshal(e.Payload, &p) != nil || p["is_enterprise_install"] != "false" {
			t.Errorf("payload %s: want is_enterprise_install \"false\"", e.Payload)
		}
	}
}

func TestConnectRateLimited(t *testing.T) {
	srv := newServer(t, Config{})
	b := connectedBot(t, srv)
	ctx := testContext(t)

	srv.RateLimit("apps.connections.open", 1, time.Second)
	srv.DropConnections()
	errEvt := b.waitEvents(t, srv, socketmode.EventTypeConnectionError, 1)[0]
	ce, ok := errEvt.Data.(*slack.ConnectionErrorEvent)
	var rl *slack.RateLimitedError
	if !ok || !errors.As(ce.ErrorObj, &rl) || rl.RetryAfter != time.Second || ce.Backoff < time.Second {
		t.Errorf("connection error event = %+v, want a 1s rate limit used as the backoff", errEvt.Data)
	}
	if err := srv.WaitFor(ctx, func() bool { return srv.ConnectionsOpened() == 2 && srv.Connections() == 1 }); err != nil {
		t.Errorf("no reconnect after the rate limit: %v", err)
	}
}
