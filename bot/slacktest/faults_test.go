package slacktest

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestInjectFaultRateLimitsChosenCalls(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	parents := srv.InjectFault(Fault{
		Match: func(c Call) bool {
			return c.Method == "chat.postMessage" && c.Params.Get("channel") == "C0BUSY" && c.Params.Get("thread_ts") == ""
		},
		Times:      2,
		RetryAfter: 1500 * time.Millisecond,
	})
	post := func(channel, thread string) error {
		opts := []slack.MsgOption{slack.MsgOptionText("hello", false)}
		if thread != "" {
			opts = append(opts, slack.MsgOptionTS(thread))
		}
		_, _, err := api.PostMessageContext(ctx, channel, opts...)
		return err
	}
	if err := post("C0CALM", ""); err != nil {
		t.Fatalf("a parent post in another channel: %v", err)
	}
	_, parent, err := api.PostMessageContext(ctx, "C0CALM", slack.MsgOptionText("card", false))
	if err != nil {
		t.Fatal(err)
	}
	if err := post("C0BUSY", parent); err != nil {
		t.Errorf("a thread reply in the busy channel: %v", err)
	}
	for i := range 2 {
		var rl *slack.RateLimitedError
		if err := post("C0BUSY", ""); !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
			t.Errorf("busy parent post %d: err = %v, want RateLimitedError after 2s", i, err)
		}
	}
	if err := post("C0BUSY", ""); err != nil {
		t.Errorf("after Times calls the fault is gone: %v", err)
	}
	if n := parents.Answered(); n != 2 {
		t.Errorf("Answered = %d, want 2", n)
	}
	var limited int
	for _, c := range srv.Calls("chat.postMessage") {
		if c.Status == http.StatusTooManyRequests && c.Error == "ratelimited" {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("recorded 429s = %d, want 2", limited)
	}
	if got := len(srv.Messages("C0BUSY")); got != 2 {
		t.Errorf("busy channel messages = %d, want the reply and the last parent", got)
	}
}

func TestInjectFaultFailsFirstAttemptsUntilRemoved(t *testing.T) {
	srv := newServer(t, Config{})
	api := newAPI(srv, srv.BotToken())
	ctx := testContext(t)
	// The first two attempts of each text fail: HTTP 500, then an
	// "internal_error" answer (HTTP 200), as Slack answers either.
	attempts := map[string]int{}
	matchAttempt := func(k int) func(Call) bool {
		return func(c Call) bool {
			if c.Method != "chat.postMessage" {
				return false
			}
			if k == 1 {
				attempts[c.Params.Get("text")]++
			}
			return attempts[c.Params.Get("text")] == k
		}
	}
	first := srv.InjectFault(Fault{Match: matchAttempt(1), Status: http.StatusInternalServerError})
	second := srv.InjectFault(Fault{Match: matchAttempt(2), Error: "internal_error"})
	srv.FailMethod("chat.postMessage", "channel_not_found", -1) // injected faults come first
	for _, text := range []string{"job 1 ended", "job 2 ended"} {
		_, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText(text, false))
		var se slack.StatusCodeError
		if !errors.As(err, &se) || se.Code != http.StatusInternalServerError {
			t.Errorf("%s, attempt 1: err = %v, want HTTP 500", text, err)
		}
		_, _, err = api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText(text, false))
		var sr slack.SlackErrorResponse
		if !errors.As(err, &sr) || sr.Err != "internal_error" {
			t.Errorf("%s, attempt 2: err = %v, want internal_error", text, err)
		}
		_, _, err = api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText(text, false))
		if !errors.As(err, &sr) || sr.Err != "channel_not_found" {
			t.Errorf("%s, attempt 3: err = %v, want FailMethod's channel_not_found", text, err)
		}
	}
	if first.Answered() != 2 || second.Answered() != 2 {
		t.Errorf("Answered = %d, %d; want 2, 2", first.Answered(), second.Answered())
	}
	srv.FailMethod("chat.postMessage", "", 0)
	first.Remove()
	first.Remove() // twice is harmless
	second.Remove()
	if _, _, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("job 3 ended", false)); err != nil {
		t.Errorf("after Remove: %v", err)
	}
	if n := len(srv.Messages("C0OPS")); n != 1 {
		t.Errorf("messages = %d, want only the post after Remove", n)
	}
}
