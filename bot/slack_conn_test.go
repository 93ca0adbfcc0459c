package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

// When Slack refuses connections (the app is at its cap of 10), the
// transport backs off instead of reconnecting in a tight loop, and /readyz
// says why; once there is room again, it connects.
func TestSlackBacksOffWhenSlackRefusesConnections(t *testing.T) {
	h := &recordingHandler{}
	e := startTransport(t, h, SlackConfig{Connections: 1})
	e.fake.SetGhostConnections(maxConnections) // other replicas, or leaked connections, hold all ten
	e.fake.DropConnections()
	waitFor(t, e.fake, "a refusal explained", func() bool {
		err := e.transport.Ready()
		return err != nil && strings.Contains(err.Error(), "too_many_websockets")
	})
	opened := e.fake.ConnectionsOpened()
	time.Sleep(1500 * time.Millisecond)
	if n := e.fake.ConnectionsOpened() - opened; n > 2 {
		t.Errorf("%d connections opened in 1.5 s while Slack refused them, want at most 2 (backing off)", n)
	}
	if e.logs.FilterMessage("slack refused the socket-mode connection; waiting before the next").Len() == 0 {
		t.Error("no log line says Slack refused the connection")
	}
	e.fake.SetGhostConnections(0)
	waitFor(t, e.fake, "connected once there is room", func() bool { return e.transport.Ready() == nil })
}

func TestSlackSaysSocketModeIsOff(t *testing.T) {
	e := startTransport(t, &recordingHandler{}, SlackConfig{Connections: 2})
	e.fake.SetSocketModeEnabled(false)
	waitFor(t, e.fake, "unready with the reason", func() bool {
		err := e.transport.Ready()
		return err != nil && strings.Contains(err.Error(), "link_disabled")
	})
}

// The bot counts the app's connections as Slack does, and warns near the cap.
func TestSlackWarnsNearTheConnectionCap(t *testing.T) {
	e := startTransport(t, &recordingHandler{}, SlackConfig{Connections: 2})
	e.fake.SetGhostConnections(6) // with this replica's two: 8
	e.fake.DisconnectOne("refresh_requested")
	waitFor(t, e.fake, "the warning", func() bool {
		return e.logs.FilterMessage("the Slack app has nearly as many socket-mode connections as Slack allows").Len() > 0
	})
	warned := e.logs.FilterMessage("the Slack app has nearly as many socket-mode connections as Slack allows").All()[0]
	if n, _ := warned.ContextMap()["num_connections"].(int64); n < crowdedAt {
		t.Errorf("warned with num_connections %v, want at least %d", warned.ContextMap()["num_connections"], crowdedAt)
	}
}

// One frame the client cannot read is acked (Slack would send it again) and
// logged; the connection stays up.
func TestSlackAcksAnUnreadableEnvelope(t *testing.T) {
	e := startTransport(t, &recordingHandler{}, SlackConfig{Connections: 1})
	id, err := e.fake.Unreadable(t.Context(), "slash_commands")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Ack(t.Context(), id); err != nil {
		t.Fatalf("ack of the unreadable envelope: %v", err)
	}
	if e.logs.FilterMessage("slack sent a message that cannot be read; it is acked and dropped").Len() != 1 {
		t.Error("the unreadable envelope was not logged")
	}
	if err := e.transport.Ready(); err != nil {
		t.Errorf("unready after one unreadable frame: %v", err)
	}
}

// On shutdown the sockets close before the work taken is drained, so that
// Slack sends new envelopes to the replicas still connected.
func TestSlackClosesItsSocketsBeforeDraining(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{PingInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	st, _ := openStoreAt(t)
	h := &blockingHandler{release: make(chan struct{})}
	tr, err := NewSlack(SlackConfig{API: slackAPI(fake), AppToken: fake.AppToken(), APIURL: fake.APIURL(), Handler: h,
		Inbox: st, Connections: 2, Stagger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tr.Run(runCtx, 10*time.Second) }()
	waitFor(t, fake, "connected", func() bool { return fake.Connections() == 2 })
	if _, err := fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", Text: "list"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, "the command on a worker", func() bool { n, _ := h.count(); return n == 1 })
	cancel()
	waitFor(t, fake, "the sockets closed while the work still runs", func() bool { return fake.Connections() == 0 })
	select {
	case <-done:
		t.Fatal("Run returned before the work finished")
	default:
	}
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
