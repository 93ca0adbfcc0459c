package bot

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const auditChannel = "C0AUDIT"

// newAuditedEnv is newEnv with the test policy's audit_channel set.
func newAuditedEnv(t *testing.T) *env {
	t.Helper()
	data, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, append([]byte("audit_channel: "+auditChannel+"\n"), data...), nil)
}

// announcements waits for n posts in the audit channel and returns them.
func (e *env) announcements(t *testing.T, n int) []sent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a bound for a slow machine, not a speed goal
	for {
		var out []sent
		for _, p := range e.chat.all("post") {
			if p.Channel == auditChannel {
				out = append(out, p)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) != n {
				t.Fatalf("audit channel posts = %+v, want %d", out, n)
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBreakglassIsAnnounced(t *testing.T) {
	e := newAuditedEnv(t)
	e.do("U0ALICE", "C0PRIVATE", "emergency dynamodb prod orders full the table is corrupt (INC-9)")
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d", n)
	}
	got := e.announcements(t, 1)[0].Msg.Text
	card := e.chat.all("post")[0]
	contains(t, "announcement", got, "Break-glass", "<@U0ALICE>", "full backup of *prod* / *orders*", "aws-prod-account",
		"Reason: the table is corrupt (INC-9)", "<#C0PRIVATE>", "<https://example.slack.com/archives/C0PRIVATE/p"+strings.ReplaceAll(card.TS, ".", ""))
}

func TestApprovalDecisionsAreAnnounced(t *testing.T) {
	e := newAuditedEnv(t)
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove)
	other := e.request(t, "payments")
	id := cardButtons(other.Msg)[ActionDeny]
	e.bot.decide(t.Context(), e.bot.newTurn(Input{User: "U0LEAD", Channel: "C0OPS"}), id, "", false, "not during the freeze")
	posts := e.announcements(t, 2)
	texts := posts[0].Msg.Text + "\n" + posts[1].Msg.Text
	contains(t, "announcements", texts, "<@U0LEAD> approved <@U0ALICE>'s full backup of *prod* / *orders*",
		"<@U0LEAD> denied <@U0ALICE>'s full backup of *prod* / *payments*", "Reason: not during the freeze")
}

// A policy without audit_channel announces nothing.
func TestNoAuditChannelNoAnnouncement(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full corrupt")
	e.finishJobs(t)
	if posts := e.chat.all("post"); len(posts) != 1 {
		t.Errorf("posts = %+v, want the card only", posts)
	}
}

// heldChat holds posts in one channel until released, and can fail them.
type heldChat struct {
	Chat
	channel string
	release chan struct{}
	fail    bool
}

func (h heldChat) Post(ctx context.Context, channel string, m Message) (string, error) {
	if channel == h.channel {
		select {
		case <-h.release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if h.fail {
			return "", errors.New("not_in_channel")
		}
	}
	return h.Chat.Post(ctx, channel, m)
}

// The announcement never holds up the requester's own thread, and one
// Slack refuses is logged.
func TestAnnouncementDoesNotDelayTheThread(t *testing.T) {
	for _, fail := range []bool{false, true} {
		e := newAuditedEnv(t)
		held := heldChat{Chat: e.chat, channel: auditChannel, release: make(chan struct{}), fail: fail}
		core, logs := observer.New(zap.InfoLevel)
		e.bot.chat, e.bot.log = held, zap.New(core)
		e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full corrupt")
		replies := e.chat.all("reply")
		if len(replies) != 2 || !strings.Contains(replies[1].Msg.Text, "Submitted") {
			t.Fatalf("thread = %+v while the announcement is held, want the break-glass and submitted replies", replies)
		}
		close(held.release)
		if !fail {
			e.announcements(t, 1)
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for logs.FilterMessage("audit channel: announcement not posted").Len() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("a refused announcement was not logged: %v", logs.All())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
