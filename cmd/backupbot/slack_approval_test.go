package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/bot/store"
)

// slackApprovalPolicy gates prod behind an approval.
const slackApprovalPolicy = `
accounts:
  prod:
    client: aws-prod-account
    requesters: [U0ALICE]
    approvers: [S0LEADS]
`

func TestSlackApprovalEndToEnd(t *testing.T) {
	b := startSlackBot(t, slackApprovalPolicy, nil)
	b.slack.SetUserGroup("S0LEADS", []string{"U0CAROL"})
	b.command("U0ALICE", "C0OPS", "dynamodb prod orders full before the migration")
	b.wait("the approval card", func() bool { return len(b.slack.Messages("C0OPS")) == 1 })
	card := b.slack.Messages("C0OPS")[0]
	if !strings.Contains(string(card.Blocks), `"action_id":"backup_approve"`) || !strings.Contains(string(card.Blocks), `"style":"danger"`) {
		t.Fatalf("card blocks = %s", card.Blocks)
	}
	if n := b.sim.CreateTaskCount(); n != 0 {
		t.Fatalf("CreateTasks = %d before approval", n)
	}

	// The requester's own click is refused; the approver's works.
	ctx := t.Context()
	for _, user := range []string{"U0ALICE", "U0CAROL"} {
		id, err := b.slack.Click(ctx, slacktest.Click{UserID: user, ChannelID: "C0OPS", MessageTS: card.TS, ActionID: "backup_approve"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.slack.Ack(ctx, id); err != nil {
			t.Fatal(err)
		}
		if user == "U0ALICE" {
			b.wait("the refusal", func() bool { return len(b.ephemerals("U0ALICE")) == 1 })
		}
	}
	b.wait("the submission", func() bool { return len(b.slack.Thread("C0OPS", card.TS)) >= 2 })
	if n := b.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
	if !strings.Contains(b.ephemerals("U0ALICE")[0], "own request") {
		t.Errorf("self-approval answer = %q", b.ephemerals("U0ALICE")[0])
	}
	thread := b.slack.Thread("C0OPS", card.TS)
	if !strings.Contains(thread[0].Text, "Approved by <@U0CAROL>") || taskReply.FindString(thread[1].Text) == "" {
		t.Errorf("thread = %q, %q", thread[0].Text, thread[1].Text)
	}
	b.wait("the card showing the submission", func() bool {
		updated, _ := b.slack.Message("C0OPS", card.TS)
		return strings.Contains(updated.Text, "running")
	})
	updated, _ := b.slack.Message("C0OPS", card.TS)
	if strings.Contains(string(updated.Blocks), "backup_approve") || !strings.Contains(updated.Text, "Approved by <@U0CAROL>") {
		t.Errorf("card after approval: %q %s", updated.Text, updated.Blocks)
	}
}

// A retried envelope that arrives after a restart is still taken once.
func TestSlackRetryAfterRestartSubmitsOnce(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "bot.db")
	b := startSlackBot(t, "", map[string]string{"BACKUPBOT_DATABASE_URL": db})
	id := b.command("U0ALICE", "C0OPS", "dynamodb demo orders full")
	b.wait("the submission", func() bool { return b.sim.CreateTaskCount() == 1 })
	b.wait("the thread reply", func() bool { return len(b.slack.Messages("C0OPS")) == 2 })
	b.restartBot(t)
	rid, err := b.slack.Resend(t.Context(), id, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.slack.Ack(t.Context(), rid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the retry, had it been taken, would have been answered by now
	if n := b.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d after a retry across a restart, want 1", n)
	}
	// Not even refused as a second request: the retry never reached the core
	// (the job's end may have been posted meanwhile: it ends in seconds).
	cards, ids := 0, 0
	for _, m := range b.slack.Messages("C0OPS") {
		switch {
		case m.ThreadTS == "":
			cards++
		case strings.Contains(m.Text, "Submitted to Commvault"):
			ids++
		}
	}
	if eph := b.ephemerals("U0ALICE"); cards != 1 || ids != 1 || len(eph) != 0 {
		t.Errorf("after the retry: %d cards, %d IDs replies, ephemerals %q; want 1, 1 and none", cards, ids, eph)
	}
}

func TestAuditCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "bot.db")
	b := startSlackBot(t, slackApprovalPolicy+`
  staging:
    client: aws-staging-account
    requesters: [U0ALICE]
    approvers: [S0LEADS]
    approval_timeout: 1s
`, map[string]string{"BACKUPBOT_DATABASE_URL": db})
	b.slack.SetUserGroup("S0LEADS", []string{"U0CAROL"})
	b.command("U0MALLORY", "C0OPS", "dynamodb prod orders full")
	b.command("U0ALICE", "C0OPS", "dynamodb prod orders full")
	b.wait("the card", func() bool { return len(b.slack.Messages("C0OPS")) == 1 })
	card := b.slack.Messages("C0OPS")[0]
	if _, err := b.slack.Click(t.Context(), slacktest.Click{UserID: "U0CAROL", ChannelID: "C0OPS", MessageTS: card.TS, ActionID: "backup_approve"}); err != nil {
		t.Fatal(err)
	}
	b.wait("the job's end", func() bool {
		p, _ := b.slack.Message("C0OPS", card.TS)
		return strings.Contains(p.Text, "finished")
	})
	b.command("U0ALICE", "C0OPS", "dynamodb staging sessions full nobody will approve this")
	b.wait("the expiry", func() bool {
		ms := b.slack.Messages("C0OPS")
		return len(ms) > 0 && strings.Contains(ms[len(ms)-1].Text, "expired")
	})
	b.stopBot(t)

	for _, format := range []string{"jsonl", "csv"} {
		var out, errs syncBuffer
		if code := run(t.Context(), []string{"audit", "--since", "1h", "--format", format}, strings.NewReader(""), &out, &errs); code != 0 {
			t.Fatalf("audit --format %s: exit %d: %s", format, code, errs.String())
		}
		for _, want := range []string{"denied", "request", "approved", "submitted", "job-ended", "finished", "expired", "U0MALLORY", "U0CAROL"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("audit --format %s lacks %q:\n%s", format, want, out.String())
			}
		}
	}
}

// End to end, over the fake Slack: a click counts only on the request's
// own card, from the workspace auth.test named and the app the socket-mode
// hello named; any other is answered privately and changes nothing.
func TestSlackClicksBoundToTheirCard(t *testing.T) {
	b := startSlackBot(t, slackApprovalPolicy, nil)
	b.slack.SetUserGroup("S0LEADS", []string{"U0CAROL"})
	b.command("U0ALICE", "C0OPS", "dynamodb prod orders full before the migration")
	b.wait("the approval card", func() bool { return len(b.slack.Messages("C0OPS")) == 1 })
	card := b.slack.Messages("C0OPS")[0]
	id := regexp.MustCompile(`r-[0-9a-f]+`).FindString(card.Text)
	ctx := t.Context()
	clicks := []slacktest.Click{
		{ChannelID: "C0OPS", MessageTS: "1700000000.000001", Value: id},     // the card's value on another message
		{ChannelID: "C0OTHER", MessageTS: card.TS, Value: id},               // in another channel
		{ChannelID: "C0OPS", MessageTS: card.TS, TeamID: "T0ELSEWHERE"},     // from another workspace
		{ChannelID: "C0OPS", MessageTS: card.TS, AppID: "A0ANOTHERAPP"},     // for another app
		{ChannelID: "C0OPS", MessageTS: card.TS, EnterpriseID: "E0SOMEORG"}, // from an organisation the bot is not in
	}
	for i, c := range clicks {
		c.UserID, c.ActionID = "U0CAROL", "backup_approve"
		envID, err := b.slack.Click(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.slack.Ack(ctx, envID); err != nil {
			t.Fatal(err)
		}
		b.wait("the refusal", func() bool { return len(b.ephemerals("U0CAROL")) == i+1 })
	}
	if n := b.sim.CreateTaskCount(); n != 0 {
		t.Fatalf("CreateTasks = %d after clicks that were not on the card", n)
	}
	got := b.ephemerals("U0CAROL")
	for i, want := range []string{"not on the card of request " + id, "not on the card of request " + id,
		"did not come from the Slack workspace and app", "did not come from the Slack workspace and app",
		"did not come from the Slack workspace and app"} {
		if !strings.Contains(got[i], want) {
			t.Errorf("answer to click %d = %q, want %q", i, got[i], want)
		}
	}
	if updated, _ := b.slack.Message("C0OPS", card.TS); !strings.Contains(string(updated.Blocks), "backup_approve") {
		t.Errorf("the card changed: %s", updated.Blocks)
	}
	// The card's own button, from here, works.
	envID, err := b.slack.Click(ctx, slacktest.Click{UserID: "U0CAROL", ChannelID: "C0OPS", MessageTS: card.TS, ActionID: "backup_approve"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.slack.Ack(ctx, envID); err != nil {
		t.Fatal(err)
	}
	b.wait("the submission", func() bool { return b.sim.CreateTaskCount() == 1 })
	st, err := store.Open(ctx, os.Getenv("BACKUPBOT_DATABASE_URL"), nil) // the bot's own database, read beside it
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.AuditSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]int{}
	for _, ev := range events {
		if ev.Action == "click-refused" && ev.Actor == "U0CAROL" {
			refused[ev.Rule]++
		}
	}
	if refused["card"] != 2 || refused["workspace"] != 3 {
		t.Errorf("refused clicks in the audit trail = %v, want card 2, workspace 3", refused)
	}
}
