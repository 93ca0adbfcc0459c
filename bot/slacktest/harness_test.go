package slacktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// waitTimeout bounds every wait in these tests. It is generous on purpose:
// the tests wait for conditions, never for durations.
const waitTimeout = 10 * time.Second

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 100 * time.Millisecond
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// bot is a real slack-go socket-mode client run against the fake. It
// drains Events, records them, and acks every envelope at once.
type bot struct {
	api    *slack.Client
	client *socketmode.Client
	result chan error // RunContext's return value

	mu     sync.Mutex
	events []socketmode.Event
	// ackPayload, when set, gives the payload of each ack.
	ackPayload func(socketmode.Event) any
}

type botOption func(*bot)

func withAckPayload(f func(socketmode.Event) any) botOption {
	return func(b *bot) { b.ackPayload = f }
}

func startBot(t *testing.T, srv *Server, appToken string, opts ...botOption) *bot {
	t.Helper()
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(appToken), slack.OptionAPIURL(srv.APIURL()))
	b := &bot{
		api: api,
		// The server pings every 100ms; 10s leaves a loaded machine room.
		client: socketmode.New(api, socketmode.OptionPingInterval(10*time.Second)),
		result: make(chan error, 1),
	}
	for _, o := range opts {
		o(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		b.drain(ctx)
	}()
	go func() { b.result <- b.client.RunContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.result:
		case <-time.After(waitTimeout):
			t.Error("RunContext did not return after cancel")
		}
		<-drained
	})
	return b
}

func (b *bot) drain(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-b.client.Events:
			b.mu.Lock()
			b.events = append(b.events, evt)
			f := b.ackPayload
			b.mu.Unlock()
			switch evt.Type {
			case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
				var payload any
				if f != nil {
					payload = f(evt)
				}
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_ = b.client.AckCtx(actx, evt.Request.EnvelopeID, payload)
				cancel()
			}
		}
	}
}

// ofType lists the recorded events of one type.
func (b *bot) ofType(typ socketmode.EventType) []socketmode.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []socketmode.Event
	for _, e := range b.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until the bot has seen at least n events of typ and
// returns them.
func (b *bot) waitEvents(t *testing.T, srv *Server, typ socketmode.EventType, n int) []socketmode.Event {
	t.Helper()
	ctx := testContext(t)
	if err := srv.WaitFor(ctx, func() bool { return len(b.ofType(typ)) >= n }); err != nil {
		t.Fatalf("waiting for %d %s events: %v (saw %v)", n, typ, err, b.types())
	}
	return b.ofType(typ)
}

func (b *bot) types() []socketmode.EventType {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []socketmode.EventType
	for _, e := range b.events {
		out = append(out, e.Type)
	}
	return out
}

// connectedBot starts a bot and waits until the server counts its connection.
func connectedBot(t *testing.T, srv *Server, opts ...botOption) *bot {
	t.Helper()
	b := startBot(t, srv, srv.AppToken(), opts...)
	b.waitEvents(t, srv, socketmode.EventTypeHello, 1)
	return b
}
