package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/store"
)

// The fault tests skew one replica's clock with --clock-offset: what the
// bot records is dated by that clock.
func TestClockOffset(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"--clock-offset", "soon"}, strings.NewReader(""), &syncBuffer{}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "clock-offset") {
		t.Errorf("--clock-offset soon: exit %d, %q; want %d and the flag named", code, stderr.String(), exitUsage)
	}

	b := startSlackBot(t, "", nil)
	b.stopBot(t)
	b.wait("the first run's connections to close", func() bool { return b.slack.Connections() == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	b.done, b.stop = make(chan int, 1), cancel
	go func() {
		b.done <- run(ctx, []string{"--clock-offset", "1h"}, strings.NewReader(""), &syncBuffer{}, b.stderr)
	}()
	b.wait("two socket-mode connections", func() bool { return b.slack.Connections() >= 2 })
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full clock test")
	b.wait("the thread reply with the task", func() bool {
		ms := b.slack.Messages("C0OPS")
		return len(ms) >= 2 && taskReply.MatchString(ms[1].Text)
	})
	b.stopBot(t)

	st, err := store.Open(t.Context(), os.Getenv("BACKUPBOT_DATABASE_URL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.AuditSince(t.Context(), time.Now().Add(50*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no audit event dated an hour ahead: the offset did not reach the bot's clock")
	}
	for _, e := range events {
		if ahead := time.Until(e.At); ahead < 50*time.Minute || ahead > 70*time.Minute {
			t.Errorf("%s at %v: %v ahead, want about an hour", e.Action, e.At, ahead)
		}
	}
}
