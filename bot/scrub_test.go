package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/store"
)

// The inbox keeps a command's response_url (a credential that posts in
// its channel for 30 minutes) only while its work may still be served:
// the lease holder's housekeeping removes it from work done and from work
// older than that, and what is left is still served.
func TestResponseURLsLeaveTheInbox(t *testing.T) {
	e := newEnv(t)
	tr := &Slack{cfg: SlackConfig{Inbox: e.store, Replica: "replica-a", claimLease: time.Minute}}
	const url = "https://hooks.slack.com/commands/T0TEAM/1/secret"
	for _, id := range []string{"env-done", "env-left"} {
		e := envelope{id: id, input: &Input{User: "U0ALICE", Channel: "C0OPS", Text: "list", Origin: id}, responseURL: url}
		if seen, err := tr.remember(t.Context(), "trigger-"+id, e); err != nil || seen {
			t.Fatalf("remember(%s) = %v, %v", id, seen, err)
		}
	}
	if err := e.store.InboxDone(t.Context(), "env-done", store.Served); err != nil {
		t.Fatal(err)
	}
	next := time.Time{}
	e.bot.round(context.Background(), &next, func() bool { return true })
	left, ok, err := e.store.ClaimInbox(t.Context(), "env-left", "replica-a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if !strings.Contains(string(left.Payload), url) {
		t.Fatalf("a fresh item lost its response_url: %s", left.Payload)
	}

	e.clock.Advance(responseURLLife + time.Minute) // its URL no longer works
	e.bot.round(context.Background(), &next, func() bool { return true })
	left, ok, err = e.store.ClaimInbox(t.Context(), "env-left", "replica-a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if strings.Contains(string(left.Payload), "hooks.slack.com") {
		t.Errorf("the inbox kept a response_url past its life: %s", left.Payload)
	}
	got, err := envelopeOf(left)
	if err != nil || got.input == nil || got.input.Text != "list" || got.responseURL != "" {
		t.Errorf("the scrubbed item = %+v, %v; want its input, without the URL", got, err)
	}
}
