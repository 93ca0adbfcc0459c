package bot

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/bot/store"
)

// receiptHandler takes every command and does nothing with it, so that a
// benchmark measures the transport: reading, recording and acking.
type receiptHandler struct{}

func (receiptHandler) Receipt(in Input) *Message {
	m := receiptAnswer(command{Account: "load", TableGroup: "tg0001"})
	return &m
}
func (receiptHandler) Handle(context.Context, Input) {}
func (receiptHandler) Click(context.Context, Click)  {}

// BenchmarkSlackAck is the ack path: bursts of 100 slash commands from the
// fake Slack, each recognised, recorded in a SQLite store (Take) and acked
// with the receipt. The time per op is per envelope, from the first sent to
// the last ack of its burst; the fake Slack runs in the same process.
//
//	go test ./bot -run '^$' -bench SlackAck -cpuprofile cpu.out
func BenchmarkSlackAck(b *testing.B) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fake.Close)
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "backupbot.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()))
	tr, err := NewSlack(SlackConfig{API: api, AppToken: fake.AppToken(), APIURL: fake.APIURL(), Handler: receiptHandler{},
		Log: zap.NewNop(), Inbox: st, Stagger: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, 5*time.Second) }()
	b.Cleanup(func() { cancel(); <-done })
	if err := fake.WaitConnections(ctx, 2); err != nil {
		b.Fatal(err)
	}
	const burst = 100
	sent := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		for j := range burst {
			cmd := slacktest.SlashCommand{UserID: fmt.Sprintf("U0B%06d", sent+j), ChannelID: "C0LOAD",
				Text: "dynamodb load tg0001 full benchmark"}
			if _, err := fake.SlashCommand(ctx, cmd); err != nil {
				b.Fatal(err)
			}
		}
		sent += burst
		if err := fake.WaitFor(ctx, func() bool { return fake.AckCount() >= sent }); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}
