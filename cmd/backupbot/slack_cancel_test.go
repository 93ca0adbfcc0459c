package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault"
)

// slackCancelPolicy: anyone may back up demo; prod needs an approval from
// S0LEADS; staging is for S0ONCALL.
const slackCancelPolicy = `
accounts:
  demo:
    client: aws-demo-account
    requesters: ["*"]
  prod:
    client: aws-prod-account
    requesters: [U0ALICE]
    approvers: [S0LEADS]
    tablegroups: [orders, payments]
  staging:
    client: aws-staging-account
    requesters: [S0ONCALL]
`

const jobURL = "https://cs.example.com/commandcenter/#/jobs/{jobId}"

// link is how a job ID reads in the bot's messages with COMMVAULT_JOB_URL set.
func link(id string) string {
	return "<" + strings.ReplaceAll(jobURL, "{jobId}", id) + "|" + id + ">"
}

var (
	requestID  = regexp.MustCompile(`Request (r-[0-9a-f]+)\.`)
	linkedJob  = regexp.MustCompile(`job <https://cs\.example\.com/commandcenter/#/jobs/(\d+)\|(\d+)>`)
	historyRow = regexp.MustCompile(`(?m)^• <[^|]+\|(\d+)> · (\w+) · \S+ ([^·]+) · (\d{4}-\d\d-\d\d \d\d:\d\d) UTC`)
)

// lastEphemeral waits for user's n-th private answer and returns it.
func (b *slackBot) lastEphemeral(user string, n int) string {
	b.t.Helper()
	b.wait(user+"'s answer", func() bool { return len(b.ephemerals(user)) >= n })
	eph := b.ephemerals(user)
	return eph[n-1]
}

// threadHas waits for a reply in parent's thread that contains want.
func (b *slackBot) threadHas(parent, want string) string {
	b.t.Helper()
	var found string
	b.wait("a thread reply with "+want, func() bool {
		for _, m := range b.slack.Thread("C0OPS", parent) {
			if strings.Contains(m.Text, want) {
				found = m.Text
				return true
			}
		}
		return false
	})
	return found
}

// History in Slack: the jobs Commvault ran (the bot's and everyone
// else's), newest first, failures visible, job IDs linked; refused without
// a Commvault read for whoever may not see them.
func TestSlackHistoryEndToEnd(t *testing.T) {
	b := startSlackBot(t, slackCancelPolicy, map[string]string{"COMMVAULT_JOB_URL": jobURL})
	b.slack.SetUserGroup("S0LEADS", []string{"U0CAROL"})

	reads := b.sim.Reads()
	b.command("U0STRANGER", "C0OPS", "history staging orders")
	b.command("U0STRANGER", "C0OPS", "history staging nosuch")
	names := strings.NewReplacer("*orders*", "T", "*nosuch*", "T") // the two may be answered in either order
	refusal, other := names.Replace(b.lastEphemeral("U0STRANGER", 1)), names.Replace(b.lastEphemeral("U0STRANGER", 2))
	if refusal != other {
		t.Errorf("refusals differ: %q / %q", refusal, other)
	}
	if !strings.Contains(refusal, "You may not see the backups") {
		t.Errorf("refusal = %q", refusal)
	}
	if n := b.sim.Reads() - reads; n != 0 {
		t.Errorf("refused histories cost %d Commvault reads, want 0", n)
	}

	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full before the migration")
	b.wait("the submission", func() bool { return len(b.slack.Messages("C0OPS")) >= 2 })
	mine := linkedJob.FindStringSubmatch(b.slack.Messages("C0OPS")[1].Text)
	if mine == nil {
		t.Fatalf("thread reply %q has no linked job ID", b.slack.Messages("C0OPS")[1].Text)
	}
	b.command("U0ALICE", "C0OPS", "history demo orders 25")
	answer := b.lastEphemeral("U0ALICE", 1)
	rows := historyRow.FindAllStringSubmatch(answer, -1)
	if len(rows) < 15 || rows[0][1] != mine[1] {
		t.Fatalf("history = %d rows, first %v; want two weeks of jobs under the bot's %s:\n%s", len(rows), rows[0], mine[1], answer)
	}
	failed := 0
	for i, r := range rows {
		if i > 0 && r[4] > rows[i-1][4] {
			t.Errorf("row %d (%s) newer than row %d (%s)", i, r[4], i-1, rows[i-1][4])
		}
		if strings.HasPrefix(strings.TrimSpace(r[3]), "Failed") {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("no failed job in two weeks of history:\n%s", answer)
	}
	if !regexp.MustCompile(`\*Last good full:\* \d+ (min|h|days) ago, job <`).MatchString(answer) {
		t.Errorf("no linked last good full on top:\n%s", answer)
	}
	// An approver of prod may see prod's history; a requester from the wrong table group may not.
	b.command("U0CAROL", "C0OPS", "history prod orders 3")
	if got := b.lastEphemeral("U0CAROL", 1); !strings.Contains(got, "the last 3 of") || !strings.Contains(got, "…and ") {
		t.Errorf("approver's history = %q", got)
	}
	b.command("U0ALICE", "C0OPS", "history prod inventory")
	if got := b.lastEphemeral("U0ALICE", 2); !strings.Contains(got, "You may not see the backups") {
		t.Errorf("history outside the policy = %q", got)
	}
}

// Cancel in Slack: a running backup cancelled by its requester (killed,
// the thread told, its end reported Killed), by an approver by job ID,
// refused for anyone else (nothing killed), and a kill Commvault refuses
// because the job had ended, told as such; the audit trail has them all.
func TestSlackCancelEndToEnd(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "bot.db")
	b := startSlackBot(t, slackCancelPolicy, map[string]string{"COMMVAULT_JOB_URL": jobURL, "BACKUPBOT_DATABASE_URL": db})
	b.slack.SetUserGroup("S0LEADS", []string{"U0CAROL"})
	b.sim.SetJobDuration(5 * time.Minute)

	// The requester's own backup.
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full")
	b.wait("the submission", func() bool { return len(b.slack.Messages("C0OPS")) >= 2 })
	parent := b.slack.Messages("C0OPS")[0]
	id := requestID.FindStringSubmatch(parent.Text)[1]
	job := linkedJob.FindStringSubmatch(b.slack.Messages("C0OPS")[1].Text)[1]

	b.command("U0STRANGER", "C0OPS", "cancel "+id+" mine now")
	b.command("U0STRANGER", "C0OPS", "cancel "+job)
	b.lastEphemeral("U0STRANGER", 2)
	answers := strings.Join(b.ephemerals("U0STRANGER"), "\n") // answered in either order
	if !strings.Contains(answers, "You may not cancel "+id) || !strings.Contains(answers, "You may not cancel "+job) ||
		strings.Contains(answers, "U0ALICE") || strings.Contains(answers, "orders") {
		t.Errorf("stranger's cancels = %q", answers)
	}
	if n := b.sim.Kills(); n != 0 {
		t.Fatalf("kills after refusals = %d, want 0", n)
	}

	b.command("U0ALICE", "C0OPS", "cancel "+id+" eating the table's read capacity")
	b.threadHas(parent.TS, "🛑 Cancelled by <@U0ALICE> — job "+link(job)+" killed. Reason: eating the table's read capacity.")
	if got := b.lastEphemeral("U0ALICE", 1); !strings.Contains(got, "Job "+link(job)+" killed") {
		t.Errorf("requester's answer = %q", got)
	}
	b.threadHas(parent.TS, "❌ Job "+link(job)+" Killed")
	b.wait("the card showing the end", func() bool {
		p, _ := b.slack.Message("C0OPS", parent.TS)
		return strings.Contains(p.Text, "finished") && strings.Contains(p.Text, "Killed")
	})

	// An approver kills someone else's approved backup by its job ID.
	b.command("U0ALICE", "C0OPS", "dynamodb prod orders full")
	var card slacktest.Message
	b.wait("the approval card", func() bool {
		for _, m := range b.slack.Messages("C0OPS") {
			if m.ThreadTS == "" && strings.Contains(m.Text, "*prod*") {
				card = m
				return true
			}
		}
		return false
	})
	if _, err := b.slack.Click(t.Context(), slacktest.Click{UserID: "U0CAROL", ChannelID: "C0OPS", MessageTS: card.TS, ActionID: "backup_approve"}); err != nil {
		t.Fatal(err)
	}
	submitted := b.threadHas(card.TS, "Submitted to Commvault")
	prodJob := linkedJob.FindStringSubmatch(submitted)[1]
	b.command("U0CAROL", "C0OPS", "cancel "+prodJob+" not during the freeze")
	b.threadHas(card.TS, "🛑 Cancelled by <@U0CAROL> — job "+link(prodJob)+" killed")
	b.threadHas(card.TS, "Job "+link(prodJob)+" Killed")

	// A job the bot did not start, which has ended: Commvault refuses the kill.
	sc, err := b.cv.TableGroup(t.Context(), "aws-prod-account", "payments")
	if err != nil {
		t.Fatal(err)
	}
	b.sim.SetJobDuration(time.Second)
	task, err := b.cv.CreateBackup(t.Context(), sc, commvault.Full)
	if err != nil {
		t.Fatal(err)
	}
	ended := task.JobIDs[0]
	b.wait("the job outside the bot to end", func() bool {
		j, err := b.cv.Job(t.Context(), ended)
		return err == nil && j.Terminal()
	})
	kills := b.sim.Kills()
	b.command("U0CAROL", "C0OPS", "cancel "+ended)
	if got := b.lastEphemeral("U0CAROL", 2); !strings.Contains(got, "Commvault refused to kill job "+link(ended)) ||
		!strings.Contains(got, "Completed") || !strings.Contains(got, "Nothing was changed") {
		t.Errorf("answer to a refused kill = %q", got)
	}
	if n := b.sim.Kills(); n != kills {
		t.Errorf("a refused kill was counted: %d → %d", kills, n)
	}

	b.stopBot(t)
	var out, errs syncBuffer
	if code := run(t.Context(), []string{"audit", "--since", "1h"}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("audit: exit %d: %s", code, errs.String())
	}
	for _, want := range []string{
		`"actor":"U0ALICE","action":"cancel","rule":"requesters"`, `reason: eating the table's read capacity`,
		`"action":"kill"`, `job ` + job + `: killed`, `"actor":"U0CAROL","action":"cancel","rule":"approvers"`,
		`reason: not during the freeze`, `job ` + ended + `: refused`, `"actor":"U0STRANGER","action":"cancel-refused"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit lacks %s:\n%s", want, out.String())
		}
	}
}
