package bot

import (
	"testing"
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

func TestStatusOfAnotherTeamsJob(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb staging orders full")
	jobID := e.bot.followedJobs()[0]
	e.do("U0NOBODY", "C0OPS", "status "+jobID)
	eph := e.chat.all("ephemeral")
	contains(t, "status", eph[len(eph)-1].Msg.Text, "not in an account you may use")
}
