package slacktest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// fakeClock is the server's clock in these tests: it moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func withClock(srv *Server) *fakeClock {
	c := &fakeClock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	srv.mu.Lock()
	srv.clock = c.Now
	srv.mu.Unlock()
	return c
}

// retryAfter is the Retry-After of a 429, 0 for a call that passed.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var rl *slack.RateLimitedError
	if err == nil {
		return 0
	}
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want a rate limit or none", err)
	}
	return rl.RetryAfter
}

func TestSlackRateLimits(t *testing.T) {
	srv := newServer(t, Config{RateLimits: SlackRateLimits()})
	clock := withClock(srv)
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	post := func(channel string) time.Duration {
		_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
		return retryAfter(t, err)
	}

	// chat.postMessage: bursts of 3 per channel, then one a second.
	for i := range 3 {
		if ra := post("C1"); ra != 0 {
			t.Fatalf("post %d in C1: rate limited", i+1)
		}
	}
	if ra := post("C1"); ra != time.Second {
		t.Errorf("4th post in C1: Retry-After %v, want 1s", ra)
	}
	if ra := post("C2"); ra != 0 {
		t.Error("another channel shares C1's limit")
	}
	clock.Advance(time.Second)
	if ra := post("C1"); ra != 0 {
		t.Error("a post after its Retry-After was refused")
	}
	if ra := post("C1"); ra != time.Second {
		t.Errorf("the next post: Retry-After %v, want 1s", ra)
	}

	// chat.update: Tier 3, 50 a minute (one per 1.2s), bursts of 5.
	_, ts, err := api.PostMessageContext(ctx, "C3", slack.MsgOptionText("parent", false))
	if err != nil {
		t.Fatal(err)
	}
	update := func() time.Duration {
		_, _, _, err := api.UpdateMessageContext(ctx, "C3", ts, slack.MsgOptionText("v", false))
		return retryAfter(t, err)
	}
	for i := range 5 {
		if ra := update(); ra != 0 {
			t.Fatalf("update %d: rate limited", i+1)
		}
	}
	if ra := update(); ra != 2*time.Second {
		t.Errorf("6th update: Retry-After %v, want 2s (1.2s rounded up)", ra)
	}

	// chat.postEphemeral: Tier 4, bursts of 10.
	for i := range 10 {
		if _, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("e", false)); err != nil {
			t.Fatalf("ephemeral %d: %v", i+1, err)
		}
	}
	if _, err := api.PostEphemeralContext(ctx, "C1", "U1", slack.MsgOptionText("e", false)); retryAfter(t, err) != time.Second {
		t.Errorf("11th ephemeral: %v, want a 1s Retry-After", err)
	}

	// No call so far came before the Retry-After of its 429; the next two
	// do.
	var early []string
	for _, c := range srv.EarlyCalls() {
		early = append(early, c.Method+" "+c.Params.Get("channel"))
	}
	if len(early) != 0 {
		t.Errorf("EarlyCalls() = %q, want none yet", early)
	}
	if ra := post("C1"); ra == 0 {
		t.Fatal("a post before its Retry-After passed")
	}
	clock.Advance(500 * time.Millisecond)
	if ra := post("C1"); ra != time.Second {
		t.Errorf("early post: Retry-After %v, want 1s", ra)
	}
	calls := srv.EarlyCalls()
	if len(calls) != 2 || calls[0].Method != "chat.postMessage" || calls[0].Status != 429 {
		t.Errorf("EarlyCalls() = %+v, want the two posts to C1 before the Retry-After", calls)
	}
	if rej := srv.Rejected(); len(rej) != 0 {
		t.Errorf("rate limits are not rejections: %+v", rej)
	}
}

// Calls after a 429 injected by RateLimit are early until Retry-After has
// passed, too; for chat.postMessage, in the same channel only.
func TestInjectedRateLimitEarlyCalls(t *testing.T) {
	srv := newServer(t, Config{})
	clock := withClock(srv)
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	post := func(channel string) error {
		_, _, err := api.PostMessageContext(ctx, channel, slack.MsgOptionText("hi", false))
		return err
	}

	srv.RateLimit("chat.postMessage", 1, 2*time.Second)
	if ra := retryAfter(t, post("C1")); ra != 2*time.Second {
		t.Fatalf("Retry-After %v, want 2s", ra)
	}
	if err := post("C2"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(1999 * time.Millisecond)
	if err := post("C1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Millisecond)
	if err := post("C1"); err != nil {
		t.Fatal(err)
	}
	var early []bool
	for _, c := range srv.Calls("chat.postMessage") {
		early = append(early, c.Early)
	}
	if want := []bool{false, false, true, false}; !slices.Equal(early, want) {
		t.Errorf("Early = %v, want %v", early, want)
	}
}
