package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/auth"
)

func TestStatus(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	bodies := e.chat.all("reply")
	if len(bodies) != 1 {
		t.Fatalf("replies = %+v", bodies)
	}
	jobID := e.bot.followedJobs()[0]

	e.clock.Advance(simJob / 2)
	e.do("U0NOBODY", "C0OPS", "status "+jobID)
	contains(t, "running status", e.chat.all("ephemeral")[0].Msg.Text, "Job "+jobID, "Running", "% done", "orders", "aws-demo-account")

	e.clock.Advance(simJob)
	e.do("U0ALICE", "C0OPS", "status "+jobID)
	contains(t, "final status", e.chat.all("ephemeral")[1].Msg.Text, "Completed", "ended", "Size")

	e.do("U0ALICE", "C0OPS", "status 999999999")
	contains(t, "unknown job", e.chat.all("ephemeral")[2].Msg.Text, "no job 999999999")
}

// Another team's job and a job that does not exist get one answer: job IDs
// are easy to guess, and the answer must not tell which exist.
func TestStatusOfAnotherTeamsJob(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb staging orders full")
	jobID := e.bot.followedJobs()[0]
	e.do("U0NOBODY", "C0OPS", "status "+jobID)
	const missing = "999999999"
	e.do("U0NOBODY", "C0OPS", "status "+missing)
	eph := e.chat.all("ephemeral")
	theirs, none := eph[len(eph)-2].Msg.Text, eph[len(eph)-1].Msg.Text
	if strings.ReplaceAll(theirs, jobID, "N") != strings.ReplaceAll(none, missing, "N") {
		t.Errorf("another team's job: %q\na missing job: %q\nwant the same answer", theirs, none)
	}
	contains(t, "status", theirs, "no job "+jobID+" that you may see")
}

// strictPolicy has no account anyone may use: a stranger is nobody's
// requester or approver.
const strictPolicy = `groups:
  S0LEADS: [U0LEAD]
accounts:
  prod:
    client: aws-prod-account
    requesters: [U0ALICE]
    approvers: [S0LEADS]
`

// Whoever may neither request nor approve any account is refused before
// Commvault is asked, in the same words.
func TestStatusRefusedBeforeAnyRead(t *testing.T) {
	e := newEnvWith(t, []byte(strictPolicy), nil)
	e.do("U0ALICE", "C0OPS", "dynamodb prod orders full before the migration")
	card := e.chat.all("post")[0]
	e.click(card, "U0LEAD", ActionApprove)
	jobID := e.bot.followedJobs()[0]

	reads := e.sim.Reads()
	e.do("U0STRANGER", "C0OPS", "status "+jobID)
	e.do("U0STRANGER", "C0OPS", "status 1")
	if n := e.sim.Reads() - reads; n != 0 {
		t.Errorf("Commvault reads for a stranger's status = %d, want 0", n)
	}
	eph := e.chat.all("ephemeral")
	contains(t, "refusal", eph[len(eph)-2].Msg.Text, "no job "+jobID+" that you may see")
	if strings.ReplaceAll(eph[len(eph)-2].Msg.Text, jobID, "1") != eph[len(eph)-1].Msg.Text {
		t.Errorf("refusals differ: %q, %q", eph[len(eph)-2].Msg.Text, eph[len(eph)-1].Msg.Text)
	}
	if !hasEvent(e.auditOf(t, ""), "denied", auth.RuleView) {
		t.Error("the refusal is not in the audit trail")
	}

	// An approver of prod, who may not request it, sees its job.
	e.do("U0LEAD", "C0OPS", "status "+jobID)
	eph = e.chat.all("ephemeral")
	contains(t, "approver's status", eph[len(eph)-1].Msg.Text, "Job "+jobID, "orders", "aws-prod-account")
}

// Each person may ask readsPerMinute statuses and histories a minute; the
// next is answered with when to ask again, and costs no read.
func TestStatusRateLimitedPerUser(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	jobID := e.bot.followedJobs()[0]
	for i := range readsPerMinute - 1 {
		e.do("U0ALICE", "C0OPS", "status "+jobID)
		e.clock.Advance(time.Second)
		if i == 0 {
			e.do("U0ALICE", "C0OPS", "history demo orders")
		}
	}
	reads := e.sim.Reads()
	e.do("U0ALICE", "C0OPS", "status "+jobID)
	e.do("U0ALICE", "C0OPS", "history demo orders")
	if n := e.sim.Reads() - reads; n != 0 {
		t.Errorf("Commvault reads past the limit = %d, want 0", n)
	}
	eph := e.chat.all("ephemeral")
	for _, m := range eph[len(eph)-2:] {
		contains(t, "limited", m.Msg.Text, "10 job states or histories in the last minute", "Ask again in 51s")
	}
	e.do("U0BOB", "C0OPS", "status "+jobID) // someone else is not limited
	contains(t, "another user", e.chat.all("ephemeral")[len(e.chat.all("ephemeral"))-1].Msg.Text, "Job "+jobID)
	e.clock.Advance(time.Minute)
	e.do("U0ALICE", "C0OPS", "status "+jobID)
	contains(t, "a minute later", e.chat.all("ephemeral")[len(e.chat.all("ephemeral"))-1].Msg.Text, "Job "+jobID)
}
