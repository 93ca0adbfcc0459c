package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/bot/store"
)

// blockingHandler holds every command until released.
type blockingHandler struct {
	mu      sync.Mutex
	release chan struct{}
	inputs  []Input
	clicks  []Click
}

func (h *blockingHandler) Handle(_ context.Context, in Input) {
	h.mu.Lock()
	h.inputs = append(h.inputs, in)
	h.mu.Unlock()
	<-h.release
}

func (h *blockingHandler) Click(_ context.Context, c Click) {
	h.mu.Lock()
	h.clicks = append(h.clicks, c)
	h.mu.Unlock()
}

func (h *blockingHandler) count() (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.inputs), len(h.clicks)
}

type transportEnv struct {
	fake      *slacktest.Server
	api       *slack.Client
	transport *Slack
	logs      *observer.ObservedLogs
}

func startTransport(t *testing.T, h handler, cfg SlackConfig) *transportEnv {
	t.Helper()
	fake, err := slacktest.New(slacktest.Config{PingInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()))
	core, logs := observer.New(zap.DebugLevel)
	cfg.API, cfg.Handler, cfg.Log = api, h, zap.New(core)
	cfg.AppToken, cfg.APIURL = fake.AppToken(), fake.APIURL()
	if cfg.Stagger == 0 {
		cfg.Stagger = time.Millisecond
	}
	if cfg.Inbox == nil {
		cfg.Inbox = openStore(t)
	}
	tr, err := NewSlack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, fake, "connections", func() bool { return fake.Connections() >= cfg.Connections && tr.Ready() == nil })
	return &transportEnv{fake: fake, api: api, transport: tr, logs: logs}
}

// openStore opens a new SQLite store in the test's temporary directory.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func waitFor(t *testing.T, fake *slacktest.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := fake.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestSlackBusyAnswersThroughTheAck(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{})}
	e := startTransport(t, h, SlackConfig{Connections: 2, Workers: 1, Queue: 1})
	ctx := t.Context()
	var ids []string
	for i := range 3 {
		id, err := e.fake.SlashCommand(ctx, slacktest.SlashCommand{UserID: "U0ALICE", Text: "list " + string(rune('a'+i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i == 0 { // the first is on the worker before the next arrives
			waitFor(t, e.fake, "the first command on the worker", func() bool { n, _ := h.count(); return n == 1 })
		}
	}
	for _, id := range ids {
		if _, err := e.fake.Ack(ctx, id); err != nil {
			t.Fatalf("ack %s: %v", id, err)
		}
	}
	busy := e.fake.Ephemerals("U0ALICE")
	if len(busy) != 1 || busy[0].Via != "ack" || !strings.Contains(busy[0].Text, "busy") {
		t.Fatalf("ephemerals = %+v, want one busy answer through the ack", busy)
	}
	close(h.release)
	waitFor(t, e.fake, "the queued command", func() bool { n, _ := h.count(); return n == 2 })
}

func TestSlackClickRouting(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{})}
	close(h.release)
	e := startTransport(t, h, SlackConfig{Connections: 2})
	_, ts, err := e.api.PostMessageContext(t.Context(), "C0OPS", slack.MsgOptionText("card", false),
		slack.MsgOptionBlocks(slack.NewActionBlock("b1", slack.NewButtonBlockElement(ActionApprove, "r-1a2b3c",
			slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.fake.Click(t.Context(), slacktest.Click{UserID: "U0LEAD", ChannelID: "C0OPS", MessageTS: ts, ActionID: ActionApprove})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.Ack(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.fake, "the click", func() bool { _, n := h.count(); return n == 1 })
	got := h.clicks[0]
	if !strings.Contains(got.ResponseURL, "/respond/") {
		t.Errorf("click's response URL = %q, want the click's response_url", got.ResponseURL)
	}
	got.ResponseURL = ""
	want := Click{User: "U0LEAD", Channel: "C0OPS", MessageTS: ts, ActionID: ActionApprove, Value: "r-1a2b3c",
		TeamID: "T0TEAM", AppID: "A0APP"} // where the payload says it comes from
	if got != want {
		t.Errorf("click = %+v, want %+v", got, want)
	}
	// Slack's retry of the same click is taken once.
	if _, err := e.fake.Resend(t.Context(), id, 1, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, n := h.count(); n != 1 {
		t.Errorf("clicks handled = %d, want 1", n)
	}
}

func TestSlackReadiness(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{})}
	close(h.release)
	e := startTransport(t, h, SlackConfig{Connections: 2})
	e.fake.SetConnectionsOpenError("internal_error")
	e.fake.DropConnections()
	waitFor(t, e.fake, "unready", func() bool { return e.transport.Ready() != nil })
	waitFor(t, e.fake, "a log line per failed attempt", func() bool {
		return e.logs.FilterMessage("slack connection cannot be opened; retrying").Len() >= 2
	})
	e.fake.SetConnectionsOpenError("")
	waitFor(t, e.fake, "ready again", func() bool { return e.transport.Ready() == nil && e.fake.Connections() >= 2 })
}

func TestSlackGroupsCache(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{UserGroups: map[string][]string{"S0LEADS": {"U0LEAD"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	clk := newClock()
	g := NewSlackGroups(api, clk.Now)
	for range 3 {
		m, err := g.Members(t.Context(), "S0LEADS")
		if err != nil || len(m) != 1 || m[0] != "U0LEAD" {
			t.Fatalf("Members = %v, %v", m, err)
		}
	}
	if n := len(fake.Calls("usergroups.users.list")); n != 1 {
		t.Errorf("lookups = %d, want 1 within the TTL", n)
	}
	fake.SetUserGroup("S0LEADS", []string{"U0LEAD", "U0NEW"})
	clk.Advance(5 * time.Minute)
	if m, _ := g.Members(t.Context(), "S0LEADS"); len(m) != 2 {
		t.Errorf("after 5 minutes Members = %v, want the new membership", m)
	}
	if _, err := g.Members(t.Context(), "S0NOSUCH"); err == nil {
		t.Error("unknown group: no error")
	}
	if _, err := g.Members(t.Context(), "S0NOSUCH"); err == nil || len(fake.Calls("usergroups.users.list")) != 4 {
		t.Errorf("an error was cached (lookups = %d)", len(fake.Calls("usergroups.users.list")))
	}
}

func TestSlackChatKeepsOrderThroughRateLimits(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	c := NewSlackChat(api, zap.NewNop(), nil)
	fake.RateLimit("chat.postMessage", 1, time.Second)
	ts, err := c.Post(t.Context(), "C0OPS", Message{Text: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := c.Reply(t.Context(), "C0OPS", ts, Message{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range fake.Messages("C0OPS") {
		got = append(got, m.Text)
	}
	if strings.Join(got, ",") != "parent,one,two,three" {
		t.Errorf("messages = %v", got)
	}
	if err := c.Update(t.Context(), "C0OPS", ts, Message{Text: "parent, updated"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m, _ := fake.Message("C0OPS", ts); m.Text != "parent, updated" {
		t.Errorf("parent = %q after update", m.Text)
	}
}

// Successive updates of one message are coalesced, wait out chat.update's
// rate limit without calling early, and never hold up the channel's posts.
func TestSlackChatCoalescesUpdates(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	c := NewSlackChat(slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL())), zap.NewNop(), nil)
	ts, err := c.Post(t.Context(), "C0OPS", Message{Text: "card: pending"})
	if err != nil {
		t.Fatal(err)
	}
	fake.RateLimit("chat.update", 1, time.Second)
	for _, state := range []string{"approved", "submitting", "running", "finished"} {
		if err := c.Update(t.Context(), "C0OPS", ts, Message{Text: "card: " + state}); err != nil {
			t.Fatal(err)
		}
	}
	// The channel's posts do not wait for the rate-limited updates.
	start := time.Now()
	if _, err := c.Reply(t.Context(), "C0OPS", ts, Message{Text: "✅ Submitted: task 1, job 2"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a reply waited %v behind the updates", d)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m, _ := fake.Message("C0OPS", ts); m.Text != "card: finished" {
		t.Errorf("card = %q, want the latest state", m.Text)
	}
	if n := len(fake.Calls("chat.update")); n > 3 {
		t.Errorf("chat.update called %d times for 4 updates under a rate limit, want them coalesced", n)
	}
	if early := fake.EarlyCalls(); len(early) != 0 {
		t.Errorf("calls made before their Retry-After: %+v", early)
	}
}

// Updates of many cards under chat.update's limit (one bucket for the
// workspace) go out one call at a time: none is made before a 429's
// Retry-After has passed (a call already under way when another got its 429
// would be), and none is given up after too many 429s.
func TestSlackChatUpdatesManyCardsWithoutEarlyCalls(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{RateLimits: map[string]slacktest.RateLimit{
		"chat.update": {Every: 200 * time.Millisecond, Burst: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	c := NewSlackChat(slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL())), zap.NewNop(), nil)
	var cards []string
	for i := range 12 {
		ts, err := c.Post(t.Context(), "C0OPS", Message{Text: fmt.Sprintf("card %d: pending", i)})
		if err != nil {
			t.Fatal(err)
		}
		cards = append(cards, ts)
	}
	for i, ts := range cards {
		if err := c.Update(t.Context(), "C0OPS", ts, Message{Text: fmt.Sprintf("card %d: finished", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, ts := range cards {
		if m, _ := fake.Message("C0OPS", ts); m.Text != fmt.Sprintf("card %d: finished", i) {
			t.Errorf("card %d = %q, want its update", i, m.Text)
		}
	}
	if early := fake.EarlyCalls(); len(early) != 0 {
		t.Errorf("%d chat.update calls made before their Retry-After had passed", len(early))
	}
}

func TestSlackEphemeralFallsBackToPostEphemeral(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	c := NewSlackChat(api, zap.NewNop(), nil)
	to := Input{User: "U0ALICE", Channel: "C0OPS", ResponseURL: fake.APIURL() + "../respond/nosuch"}
	if err := c.Ephemeral(t.Context(), to, Message{Text: "only you"}); err != nil {
		t.Fatal(err)
	}
	eph := fake.Ephemerals("U0ALICE")
	if len(eph) != 1 || eph[0].Via != "chat.postEphemeral" || eph[0].Text != "only you" {
		t.Errorf("ephemerals = %+v", eph)
	}
}

// recordingHandler records what it is given.
type recordingHandler struct {
	mu     sync.Mutex
	inputs []Input
}

func (h *recordingHandler) Handle(_ context.Context, in Input) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inputs = append(h.inputs, in)
}

func (h *recordingHandler) Click(context.Context, Click) {}

func (h *recordingHandler) all() []Input {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Input(nil), h.inputs...)
}

// Work a replica recorded and acked, then died before serving, is served
// by another.
func TestSlackServesWorkAStoppedReplicaLeft(t *testing.T) {
	st := openStore(t)
	left, _ := json.Marshal(envelopeRecord{Input: &Input{User: "U0ALICE", Channel: "C0OPS", Text: "list", Origin: "env-left"}})
	if _, err := st.Take(t.Context(), time.Minute, []string{"envelope:env-left"}, store.InboxItem{ID: "env-left",
		Kind: "command", Payload: left, Received: time.Now().Add(-time.Minute)}, "", 0); err != nil {
		t.Fatal(err)
	}
	h := &recordingHandler{}
	e := startTransport(t, h, SlackConfig{Connections: 2, Inbox: st, Replica: "survivor", SweepEvery: 50 * time.Millisecond})
	waitFor(t, e.fake, "the left work", func() bool { return len(h.all()) == 1 })
	if got := h.all()[0]; got.Origin != "env-left" || got.Text != "list" {
		t.Errorf("served %+v", got)
	}
	// A command of its own is recorded, served once, and marked done.
	id, err := e.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0BOB", Text: "help"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, e.fake, "the new command", func() bool { return len(h.all()) == 2 })
	time.Sleep(200 * time.Millisecond) // sweeps that would serve it again
	if n := len(h.all()); n != 2 {
		t.Errorf("served %d times, want 2 inputs in all", n)
	}
	if _, ok, err := st.ClaimInbox(t.Context(), id, "other", time.Minute); ok || err != nil {
		t.Errorf("the served envelope can still be claimed (ok %v, err %v)", ok, err)
	}
}

func (*blockingHandler) Receipt(Input) *Message { return nil }

func (*recordingHandler) Receipt(Input) *Message { return nil }
