package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

func TestSlackBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("burst of 200 commands")
	}
	b := startSlackBot(t, "", nil)
	const n = burst
	ctx := t.Context()
	ids := make([]string, 0, n)
	for i := range n {
		id, err := b.slack.SlashCommand(ctx, slacktest.SlashCommand{UserID: fmt.Sprintf("U0USER%03d", i), ChannelID: "C0OPS",
			Text: fmt.Sprintf("dynamodb load tg%03d full burst %d", i, i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var slowest time.Duration
	for _, id := range ids {
		ack, err := b.slack.Ack(ctx, id)
		if err != nil {
			t.Fatalf("ack %s: %v", id, err)
		}
		slowest = max(slowest, ack.AckedAt.Sub(ack.SentAt))
	}
	if slowest > 3*time.Second {
		t.Errorf("slowest ack after %v, want within 3s", slowest)
	}
	replies := func() int {
		k := 0
		for _, m := range b.slack.Messages("C0OPS") {
			if m.ThreadTS != "" && taskReply.MatchString(m.Text) {
				k++
			}
		}
		return k
	}
	ctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := b.slack.WaitFor(ctx2, func() bool { return replies() == n }); err != nil {
		var answers []string
		for _, e := range b.slack.Ephemerals("") {
			answers = append(answers, e.User+": "+e.Text)
		}
		t.Fatalf("thread replies = %d, want %d; private answers: %q", replies(), n, answers)
	}
	if got := b.sim.CreateTaskCount(); got != n {
		t.Errorf("CreateTasks = %d, want %d", got, n)
	}
	t.Logf("slowest ack of %d: %v", n, slowest)
}

func TestSlackBadTokenStopsAtOnce(t *testing.T) {
	clearEnv(t)
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	for _, tt := range []struct{ name, app, bot string }{
		{"bot token", fake.AppToken(), "xoxb-wrong-secret"},
		{"app token", "xapp-wrong-secret", fake.BotToken()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SLACK_APP_TOKEN", tt.app)
			t.Setenv("SLACK_BOT_TOKEN", tt.bot)
			t.Setenv("SLACK_API_URL", fake.APIURL())
			t.Setenv("BACKUPBOT_POLICY", "../../deploy/policy.yaml")
			t.Setenv("BACKUPBOT_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "bot.db"))
			t.Setenv("BACKUPBOT_HTTP_ADDR", "127.0.0.1:0")
			var out, errs syncBuffer
			done := make(chan int, 1)
			go func() { done <- run(t.Context(), []string{"--simulate"}, strings.NewReader(""), &out, &errs) }()
			select {
			case code := <-done:
				if code == exitOK {
					t.Errorf("exit 0 with a bad %s", tt.name)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("still running with a bad %s; log:\n%s", tt.name, errs.String())
			}
			if !strings.Contains(errs.String(), "invalid_auth") {
				t.Errorf("log does not say invalid_auth:\n%s", errs.String())
			}
			if strings.Contains(errs.String(), "wrong-secret") {
				t.Errorf("log shows the token:\n%s", errs.String())
			}
		})
	}
}
