package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// A command typed where the bot cannot post (a channel it was never
// invited to, a DM, an archived channel) gets a private answer that says
// how to fix it, and nothing is recorded as submitted or failed.
func TestSlackCommandsWhereTheBotCannotPost(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		ch      slacktest.Channel
		want    []string
	}{
		{"public channel the bot is not in", "C0ELSEWHERE", slacktest.Channel{}, []string{"not a member of this channel", "/invite @backupbot"}},
		{"private channel", "C0PRIVATE", slacktest.Channel{Type: slacktest.PrivateChannel}, []string{"/invite @backupbot"}},
		{"direct message", "D0ALICE", slacktest.Channel{Type: slacktest.DirectMessage}, []string{"direct messages", "a channel I'm a member of"}},
		{"archived channel", "C0OLD", slacktest.Channel{Member: true, Archived: true}, []string{"archived"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startSlackBot(t, "", nil)
			b.slack.SetChannel(tt.channel, tt.ch)
			b.command("U0ALICE", tt.channel, "dynamodb demo orders full")
			answer := b.lastEphemeral("U0ALICE", 1)
			for _, w := range append(tt.want, "Nothing was submitted") {
				if !strings.Contains(answer, w) {
					t.Errorf("answer %q lacks %q", answer, w)
				}
			}
			if strings.Contains(answer, "went wrong") {
				t.Errorf("answer %q is an internal error", answer)
			}
			if n := b.sim.CreateTaskCount(); n != 0 {
				t.Errorf("CreateTasks = %d", n)
			}
			st, err := store.Open(t.Context(), os.Getenv("BACKUPBOT_DATABASE_URL"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			bad, _ := st.ByState(t.Context(), store.Failed, store.Submitted, store.Submitting, store.Unknown)
			if len(bad) != 0 {
				t.Errorf("requests %+v recorded as failed or submitted", bad)
			}
		})
	}
}

// The requester sees something within a second, however slow Commvault is
// to list the table groups.
func TestSlackReceiptBeforeCommvaultAnswers(t *testing.T) {
	b := startSlackBot(t, "", nil)
	b.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHang, Hang: 3 * time.Second})
	start := time.Now()
	b.command("U0ALICE", "C0OPS", "dynamodb demo payments full")
	if r := b.receipts("U0ALICE"); len(r) != 1 || time.Since(start) > time.Second {
		t.Fatalf("receipts %q after %v, want one within a second", r, time.Since(start))
	}
	b.wait("the card", func() bool { return len(b.slack.Messages("C0OPS")) >= 1 })
}
